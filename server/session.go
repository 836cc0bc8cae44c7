package server

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"
)

// Sessions spare a client the authentication work on every request, like
// mod_auth_gssapi's GssapiUseSessions: after a successful login on a site
// with sessions on, the identity is sealed (AES-256-GCM) into an expiring
// cookie scoped to the site's path; a request carrying a valid cookie is
// authenticated without touching Kerberos, NTLM or the account store.
//
// Keys live in the state directory, in session.keys: one base64 key per
// line, the first seals, every line opens. To rotate, put a new key on the
// first line and restart; drop the old line once sessionLifetime has passed
// (cookies sealed with it have expired by then).

// DefaultSessionLifetime is how long a session cookie is good for.
const DefaultSessionLifetime = 8 * time.Hour

// SessionCookie is the cookie's name.
const SessionCookie = "gatehouse_session"

// maxSessionCookie bounds the cookie accepted (an identity with a few
// hundred groups fits).
const maxSessionCookie = 8 << 10

type sessionSealer struct {
	aeads    []cipher.AEAD // first seals
	lifetime time.Duration
}

// LoadSessionKeys reads (creating with one fresh key if missing) the key
// file.
func LoadSessionKeys(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		k := make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			return nil, fmt.Errorf("server: session key: %w", err)
		}
		line := base64.StdEncoding.EncodeToString(k) + "\n"
		if err := os.WriteFile(path, []byte(line), 0o600); err != nil {
			return nil, fmt.Errorf("server: session key: %w", err)
		}
		return [][]byte{k}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("server: session keys: %w", err)
	}
	var keys [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := base64.StdEncoding.DecodeString(line)
		if err != nil || len(k) != 32 {
			return nil, fmt.Errorf("server: %s line %d: want a base64 32-byte key", path, n)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("server: %s holds no key", path)
	}
	return keys, nil
}

func newSessionSealer(keys [][]byte, lifetime time.Duration) (*sessionSealer, error) {
	if lifetime <= 0 {
		lifetime = DefaultSessionLifetime
	}
	s := &sessionSealer{lifetime: lifetime}
	for _, k := range keys {
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("server: session key: %w", err)
		}
		a, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("server: session key: %w", err)
		}
		s.aeads = append(s.aeads, a)
	}
	if len(s.aeads) == 0 {
		return nil, errors.New("server: no session key")
	}
	return s, nil
}

// seal returns the cookie value for id on site.
func (s *sessionSealer) seal(id *Identity, site string, now time.Time) (string, error) {
	pt, err := marshalSession(id, site, now.Add(s.lifetime).Unix())
	if err != nil {
		return "", err
	}
	a := s.aeads[0]
	nonce := make([]byte, a.NonceSize(), a.NonceSize()+len(pt)+a.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(a.Seal(nonce, nonce, pt, []byte(site))), nil
}

// open returns the identity in a cookie value, or nil if it is not a valid,
// unexpired session for site.
func (s *sessionSealer) open(v, site string, now time.Time) *Identity {
	if len(v) > maxSessionCookie {
		return nil
	}
	// Only the canonical spelling of the bytes (Strict: no stray trailing
	// bits; the length check: no line breaks, which the decoder skips).
	ct, err := base64.RawURLEncoding.Strict().DecodeString(v)
	if err != nil || len(v) != base64.RawURLEncoding.EncodedLen(len(ct)) {
		return nil
	}
	for _, a := range s.aeads {
		if len(ct) < a.NonceSize()+a.Overhead() {
			return nil
		}
		pt, err := a.Open(nil, ct[:a.NonceSize()], ct[a.NonceSize():], []byte(site))
		if err != nil {
			continue
		}
		id, sealedSite, expires, err := unmarshalSession(pt)
		if err != nil || sealedSite != site || now.Unix() > expires {
			return nil
		}
		id.Session = true
		return id
	}
	return nil
}

// setCookie adds the session cookie to a successful response.
func (s *sessionSealer) setCookie(w http.ResponseWriter, r *http.Request, id *Identity, site string) error {
	v, err := s.seal(id, site, time.Now())
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: v, Path: site, MaxAge: int(s.lifetime.Seconds()),
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode,
	})
	return nil
}

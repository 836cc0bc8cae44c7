package server

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/gatehouse-auth/gatehouse/accounts"

	"github.com/gatehouse-auth/gatehouse/internal/seal"
)

// Sessions spare a client the authentication work on every request, like
// mod_auth_gssapi's GssapiUseSessions: after a successful login on a site
// with sessions on, the identity is sealed (AES-256-GCM) into an expiring
// cookie scoped to the site's path; a request carrying a valid cookie is
// authenticated without touching Kerberos, NTLM or the account store.
//
// Keys live in the state directory, in session.keys: one base64 key per
// line, the first seals, every line opens. To rotate, put a new key on the
// first line and reload (the daemon's SIGHUP) or restart; drop the old line
// once sessionLifetime has passed (cookies sealed with it have expired by
// then).

// DefaultSessionLifetime is how long a session cookie is good for.
const DefaultSessionLifetime = 8 * time.Hour

// SessionCookie is the cookie's name.
const SessionCookie = "gatehouse_session"

// maxSessionCookie bounds the cookie accepted (an identity with a few
// hundred groups fits).
const maxSessionCookie = 8 << 10

type sessionSealer struct {
	keys     *seal.Sealer // first seals
	lifetime time.Duration
}

// LoadSessionKeys reads (creating with one fresh key if missing) the key
// file: the format of package seal.
func LoadSessionKeys(path string) ([][]byte, error) { return seal.LoadKeys(path) }

func newSessionSealer(keys [][]byte, lifetime time.Duration) (*sessionSealer, error) {
	if lifetime <= 0 {
		lifetime = DefaultSessionLifetime
	}
	k, err := seal.New(keys)
	if err != nil {
		return nil, fmt.Errorf("server: session keys: %w", err)
	}
	return &sessionSealer{keys: k, lifetime: lifetime}, nil
}

// seal returns the cookie value for a new session of id on site.
func (s *sessionSealer) seal(id *Identity, site string, now time.Time) (string, error) {
	return s.sealTimes(id, site, sessionTimes{expires: now.Add(s.lifetime).Unix(), checked: now.Unix()})
}

func (s *sessionSealer) sealTimes(id *Identity, site string, t sessionTimes) (string, error) {
	pt, err := marshalSession(id, site, t)
	if err != nil {
		return "", err
	}
	ct, err := s.keys.Seal(pt, []byte(site))
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(ct), nil
}

// open returns the identity in a cookie value, or nil if it is not a valid,
// unexpired session for site.
func (s *sessionSealer) open(v, site string, now time.Time) *Identity {
	id, _ := s.openTimes(v, site, now)
	return id
}

func (s *sessionSealer) openTimes(v, site string, now time.Time) (*Identity, sessionTimes) {
	if len(v) > maxSessionCookie {
		return nil, sessionTimes{}
	}
	// Only the canonical spelling of the bytes (Strict: no stray trailing
	// bits; the length check: no line breaks, which the decoder skips).
	ct, err := base64.RawURLEncoding.Strict().DecodeString(v)
	if err != nil || len(v) != base64.RawURLEncoding.EncodedLen(len(ct)) {
		return nil, sessionTimes{}
	}
	pt, err := s.keys.Open(ct, []byte(site))
	if err != nil {
		return nil, sessionTimes{}
	}
	id, sealedSite, t, err := unmarshalSession(pt)
	if err != nil || sealedSite != site || now.Unix() > t.expires {
		return nil, sessionTimes{}
	}
	id.Session = true
	return id, t
}

// setCookie adds the session cookie to a response whose request was
// authorized (never to a 401 or 403).
func (s *sessionSealer) setCookie(w http.ResponseWriter, r *http.Request, id *Identity, site string, t sessionTimes) error {
	v, err := s.sealTimes(id, site, t)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: v, Path: site, MaxAge: int(max(1, t.expires-time.Now().Unix())),
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode,
	})
	return nil
}

// clearCookie ends the session in the browser.
func clearCookie(w http.ResponseWriter, r *http.Request, site string) {
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: "", Path: site, MaxAge: -1,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode,
	})
}

// Session revalidation. A session cookie vouches for an identity until it
// expires (session_lifetime, 8h by default), but the account behind it can
// be deleted, disabled or lose a group meanwhile. So the sealed record
// carries when the account was last checked, and a session older than
// session_revalidate is looked up again before it is believed: the
// account's AccountSource answers with the current groups (authorization
// then runs with them) or ErrAccountGone (the session ends: 401 with the
// site's challenges, cookie cleared). A refresh re-seals the cookie with the
// new check time and the same expiry.
//
// Identities carry the name of their source (Identity.account): "local" for
// the account store. Sessions of identities with no source (Kerberos
// without a directory, NTLM passed through to a DC) cannot be looked up and
// last their lifetime.

// DefaultSessionRevalidate is how often a session's account is checked.
const DefaultSessionRevalidate = 5 * time.Minute

// ErrAccountGone is what an AccountSource returns (wrapped or not) for an
// account that was deleted or disabled.
var ErrAccountGone = errors.New("account deleted or disabled")

// AccountSource looks an account up again for session revalidation: the
// local account store, or a directory.
type AccountSource interface {
	// Revalidate returns the current groups of the account name (as in
	// Identity.Name), ErrAccountGone if it no longer exists or is
	// disabled, or another error when it cannot tell (the request then
	// fails closed with 503).
	Revalidate(ctx context.Context, name string) (groups []string, err error)
}

// storeSource is the account store (or any Accounts) as an AccountSource.
type storeSource struct{ store Accounts }

func (s storeSource) Revalidate(_ context.Context, name string) ([]string, error) {
	cr, err := s.store.Lookup(name)
	if errors.Is(err, accounts.ErrNotFound) {
		return nil, fmt.Errorf("%w: %v", ErrAccountGone, err)
	}
	if err != nil {
		return nil, err
	}
	return cr.Groups, nil
}

// sessionNote is what to do with the session cookie once authorization
// has decided: set it (after a login) or refresh it (after revalidation)
// only on an authorized request.
type sessionNote struct {
	seal        bool
	times       sessionTimes // zero: a new session
	revalidated bool         // the account was looked up in this request
	changed     bool         // and its groups differ from the sealed ones
}

// resumeSession opens the request's session cookie for st. It returns
// nil, false when there is none (authentication goes on as usual), and
// nil, true when it has answered the request itself (the account is gone,
// or could not be checked).
func (g *Gate) resumeSession(w http.ResponseWriter, r *http.Request, st *site) (*Identity, sessionNote, bool) {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return nil, sessionNote{}, false
	}
	now := time.Now()
	id, t := g.sessions.openTimes(c.Value, st.path, now)
	if id == nil {
		return nil, sessionNote{}, false
	}
	src := g.accountSources[id.account]
	if src == nil || now.Before(time.Unix(t.checked, 0).Add(g.revalidate)) {
		g.metrics.attempt("session", "success")
		return id, sessionNote{}, false
	}
	groups, err := src.Revalidate(r.Context(), id.Name)
	switch {
	case errors.Is(err, ErrAccountGone):
		g.metrics.attempt("session", "failure")
		g.log.Info("session ended", "user", id.User, "reason", err.Error(), "path", r.URL.Path, "remote", r.RemoteAddr)
		clearCookie(w, r, st.path)
		g.unauthorized(w, r, st, false)
		return nil, sessionNote{}, true
	case err != nil:
		g.metrics.attempt("session", "error")
		g.log.Error("session revalidation", "user", id.User, "error", err.Error(), "path", r.URL.Path)
		w.Header().Set("Retry-After", "5")
		http.Error(w, "503 Service Unavailable: the account cannot be checked", http.StatusServiceUnavailable)
		return nil, sessionNote{}, true
	}
	g.metrics.attempt("session", "success")
	note := sessionNote{seal: true, times: sessionTimes{expires: t.expires, checked: now.Unix()}, revalidated: true,
		changed: !slices.Equal(groups, id.Groups)}
	id.Groups = groups
	return id, note, false
}

// sessionDenied is called when authorization refuses id. A session whose
// groups were just re-read and no longer pass ends: 401 with challenges
// and the cookie cleared, so the client logs in afresh. It reports whether
// it answered.
func (g *Gate) sessionDenied(w http.ResponseWriter, r *http.Request, st *site, id *Identity, note sessionNote) bool {
	if !note.revalidated || !note.changed {
		return false
	}
	g.log.Info("session ended", "user", id.User, "reason", "groups changed and the rules now refuse", "path", r.URL.Path, "remote", r.RemoteAddr)
	clearCookie(w, r, st.path)
	g.unauthorized(w, r, st, false)
	return true
}

// sessionAllowed sets or refreshes the cookie of an authorized request.
func (g *Gate) sessionAllowed(w http.ResponseWriter, r *http.Request, st *site, id *Identity, note sessionNote) {
	if !note.seal || !st.sessions || g.sessions == nil {
		return
	}
	t := note.times
	if t.expires == 0 {
		now := time.Now()
		t = sessionTimes{expires: now.Add(g.sessions.lifetime).Unix(), checked: now.Unix()}
	}
	if err := g.sessions.setCookie(w, r, id, st.path, t); err != nil {
		g.log.Error("session cookie", "error", err)
	}
}

// Package identitytoken signs the identity Gatehouse vouches for as a JWT
// (RFC 7519, ES256 per RFC 7518 §3.4) that an application behind a front
// end can verify, instead of trusting an X-Remote-User header anyone on
// the network could set. It also renders the public keys as a JWKS
// (RFC 7517 §5) whose kids (RFC 7638 thumbprints) let a key be rotated:
// the first key signs, every key in the set is published, so tokens signed
// with a retired key verify until they expire.
//
// It is for minting short-lived assertions and publishing their keys. It
// is not a JWT verifier for Gatehouse itself (applications verify with
// their own JOSE library), and it knows nothing of HTTP.
//
// The JOSE work is go-jose's; this package only chooses the algorithm,
// the claims and the key file format.
package identitytoken

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// DefaultLifetime is how long a token is good for when none is configured:
// a front end asks again on every request, so a token only has to outlive
// one request's trip through the application.
const DefaultLifetime = 5 * time.Minute

// MaxLifetime bounds the configured lifetime: an assertion is a bearer
// credential, and a retired key stays published for one lifetime.
const MaxLifetime = 24 * time.Hour

// ErrKey is wrapped by every error about keys and key files.
var ErrKey = errors.New("identitytoken: bad key")

// Identity is who the token names.
type Identity struct {
	User   string   // sub: full name ("alice@EXAMPLE.TEST", "alice")
	Name   string   // account name without domain
	Domain string   // realm or NetBIOS domain
	Groups []string // group names
	SIDs   []string // SIDs (PAC or directory)
	Scheme string   // Negotiate | NTLM | Digest | Basic | Certificate
}

// claims is the token's payload. Lists are never null, so a verifier can
// index them without checking.
type claims struct {
	jwt.Claims
	Name   string   `json:"name"`
	Domain string   `json:"domain"`
	Groups []string `json:"groups"`
	SIDs   []string `json:"sids"`
	Scheme string   `json:"scheme"`
}

// Signer mints tokens with the first of its keys and publishes them all.
// It is safe for concurrent use.
type Signer struct {
	issuer   string
	lifetime time.Duration
	signer   jose.Signer
	kids     []string
	jwks     []byte
	now      func() time.Time

	mu     sync.Mutex
	recent map[[32]byte]cached // SignCached's tokens
}

type cached struct {
	token string
	iat   time.Time
}

// Reuse bounds of SignCached: a token is handed out again for a quarter
// of its lifetime (so it still has three quarters left), and at most
// maxCached tokens are kept (then the cache starts over): ES256 signing
// costs tens of microseconds, more than the rest of a forward-auth answer.
const (
	reuseFraction = 4
	maxCached     = 10000
)

// New returns a Signer for keys (P-256; the first signs, all are
// published), naming issuer in iss; lifetime 0 means DefaultLifetime.
func New(keys []*ecdsa.PrivateKey, issuer string, lifetime time.Duration) (*Signer, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no key", ErrKey)
	}
	if lifetime == 0 {
		lifetime = DefaultLifetime
	}
	if lifetime < 0 || lifetime > MaxLifetime {
		return nil, fmt.Errorf("identitytoken: lifetime %v is outside 0..%v", lifetime, MaxLifetime)
	}
	s := &Signer{issuer: issuer, lifetime: lifetime, now: time.Now}
	var set jose.JSONWebKeySet
	seen := map[string]bool{}
	for i, k := range keys {
		if k == nil || k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("%w: key %d is not an EC P-256 key (ES256)", ErrKey, i+1)
		}
		kid, err := KeyID(&k.PublicKey)
		if err != nil {
			return nil, err
		}
		if seen[kid] {
			continue
		}
		seen[kid] = true
		s.kids = append(s.kids, kid)
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.PublicKey, KeyID: kid, Algorithm: string(jose.ES256), Use: "sig"})
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: keys[0], KeyID: s.kids[0]}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("identitytoken: %w", err)
	}
	s.signer = sig
	if s.jwks, err = json.Marshal(set); err != nil {
		return nil, fmt.Errorf("identitytoken: %w", err)
	}
	return s, nil
}

// KeyID is the kid of a public key: its RFC 7638 JWK thumbprint (SHA-256,
// base64url), the same for the same key on every instance and restart.
func KeyID(pub *ecdsa.PublicKey) (string, error) {
	k := jose.JSONWebKey{Key: pub}
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrKey, err)
	}
	return base64URL(tp), nil
}

// Sign returns the compact JWS of id for audience (the original request's
// scheme://host).
func (s *Signer) Sign(id Identity, audience string) (string, error) {
	now := s.now()
	c := claims{
		Claims: jwt.Claims{
			Issuer:   s.issuer,
			Subject:  id.User,
			IssuedAt: jwt.NewNumericDate(now),
			Expiry:   jwt.NewNumericDate(now.Add(s.lifetime)),
		},
		Name: id.Name, Domain: id.Domain, Groups: id.Groups, SIDs: id.SIDs, Scheme: id.Scheme,
	}
	if audience != "" {
		c.Audience = jwt.Audience{audience}
	}
	if c.Groups == nil {
		c.Groups = []string{}
	}
	if c.SIDs == nil {
		c.SIDs = []string{}
	}
	tok, err := jwt.Signed(s.signer).Claims(c).Serialize()
	if err != nil {
		return "", fmt.Errorf("identitytoken: signing: %w", err)
	}
	return tok, nil
}

// SignCached is Sign, handing out the same token again for the same
// identity and audience while it is younger than a quarter of its
// lifetime.
func (s *Signer) SignCached(id Identity, audience string) (string, error) {
	h := sha256.New()
	for _, f := range [][]string{{id.User, id.Name, id.Domain, id.Scheme, audience}, id.Groups, id.SIDs} {
		for _, v := range f {
			h.Write([]byte(v))
			h.Write([]byte{0})
		}
		h.Write([]byte{1})
	}
	var key [32]byte
	h.Sum(key[:0])
	now := s.now()
	s.mu.Lock()
	c, ok := s.recent[key]
	s.mu.Unlock()
	if ok && now.Sub(c.iat) < s.lifetime/reuseFraction && !now.Before(c.iat) {
		return c.token, nil
	}
	tok, err := s.Sign(id, audience)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	if s.recent == nil || len(s.recent) >= maxCached {
		s.recent = make(map[[32]byte]cached)
	}
	s.recent[key] = cached{token: tok, iat: now}
	s.mu.Unlock()
	return tok, nil
}

// JWKS returns the public keys as a JSON Web Key Set.
func (s *Signer) JWKS() []byte { return s.jwks }

// KeyIDs returns the kids published, the signing key's first.
func (s *Signer) KeyIDs() []string { return append([]string(nil), s.kids...) }

// Lifetime is how long tokens are good for.
func (s *Signer) Lifetime() time.Duration { return s.lifetime }

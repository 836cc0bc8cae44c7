package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-auth/gatehouse/accounts"
	"github.com/gatehouse-auth/gatehouse/authheader"
	"github.com/gatehouse-auth/gatehouse/basic"
)

// basicScheme is RFC 7617 Basic against the local account store.
type basicScheme struct {
	realm    string
	domain   string
	overHTTP bool // offered and accepted without TLS
	store    *accounts.Store
	cache    *verifiedCache
}

func (b *basicScheme) Name() string { return "Basic" }

func (b *basicScheme) Accepts(r *http.Request) bool { return r.TLS != nil || b.overHTTP }

func (b *basicScheme) Challenges(r *http.Request, _ bool) []string {
	if !b.Accepts(r) {
		return nil
	}
	return []string{basic.Challenge(b.realm)}
}

func (b *basicScheme) Authenticate(_ http.ResponseWriter, r *http.Request, c *authheader.Credentials) outcome {
	user, pass, err := basic.Parse(c.Token68)
	if err != nil {
		return bad(err.Error())
	}
	if user == "" {
		return fail("empty user name", "")
	}
	cr, ok, err := b.check(user, pass)
	switch {
	case errors.Is(err, accounts.ErrNotFound):
		return fail("unknown user", user)
	case err != nil:
		return outcome{res: resError, reason: err.Error(), user: user}
	case !ok:
		return fail("wrong password", user)
	}
	return outcome{res: resSuccess, user: cr.Name, id: localIdentity(cr, b.domain, "Basic", "password", r)}
}

// check verifies with Argon2id, or from the cache of recent successes so a
// browser sending Basic on every request does not pay Argon2id each time.
func (b *basicScheme) check(user, pass string) (*accounts.Credentials, bool, error) {
	key := b.cache.key(user, pass)
	if phc, ok := b.cache.get(key); ok {
		cr, err := b.store.Lookup(user)
		if err != nil {
			return nil, false, err
		}
		// a password change or deletion since the cache entry invalidates it
		if hmac.Equal([]byte(cr.PHC), []byte(phc)) {
			return cr, true, nil
		}
	}
	cr, ok, err := b.store.CheckPassword(user, pass)
	if err == nil && ok {
		b.cache.put(key, cr.PHC)
	}
	return cr, ok, err
}

// verifiedCache remembers recently verified Basic credentials, keyed by an
// HMAC of user and password under a per-process random key (so the cache
// holds no password nor anything that can be tested offline without the
// key).
type verifiedCache struct {
	mu     sync.Mutex
	secret []byte
	m      map[[32]byte]cacheEntry
}

type cacheEntry struct {
	phc     string
	expires time.Time
}

// Cache bounds: a browser re-sends Basic credentials on every request;
// one minute spares Argon2id for those and lets a changed password take
// effect within a minute at worst (an account change is seen at once, as
// the stored hash is compared). 4096 entries of ~200 bytes is under 1 MB.
const (
	basicCacheTTL = time.Minute
	basicCacheMax = 4096
)

func newVerifiedCache(key []byte) *verifiedCache {
	return &verifiedCache{secret: key, m: make(map[[32]byte]cacheEntry)}
}

func (c *verifiedCache) key(user, pass string) [32]byte {
	m := hmac.New(sha256.New, c.secret)
	m.Write([]byte(strings.ToLower(user)))
	m.Write([]byte{0})
	m.Write([]byte(pass))
	var k [32]byte
	copy(k[:], m.Sum(nil))
	return k
}

func (c *verifiedCache) get(k [32]byte) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || time.Now().After(e.expires) {
		return "", false
	}
	return e.phc, true
}

func (c *verifiedCache) put(k [32]byte, phc string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= basicCacheMax {
		now := time.Now()
		for k, e := range c.m {
			if now.After(e.expires) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= basicCacheMax {
			clear(c.m)
		}
	}
	c.m[k] = cacheEntry{phc: phc, expires: time.Now().Add(basicCacheTTL)}
}

// localIdentity is the identity of a local account.
func localIdentity(cr *accounts.Credentials, domain, scheme, mech string, r *http.Request) *Identity {
	cb := "absent"
	if r.TLS == nil {
		cb = "not_applicable"
	}
	return &Identity{
		User: cr.Name, Name: cr.Name, Domain: domain,
		Scheme: scheme, Mechanism: mech,
		Groups: cr.Groups, ChannelBinding: cb,
	}
}

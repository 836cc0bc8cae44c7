package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"net/http"
	"runtime"
	"runtime/debug"
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
	store    Accounts
	cache    *verifiedCache
	hashing  *hashLimiter // shared by every Basic site
	kdc      *KDCVerifier // nil: passwords are checked against the store
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
	if b.kdc != nil {
		return b.checkKDC(user, pass, r)
	}
	cr, ok, err := b.check(r.Context(), user, pass)
	switch {
	case errors.Is(err, errHashBusy):
		return outcome{res: resBusy, reason: err.Error(), user: user}
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
// Argon2id runs under the hash limiter, for known and unknown users alike
// (the store spends a dummy derivation of the same cost on an unknown
// one), so waiting and refusals tell nothing about which names exist.
func (b *basicScheme) check(ctx context.Context, user, pass string) (*accounts.Credentials, bool, error) {
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
	if err := b.hashing.acquire(ctx); err != nil {
		return nil, false, err
	}
	cr, ok, err := b.store.CheckPassword(user, pass)
	b.hashing.release()
	if err == nil && ok {
		b.cache.put(key, cr.PHC)
	}
	return cr, ok, err
}

// checkKDC verifies with the KDC (KDCVerifier), or from the cache of
// recent successes, which holds the principal the KDC named.
func (b *basicScheme) checkKDC(user, pass string, r *http.Request) outcome {
	key := b.cache.key("kdc\x00"+user, pass)
	principal, ok := b.cache.get(key)
	if !ok {
		name, realm, err := b.kdc.Verify(user, pass)
		switch {
		case errors.Is(err, ErrKDCUnavailable):
			return outcome{res: resUnavailable, reason: err.Error(), user: user}
		case err != nil:
			return fail(err.Error(), user)
		}
		principal = name + "@" + realm
		b.cache.put(key, principal)
	}
	name, realm, _ := strings.Cut(principal, "@")
	cb := "absent"
	if r.TLS == nil {
		cb = "not_applicable"
	}
	id := &Identity{User: principal, Name: name, Domain: realm, Scheme: "Basic", Mechanism: "password",
		ChannelBinding: cb, dirAccount: principal}
	return outcome{res: resSuccess, user: principal, id: id}
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

// Password hashing bounds. One Argon2id derivation takes 19 MiB for its
// whole run (accounts: OWASP's minimum), so N concurrent wrong passwords
// cost N×19 MiB: 64 of them took an unbounded server from 58 MiB to over
// 1 GiB, and Go kept the memory. Running more derivations at once than
// there are cores buys no throughput, only memory, so:
//   - at most GOMAXPROCS derivations run at once (hashLimiter.slots);
//   - up to hashMaxWaiting more wait, each at most hashMaxWait (a login
//     behind a short burst still gets through), the rest get 503 with
//     Retry-After at once;
//   - when a burst is over (nothing hashing, at least hashFreeAfter
//     derivations since the last time), the heap is returned to the OS
//     (debug.FreeOSMemory, at most every hashFreeEvery): the runtime would
//     otherwise keep the burst's peak for minutes.
//
// Recent successful logins are answered from verifiedCache and never wait
// here; Digest and NTLM use no password hash at all.
const (
	hashMaxWaiting = 64
	hashMaxWait    = 2 * time.Second
	hashFreeAfter  = 4
	hashFreeEvery  = 2 * time.Second
)

// errHashBusy: the derivation was not started (503, not a failed login).
var errHashBusy = errors.New("too many password checks in progress")

// hashLimiter bounds concurrent password derivations.
type hashLimiter struct {
	slots   chan struct{}
	waiting chan struct{} // a token per waiting request, hashMaxWaiting deep
	maxWait time.Duration // hashMaxWait

	mu            sync.Mutex
	running       int
	sinceFree     int
	lastFree      time.Time
	freeScheduled bool
	freeOSMemory  func() // debug.FreeOSMemory; replaced in tests
}

func newHashLimiter(n int) *hashLimiter {
	if n < 1 {
		n = runtime.GOMAXPROCS(0)
	}
	return &hashLimiter{
		slots:        make(chan struct{}, n),
		waiting:      make(chan struct{}, hashMaxWaiting),
		maxWait:      hashMaxWait,
		freeOSMemory: debug.FreeOSMemory,
	}
}

// acquire takes a slot, waiting at most hashMaxWait behind at most
// hashMaxWaiting others; errHashBusy otherwise (or when ctx ends).
func (l *hashLimiter) acquire(ctx context.Context) error {
	select {
	case l.slots <- struct{}{}:
	default:
		select {
		case l.waiting <- struct{}{}:
		default:
			return errHashBusy
		}
		t := time.NewTimer(l.maxWait)
		defer t.Stop()
		select {
		case l.slots <- struct{}{}:
			<-l.waiting
		case <-t.C:
			<-l.waiting
			return errHashBusy
		case <-ctx.Done():
			<-l.waiting
			return errHashBusy
		}
	}
	l.mu.Lock()
	l.running++
	l.sinceFree++
	l.mu.Unlock()
	return nil
}

// release gives the slot back and, when a burst has just ended, schedules
// the return of its memory to the OS.
func (l *hashLimiter) release() {
	<-l.slots
	l.mu.Lock()
	l.running--
	if l.running == 0 && l.sinceFree >= hashFreeAfter && !l.freeScheduled {
		l.freeScheduled = true
		time.AfterFunc(max(0, time.Until(l.lastFree.Add(hashFreeEvery))), l.free)
	}
	l.mu.Unlock()
}

// free returns the heap to the OS once the limiter is idle: nothing
// hashing, no slot taken, nobody waiting. A release can leave running at 0
// for an instant while a waiter is about to take the slot; freeing then
// would leave the rest of the burst's memory behind, so while anything is
// in flight free tries again later instead.
func (l *hashLimiter) free() {
	l.mu.Lock()
	if l.running > 0 || len(l.slots) > 0 || len(l.waiting) > 0 {
		time.AfterFunc(hashFreeEvery, l.free) // still scheduled
		l.mu.Unlock()
		return
	}
	l.freeScheduled = false
	l.sinceFree, l.lastFree = 0, time.Now()
	l.mu.Unlock()
	l.freeOSMemory()
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
		Groups: cr.Groups, ChannelBinding: cb, account: "local",
	}
}

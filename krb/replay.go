package krb

import (
	"crypto/sha256"
	"sync"
	"time"
)

// DefaultReplayCacheEntries is the capacity of the replay cache NewAcceptor
// makes when Config.ReplayCache is nil: about 3,500 new authenticators per
// second sustained over the default 5-minute window, in about 58 MB (see
// ReplayCache).
// Sessions (one Kerberos exchange per login, not per request) keep the
// rate far below that.
const DefaultReplayCacheEntries = 1 << 20

// replayShards spreads the lock: a power of two well above GOMAXPROCS on
// usual servers, so concurrent Accepts rarely wait for each other.
const replayShards = 64

// ReplayCache remembers the authenticators accepted within the clock-skew
// window so that the same AP-REQ is refused the second time
// (RFC 4120 §3.2.3). Like MIT's rcache2 it keys on a hash of the
// authenticator ciphertext, not on client+ctime: a fresh authenticator
// from the same ticket (new confounder) is a new entry even with the same
// ctime/cusec, and two clients in the same microsecond never collide.
//
// It is in memory, sharded 64 ways and bounded: each shard holds at most
// maxEntries/64 entries (keys spread evenly, so a shard fills when the
// total is within about 2% of maxEntries). Entries expire when their authenticator leaves the
// skew window (ctime + skew). When a shard is full after expired entries
// are swept, Check fails closed with ErrReplayCacheFull rather than forget
// an entry that could then be replayed. Only authenticators that passed
// every other check are recorded, so only holders of valid tickets can
// fill it.
//
// Memory: an entry is a 16-byte key (truncated SHA-256) and an 8-byte
// expiry in a Go map, 24 bytes of payload; with the map's control bytes,
// load-factor slack and table doubling TestReplayCacheMemory measures
// about 55 bytes per entry (Go 1.26, 1M entries), so about 58 MB at
// DefaultReplayCacheEntries.
// The cache is per process: several server processes need sticky sessions
// or a shared cache.
type ReplayCache struct {
	perShard int
	shards   [replayShards]replayShard
}

type replayShard struct {
	mu sync.Mutex
	m  map[[16]byte]int64 // key -> expiry (Unix nanoseconds)
	// insertsSinceSweep counts inserts since the last sweep of expired
	// entries; a sweep runs when it reaches max(len(m), 64), so sweeping
	// costs O(1) per insert amortised.
	insertsSinceSweep int
	lastSweep         int64 // Unix nanoseconds; a full shard sweeps at most once a second
}

// NewReplayCache returns a cache holding at most maxEntries (rounded up to
// a multiple of 64; DefaultReplayCacheEntries when maxEntries <= 0).
func NewReplayCache(maxEntries int) *ReplayCache {
	if maxEntries <= 0 {
		maxEntries = DefaultReplayCacheEntries
	}
	c := &ReplayCache{perShard: (maxEntries + replayShards - 1) / replayShards}
	for i := range c.shards {
		c.shards[i].m = make(map[[16]byte]int64)
	}
	return c
}

// replayKey hashes the authenticator ciphertext.
func replayKey(cipher []byte) [16]byte {
	sum := sha256.Sum256(cipher)
	var k [16]byte
	copy(k[:], sum[:16])
	return k
}

// Check records the authenticator ciphertext until expires and reports
// nil, or returns ErrReplay if it is already recorded and not expired, or
// ErrReplayCacheFull. now is the acceptor's clock.
func (c *ReplayCache) Check(cipher []byte, now, expires time.Time) error {
	k := replayKey(cipher)
	s := &c.shards[k[0]%replayShards]
	n, exp := now.UnixNano(), expires.UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[k]; ok && e >= n {
		return ErrReplay
	}
	full := len(s.m) >= c.perShard
	if s.insertsSinceSweep >= max(len(s.m), 64) || (full && n-s.lastSweep >= int64(time.Second)) {
		for key, e := range s.m {
			if e < n {
				delete(s.m, key)
			}
		}
		s.insertsSinceSweep, s.lastSweep = 0, n
	}
	if len(s.m) >= c.perShard {
		return ErrReplayCacheFull
	}
	s.m[k] = exp
	s.insertsSinceSweep++
	return nil
}

// Len returns the number of entries held (expired ones not yet swept
// included).
func (c *ReplayCache) Len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

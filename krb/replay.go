package krb

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"math/bits"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// ReplayCache is what an Acceptor needs to refuse the second use of an
// authenticator (RFC 4120 §3.2.3). MemoryReplayCache is the in-process
// one; a cache shared by several instances implements the same two
// methods.
type ReplayCache interface {
	// Check records the authenticator (its ciphertext) until expires
	// (ctime + clock skew) and returns nil. It returns ErrReplay if the
	// authenticator is recorded and not expired at now, and
	// ErrReplayWindow if expires is at or before the cache's watermark:
	// the authenticator is older than anything the cache still
	// remembers, so it cannot tell whether it was seen. Any other error
	// is a technical failure (a shared cache out of reach) and must fail
	// the request closed.
	Check(authenticator []byte, now, expires time.Time) error
	// Watermark returns the newest expiry of an authenticator the cache
	// had to forget before it expired (the zero Time if it never had
	// to): Check refuses every authenticator expiring at or before it.
	Watermark() time.Time
}

// DefaultReplayCacheEntries is the capacity of the replay cache NewAcceptor
// makes when Config.ReplayCache is nil: about 3,500 new authenticators per
// second sustained over the default 5-minute window before the window
// narrows, in 32 MiB (see MemoryReplayCache). Sessions (one Kerberos
// exchange per login, not per request) keep the rate far below that.
const DefaultReplayCacheEntries = 1 << 20

// replayShards spreads the lock: a power of two well above GOMAXPROCS on
// usual servers, so concurrent Accepts rarely wait for each other.
const replayShards = 64

// replayEvictDivisor: a full shard forgets about 1/4 of its entries at
// once, so the O(shard) work of eviction is paid once every shard/4
// inserts: a constant per insert, amortised. An eighth measured about as
// costly as the insert itself, a quarter about two thirds of it
// (BenchmarkReplayCache); larger fractions would narrow the window by
// more at each step.
const replayEvictDivisor = 4

// replaySlotsNum/replaySlotsDen: table slots per entry (4/3, load at most
// 3/4). Linear probing then averages about 2.5 probes for a hit and 8.5
// for a miss at the worst, and a slot costs 24 bytes: 32 bytes per entry.
const (
	replaySlotsNum = 4
	replaySlotsDen = 3
)

// MemoryReplayCache remembers, in process memory, the authenticators
// accepted within the clock-skew window. Like MIT's rcache2 it keys on a
// hash of the authenticator ciphertext, not on client+ctime: a fresh
// authenticator from the same ticket (new confounder) is a new entry even
// with the same ctime/cusec, and two clients in the same microsecond
// never collide.
//
// It is sharded 64 ways and bounded: a shard holds at most maxEntries/64
// entries (keys spread evenly, placed by a keyed mix). An entry lives until
// its authenticator leaves the skew window (ctime + skew). When a shard
// is full it forgets about a quarter of it, the entries that expire first
// (what has expired first of all), and raises the watermark to the newest
// unexpired expiry it forgot. An authenticator expiring at or before
// the watermark is refused (ErrReplayWindow): it is as old as something
// forgotten, so it could be a replay. Everything newer is
// checked as usual. Under pressure the acceptance window narrows from the
// full skew to "as far back as memory reaches" — as Digest's nonce-count
// window does — and a fresh authenticator (ctime now) is never refused.
// Only authenticators that passed every other check are recorded, so
// only holders of valid tickets can fill it.
//
// Memory: each shard is one open-addressed table (linear probing,
// backward-shift deletion, no tombstones) of 24-byte slots (16-byte key:
// truncated SHA-256; 8-byte expiry), 4/3 slots per entry: 32 bytes per
// entry, allocated when a shard takes its first entry and never grown.
// TestReplayCacheMemory measures it with runtime.MemStats.
//
// The cache is per process: several server processes need sticky
// sessions or a shared cache.
type MemoryReplayCache struct {
	perShard  int          // entries
	slots     int          // table length per shard
	seed      [2]uint64    // keys the slot placement
	watermark atomic.Int64 // highest shard watermark, Unix ns
	onEvict   atomic.Pointer[func(watermark time.Time)]
	shards    [replayShards]replayShard
}

type replayEntry struct {
	key [16]byte
	exp int64 // Unix nanoseconds; 0: empty slot
}

type replayShard struct {
	mu        sync.Mutex
	table     []replayEntry // nil until the first insert
	n         int           // occupied slots
	watermark int64         // Unix ns: expiries at or below are refused
	_         [16]byte      // a shard per cache line pair: no false sharing of mu
}

// NewReplayCache returns a cache holding at most maxEntries (rounded up to
// a multiple of 64; DefaultReplayCacheEntries when maxEntries <= 0).
func NewReplayCache(maxEntries int) *MemoryReplayCache {
	if maxEntries <= 0 {
		maxEntries = DefaultReplayCacheEntries
	}
	per := max((maxEntries+replayShards-1)/replayShards, replayEvictDivisor)
	c := &MemoryReplayCache{
		perShard: per,
		slots:    per*replaySlotsNum/replaySlotsDen + 1,
	}
	var b [16]byte
	rand.Read(b[:])
	c.seed = [2]uint64{binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:]) | 1}
	return c
}

// place returns the key's shard and home slot. The keys are SHA-256
// output, but a ticket holder could grind authenticators for keys of his
// choosing; a secret xor and odd multiplier (per cache) keep him from
// aiming them at one probe sequence.
func (c *MemoryReplayCache) place(k [16]byte) (shard, home int) {
	x := (binary.LittleEndian.Uint64(k[:8]) ^ c.seed[0]) * c.seed[1]
	x ^= x >> 29
	return int(x >> 58), int(hi64(x<<6, uint64(c.slots)))
}

// OnEvict sets a function called (outside any lock, from the Check that
// did it) each time a full shard forgets unexpired authenticators, with
// the cache's new watermark. A server uses it to log that the window
// narrowed; nil removes it.
func (c *MemoryReplayCache) OnEvict(f func(watermark time.Time)) {
	if f == nil {
		c.onEvict.Store(nil)
		return
	}
	c.onEvict.Store(&f)
}

// replayKey hashes the authenticator ciphertext.
func replayKey(cipher []byte) [16]byte {
	sum := sha256.Sum256(cipher)
	var k [16]byte
	copy(k[:], sum[:16])
	return k
}

// Check implements ReplayCache.
func (c *MemoryReplayCache) Check(authenticator []byte, now, expires time.Time) error {
	k := replayKey(authenticator)
	sh, home := c.place(k)
	s := &c.shards[sh]
	n, exp := now.UnixNano(), expires.UnixNano()
	var raised int64
	// One watermark for the whole cache (the highest of the shards'),
	// so what Watermark reports is what Check enforces.
	if exp <= c.watermark.Load() {
		return ErrReplayWindow
	}
	s.mu.Lock()
	if exp <= s.watermark {
		s.mu.Unlock()
		return ErrReplayWindow
	}
	if s.table == nil {
		s.table = make([]replayEntry, c.slots)
	}
	i, found := s.find(k, home)
	if found {
		if s.table[i].exp >= n {
			s.mu.Unlock()
			return ErrReplay
		}
		s.table[i].exp = exp // the same key, expired: a new life
		s.mu.Unlock()
		return nil
	}
	if s.n >= c.perShard {
		raised = s.makeRoom(n, c)
		if exp <= s.watermark { // as old as what was just forgotten
			s.mu.Unlock()
			c.raise(raised)
			return ErrReplayWindow
		}
		i, _ = s.find(k, home)
	}
	s.table[i] = replayEntry{key: k, exp: exp}
	s.n++
	s.mu.Unlock()
	c.raise(raised)
	return nil
}

// raise records a shard's new watermark (0: none) and tells OnEvict.
func (c *MemoryReplayCache) raise(w int64) {
	if w == 0 {
		return
	}
	for {
		old := c.watermark.Load()
		if w <= old || c.watermark.CompareAndSwap(old, w) {
			break
		}
	}
	if f := c.onEvict.Load(); f != nil {
		(*f)(time.Unix(0, c.watermark.Load()))
	}
}

// Watermark implements ReplayCache: the highest of the shards'
// watermarks.
func (c *MemoryReplayCache) Watermark() time.Time {
	w := c.watermark.Load()
	if w == 0 {
		return time.Time{}
	}
	return time.Unix(0, w)
}

// Len returns the number of entries held (expired ones not yet dropped
// included).
func (c *MemoryReplayCache) Len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += s.n
		s.mu.Unlock()
	}
	return n
}

// hi64 maps x uniformly onto [0, n) (Lemire's multiply-shift).
func hi64(x, n uint64) uint64 {
	hi, _ := bits.Mul64(x, n)
	return hi
}

// find returns the slot holding k, or the empty slot where k would go.
// The table always has an empty slot (n < len).
func (s *replayShard) find(k [16]byte, home int) (int, bool) {
	t := s.table
	for i := home; ; {
		if t[i].exp == 0 {
			return i, false
		}
		if t[i].key == k {
			return i, true
		}
		if i++; i == len(t) {
			i = 0
		}
	}
}

// replaySample is how many expiries makeRoom samples to pick its
// threshold: an exact selection over the whole shard would cost more than
// the inserts it pays for; 128 samples put the quarter within about four
// points either way.
const replaySample = 128

// makeRoom frees about a quarter of the shard (at least one entry): the
// entries that expire first, dropping every expired one on the way. It
// raises the watermark to the newest unexpired expiry forgotten and
// returns it (0 if nothing unexpired was forgotten).
func (s *replayShard) makeRoom(now int64, c *MemoryReplayCache) int64 {
	// The threshold is the 32nd smallest of 128 random occupied slots'
	// expiries: every entry at or below it goes, the sampled one at least.
	var sample [replaySample]int64
	for m := 0; m < replaySample; {
		if e := s.table[mrand.IntN(len(s.table))].exp; e != 0 {
			sample[m] = e
			m++
		}
	}
	t := max(nthSmallest(sample[:], replaySample/replayEvictDivisor-1), now-1)
	s.removeUpTo(t, c)
	if t < now || t <= s.watermark {
		return 0
	}
	s.watermark = t
	return t
}

// removeUpTo removes every entry expiring at or before t, in one pass
// (backward-shift deletion, in bulk). The pass starts after an empty
// slot, so no probe sequence wraps past its start. Within a run of
// occupied slots, once a slot has been emptied each later survivor is
// lifted and put back at the first empty slot from its home: that is at
// or before where it was, and every slot before it in the run is already
// final, so what its probe passes stays occupied.
func (s *replayShard) removeUpTo(t int64, c *MemoryReplayCache) {
	tab := s.table
	L := len(tab)
	start := 0
	for tab[start].exp != 0 {
		start++
	}
	hole := false // a slot of the current run was emptied
	for j := 1; j < L; j++ {
		i := start + j
		if i >= L {
			i -= L
		}
		e := tab[i]
		switch {
		case e.exp == 0:
			hole = false
		case e.exp <= t:
			tab[i].exp = 0
			s.n--
			hole = true
		case hole:
			tab[i].exp = 0
			_, home := c.place(e.key)
			dst, _ := s.find(e.key, home)
			tab[dst] = e
		}
	}
}

// nthSmallest returns the (k+1)-th smallest of a (0 ≤ k < len(a)),
// reordering a: quickselect with random pivots, expected O(len(a)).
func nthSmallest(a []int64, k int) int64 {
	lo, hi := 0, len(a)-1
	for lo < hi {
		p := a[lo+mrand.IntN(hi-lo+1)]
		// Three-way partition: [lo,lt) < p, [lt,gt] == p, (gt,hi] > p.
		lt, i, gt := lo, lo, hi
		for i <= gt {
			switch {
			case a[i] < p:
				a[lt], a[i] = a[i], a[lt]
				lt++
				i++
			case a[i] > p:
				a[i], a[gt] = a[gt], a[i]
				gt--
			default:
				i++
			}
		}
		switch {
		case k < lt:
			hi = lt - 1
		case k > gt:
			lo = gt + 1
		default:
			return p
		}
	}
	return a[k]
}

package krb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

func TestReplayCache(t *testing.T) {
	c := NewReplayCache(0)
	a, b := []byte("authenticator A"), []byte("authenticator B")
	exp := t0.Add(5 * time.Minute)
	if err := c.Check(a, t0, exp); err != nil {
		t.Fatal(err)
	}
	if err := c.Check(a, t0.Add(time.Minute), exp); !errors.Is(err, ErrReplay) {
		t.Fatalf("second sight: %v", err)
	}
	if err := c.Check(b, t0, exp); err != nil {
		t.Fatalf("other ciphertext: %v", err)
	}
	// After expiry the entry no longer counts.
	if err := c.Check(a, exp.Add(time.Second), exp.Add(6*time.Minute)); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if !c.Watermark().IsZero() {
		t.Fatalf("watermark %v without eviction", c.Watermark())
	}
	var _ ReplayCache = c
}

// authN is the n-th distinct authenticator of a test.
func authN(n int) []byte {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(n))
	return b[:]
}

// TestReplayCacheEvictsOldest: a full shard forgets the entries that
// expire first, refuses what is as old with ErrReplayWindow, and still
// recognises every replay of what it remembers.
func TestReplayCacheEvictsOldest(t *testing.T) {
	const size = replayShards * 16
	c := NewReplayCache(size)
	var evicted []time.Time
	c.OnEvict(func(w time.Time) { evicted = append(evicted, w) })
	// 4× the size, each authenticator 1 ms younger than the one before.
	const total = 4 * size
	for i := range total {
		ctime := t0.Add(time.Duration(i) * time.Millisecond)
		if err := c.Check(authN(i), ctime, ctime.Add(DefaultClockSkew)); err != nil {
			t.Fatalf("fresh authenticator %d refused: %v", i, err)
		}
		if c.Len() > size {
			t.Fatalf("%d entries held, bound %d", c.Len(), size)
		}
	}
	if len(evicted) == 0 || c.Watermark().IsZero() {
		t.Fatal("a full cache did not evict")
	}
	w := c.Watermark()
	if !evicted[len(evicted)-1].Equal(w) {
		t.Fatalf("OnEvict said %v, Watermark %v", evicted[len(evicted)-1], w)
	}
	now := t0.Add(total * time.Millisecond)
	// The newest quarter is all still remembered: replays refused as such.
	for i := total - size/4; i < total; i++ {
		ctime := t0.Add(time.Duration(i) * time.Millisecond)
		if err := c.Check(authN(i), now, ctime.Add(DefaultClockSkew)); !errors.Is(err, ErrReplay) {
			t.Fatalf("replay of %d: %v", i, err)
		}
	}
	// The first ones were forgotten: refused for being as old.
	if err := c.Check(authN(0), now, t0.Add(DefaultClockSkew)); !errors.Is(err, ErrReplayWindow) || errors.Is(err, ErrReplay) {
		t.Fatalf("forgotten authenticator: %v", err)
	}
	// A new authenticator as old as the watermark, never seen: refused too.
	if err := c.Check([]byte("never seen"), now, w); !errors.Is(err, ErrReplayWindow) {
		t.Fatalf("authenticator at the watermark: %v", err)
	}
	if !errors.Is(ErrReplayWindow, ErrAuthFailed) {
		t.Fatal("ErrReplayWindow must be an authentication failure")
	}
	// Once everything has expired, the watermark is behind the clock and
	// the window is whole again.
	later := now.Add(2 * DefaultClockSkew)
	for i := range size {
		ctime := later.Add(time.Duration(i) * time.Microsecond)
		if err := c.Check(authN(total+i), ctime, ctime.Add(DefaultClockSkew)); err != nil {
			t.Fatalf("after expiry: %v", err)
		}
	}
}

// TestReplayCacheSustainedLoad is the load that used to make every
// Kerberos request fail: a 65,536-entry cache receives four times its
// size in fresh authenticators within one skew window (clients' clocks up
// to a second behind). None is refused; each replayed right after is
// refused as a replay; one older than the watermark is refused with
// ErrReplayWindow.
func TestReplayCacheSustainedLoad(t *testing.T) {
	const size = 65536
	const total = 4 * size
	c := NewReplayCache(size)
	rng := rand.New(rand.NewPCG(1, 2))
	step := DefaultClockSkew / total
	now := t0
	refused, old := 0, 0
	for i := range total {
		now = now.Add(step)
		ctime := now.Add(-time.Duration(rng.Int64N(int64(time.Second))))
		exp := ctime.Add(DefaultClockSkew)
		if err := c.Check(authN(i), now, exp); err != nil {
			refused++
			continue
		}
		if err := c.Check(authN(i), now, exp); !errors.Is(err, ErrReplay) {
			t.Fatalf("authenticator %d replayed right after: %v", i, err)
		}
		if i%1024 == 1023 && !c.Watermark().IsZero() {
			w := c.Watermark()
			if err := c.Check(authN(-i), now, w); !errors.Is(err, ErrReplayWindow) {
				t.Fatalf("authenticator older than the watermark: %v", err)
			}
			old++
		}
	}
	if refused != 0 {
		t.Fatalf("%d of %d fresh authenticators refused", refused, total)
	}
	if old == 0 {
		t.Fatal("the window never narrowed: the test did not fill the cache")
	}
	reach := now.Sub(c.Watermark().Add(-DefaultClockSkew))
	t.Logf("%d authenticators in %v into %d entries: memory reaches back %v", total, DefaultClockSkew, size, reach.Round(time.Second))
}

// TestAcceptorReplayWindow: the same through the Acceptor, real
// authenticators: ReplayWindow narrows, nothing fresh is refused, an
// authenticator older than the watermark gets ErrReplayWindow.
func TestAcceptorReplayWindow(t *testing.T) {
	kt := stdKeytab(t)
	a, now := newTestAcceptor(t, kt, func(c *Config) { c.ReplayCache = NewReplayCache(replayShards * 16) })
	if w := a.ReplayWindow(); w != DefaultClockSkew {
		t.Fatalf("window %v before any load", w)
	}
	f := defaultForge(kt)
	const total = replayShards * 16 * 4
	var last []byte
	for i := range total {
		*now = t0.Add(time.Duration(i) * 10 * time.Millisecond)
		f.ctime, f.cusec = now.Truncate(time.Second), now.Nanosecond()/1000
		tok := f.token(t)
		if _, err := a.Accept(tok, nil); err != nil {
			t.Fatalf("fresh authenticator %d: %v", i, err)
		}
		last = tok
	}
	if _, err := a.Accept(last, nil); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay: %v", err)
	}
	w := a.ReplayWindow()
	if w >= DefaultClockSkew || w <= 0 {
		t.Fatalf("window %v after 4× the cache", w)
	}
	f.ctime = now.Add(-w - time.Second)
	if _, err := a.Accept(f.token(t), nil); !errors.Is(err, ErrReplayWindow) {
		t.Fatalf("authenticator older than the window: %v", err)
	}
	f.ctime = now.Add(-w + 2*time.Second)
	if _, err := a.Accept(f.token(t), nil); err != nil {
		t.Fatalf("authenticator inside the window: %v", err)
	}
	t.Logf("window %v of %v", w, DefaultClockSkew)
}

// TestReplayCacheMemory fills a cache with a million entries and measures
// the bytes per entry stated in the MemoryReplayCache doc comment.
func TestReplayCacheMemory(t *testing.T) {
	if testing.Short() && !testenv.InCI() {
		t.Skip("allocates ~35 MB")
	}
	const n = 1 << 20
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	c := NewReplayCache(n)
	for i := range n {
		ctime := t0.Add(time.Duration(i) * time.Microsecond)
		if err := c.Check(authN(i), ctime, ctime.Add(DefaultClockSkew)); err != nil {
			t.Fatal(i, err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	per := float64(m1.HeapAlloc-m0.HeapAlloc) / float64(c.Len())
	t.Logf("%d entries: %.1f bytes/entry", c.Len(), per)
	if c.Len() > n {
		t.Errorf("%d entries, bound %d", c.Len(), n)
	}
	if per > 64 {
		t.Errorf("%.1f bytes per entry, more than 64", per)
	}
	runtime.KeepAlive(c)
}

// BenchmarkReplayCache compares, on a 65,536-entry cache, an insert while
// the cache has room with an insert into a full cache, which pays for
// eviction (about one insert in 256 per shard forgets a quarter of it). Compare
// the two cpu-ns/op (CPU time, not wall time: the machine may be shared):
// the full-cache figure holds the eviction cost amortised.
func BenchmarkReplayCache(b *testing.B) {
	const size = 65536
	b.Run("insert", func(b *testing.B) {
		c := NewReplayCache(size)
		held := 0
		defer testenv.ReportCPU(b)()
		for i := 0; b.Loop(); i++ {
			if held == size*3/4 { // stay clear of eviction
				b.StopTimer()
				c, held = NewReplayCache(size), 0
				b.StartTimer()
			}
			now := t0.Add(time.Duration(i) * time.Microsecond)
			c.Check(authN(i), now, now.Add(DefaultClockSkew))
			held++
		}
	})
	b.Run("full", func(b *testing.B) {
		c := NewReplayCache(size)
		for i := range size * 2 {
			now := t0.Add(time.Duration(i) * time.Microsecond)
			c.Check(authN(-i-1), now, now.Add(DefaultClockSkew))
		}
		defer testenv.ReportCPU(b)()
		for i := 0; b.Loop(); i++ {
			now := t0.Add(time.Duration(size*2+i) * time.Microsecond)
			if err := c.Check(authN(i), now, now.Add(DefaultClockSkew)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		c := NewReplayCache(0)
		b.RunParallel(func(pb *testing.PB) {
			var k [16]byte
			for i := 0; pb.Next(); i++ {
				k[0], k[1], k[2], k[3] = byte(i), byte(i>>8), byte(i>>16), byte(i>>24)
				k[4] = byte(time.Now().UnixNano())
				c.Check(k[:], t0, t0.Add(time.Minute))
			}
		})
	})
}

func ExampleMemoryReplayCache() {
	c := NewReplayCache(1 << 16)
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	auth := []byte("an authenticator's ciphertext")
	fmt.Println(c.Check(auth, now, now.Add(DefaultClockSkew)))
	fmt.Println(c.Check(auth, now, now.Add(DefaultClockSkew)))
	// Output:
	// <nil>
	// krb: authentication failed: request is a replay
}

// TestReplayCacheConcurrentEviction: goroutines filling a small cache at
// once (run with -race): nothing fresh refused, the bound holds.
func TestReplayCacheConcurrentEviction(t *testing.T) {
	const size = replayShards * 16
	c := NewReplayCache(size)
	errs := make(chan error, 4)
	for g := range 4 {
		go func() {
			for i := range 4 * size {
				ctime := t0.Add(time.Duration(i) * time.Millisecond)
				if err := c.Check(authN(g<<32|i), ctime, ctime.Add(DefaultClockSkew)); err != nil && !errors.Is(err, ErrReplayWindow) {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if c.Len() > size {
		t.Fatalf("%d entries held, bound %d", c.Len(), size)
	}
}

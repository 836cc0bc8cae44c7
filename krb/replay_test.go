package krb

import (
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"
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
}

func TestReplayCacheBound(t *testing.T) {
	c := NewReplayCache(replayShards) // one entry per shard
	full := 0
	for i := 0; i < 4*replayShards; i++ {
		if err := c.Check([]byte(fmt.Sprint(i)), t0, t0.Add(time.Minute)); errors.Is(err, ErrReplayCacheFull) {
			full++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if full == 0 || c.Len() > replayShards {
		t.Fatalf("bound not enforced: %d refused, %d held", full, c.Len())
	}
	if !errors.Is(ErrReplayCacheFull, ErrAuthFailed) {
		t.Fatal("ErrReplayCacheFull must be an authentication failure")
	}
	// Once the entries expire, new ones fit again (sweep at most once a second per shard).
	later := t0.Add(2 * time.Minute)
	for i := 0; i < 4*replayShards; i++ {
		if err := c.Check([]byte(fmt.Sprint("new", i)), later, later.Add(time.Minute)); err != nil && !errors.Is(err, ErrReplayCacheFull) {
			t.Fatal(err)
		}
	}
	if c.Len() < replayShards/2 {
		t.Fatalf("expired entries not swept: %d held", c.Len())
	}
}

// TestReplayCacheMemory measures the bytes per entry stated in the
// ReplayCache doc comment.
func TestReplayCacheMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates ~60 MB")
	}
	const n = 1 << 20
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	c := NewReplayCache(n)
	var key [8]byte
	// Shards fill unevenly: stay a little under the bound.
	for i := 0; i < n-n/32; i++ {
		key[0], key[1], key[2], key[3] = byte(i), byte(i>>8), byte(i>>16), byte(i>>24)
		if err := c.Check(key[:], t0, t0.Add(time.Minute)); err != nil {
			t.Fatal(i, err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	per := float64(m1.HeapAlloc-m0.HeapAlloc) / float64(c.Len())
	t.Logf("%d entries: %.1f bytes/entry", c.Len(), per)
	if per > 70 {
		t.Errorf("%.1f bytes per entry, the ReplayCache doc says about 55", per)
	}
	runtime.KeepAlive(c)
}

func BenchmarkReplayCache(b *testing.B) {
	c := NewReplayCache(0)
	b.RunParallel(func(pb *testing.PB) {
		var k [16]byte
		for i := 0; pb.Next(); i++ {
			k[0], k[1], k[2], k[3] = byte(i), byte(i>>8), byte(i>>16), byte(i>>24)
			k[4] = byte(time.Now().UnixNano())
			c.Check(k[:], t0, t0.Add(time.Minute))
		}
	})
}

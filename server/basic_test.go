package server

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestHashLimiterBounds(t *testing.T) {
	l := newHashLimiter(1)
	l.maxWait = 20 * time.Millisecond
	ctx := context.Background()
	if err := l.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	// the one slot is taken: a waiter gives up after maxWait
	if err := l.acquire(ctx); !errors.Is(err, errHashBusy) {
		t.Fatalf("second acquire: %v", err)
	}
	// a waiter gets the slot when it is released in time
	got := make(chan error, 1)
	l.maxWait = time.Minute
	go func() { got <- l.acquire(ctx) }()
	for len(l.waiting) == 0 {
		time.Sleep(time.Millisecond)
	}
	l.release()
	if err := <-got; err != nil {
		t.Fatalf("waiter: %v", err)
	}
	// the queue full: refused at once (no timer to wait for)
	for range hashMaxWaiting {
		l.waiting <- struct{}{}
	}
	if err := l.acquire(ctx); !errors.Is(err, errHashBusy) {
		t.Fatalf("acquire with a full queue: %v", err)
	}
	for range hashMaxWaiting {
		<-l.waiting
	}
	// a client that goes away stops waiting
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := l.acquire(cctx); !errors.Is(err, errHashBusy) {
		t.Fatalf("cancelled: %v", err)
	}
	l.release()
}

// After a burst the heap goes back to the OS, once.
func TestHashLimiterFreesAfterBurst(t *testing.T) {
	l := newHashLimiter(hashFreeAfter)
	freed := make(chan struct{}, 10)
	l.freeOSMemory = func() { freed <- struct{}{} }
	for range hashFreeAfter {
		if err := l.acquire(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	for range hashFreeAfter {
		l.release()
	}
	select {
	case <-freed:
	case <-time.After(10 * time.Second):
		t.Fatal("memory not freed after the burst")
	}
	// one login alone is no burst
	l.acquire(context.Background())
	l.release()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.freeScheduled || l.sinceFree != 1 {
		t.Fatalf("after one derivation: scheduled %v, since %d", l.freeScheduled, l.sinceFree)
	}
}

// Hashing saturated: Basic answers 503 with Retry-After for known and
// unknown users alike, never a 401 that would tell them apart.
func TestBasicBusy(t *testing.T) {
	g := testGate(t, []Site{{Path: "/", Schemes: []string{"basic"}, Handler: WhoAmI()}})
	var l *hashLimiter
	for _, sc := range g.sites[0].schemes {
		if b, ok := sc.(*basicScheme); ok {
			l = b.hashing
		}
	}
	l.maxWait = 10 * time.Millisecond
	for range cap(l.slots) {
		l.slots <- struct{}{}
	}
	h := g.Wrap(nil)
	for _, user := range []string{"alice", "nobody"} {
		w := do(t, h, "GET", "/", basicHdr(user, "wrong"), true)
		if w.Code != 503 || w.Header().Get("Retry-After") == "" {
			t.Fatalf("%s while hashing is saturated: %d %q", user, w.Code, w.Header())
		}
	}
	for range cap(l.slots) {
		<-l.slots
	}
	if w := do(t, h, "GET", "/", basicHdr("alice", "alicepw"), true); w.Code != 200 {
		t.Fatalf("login once free: %d", w.Code)
	}
}

// A burst's end seen while a waiter is still queued does not free then
// (the waiter's derivation would be left behind): free waits until the
// limiter is idle.
func TestHashLimiterFreesWhenIdle(t *testing.T) {
	l := newHashLimiter(hashFreeAfter)
	freed := make(chan struct{}, 10)
	l.freeOSMemory = func() { freed <- struct{}{} }
	for range hashFreeAfter {
		l.acquire(context.Background())
	}
	l.waiting <- struct{}{} // someone queued
	for range hashFreeAfter {
		l.release()
	}
	time.Sleep(100 * time.Millisecond)
	select {
	case <-freed:
		t.Fatal("freed while a request was waiting")
	default:
	}
	<-l.waiting
	select {
	case <-freed:
	case <-time.After(10 * time.Second):
		t.Fatal("not freed once idle")
	}
}

package server

import (
	"testing"
	"time"
)

// TestPendingSlotFreedByItsOwnGate: a handshake begun under one Gate and
// ended under another (a daemon's reload between two legs) gives its slot
// back to the Gate that counted it.
func TestPendingSlotFreedByItsOwnGate(t *testing.T) {
	a := &connTracker{max: 10, perClient: 10, ttl: time.Minute}
	b := &connTracker{max: 10, perClient: 10, ttl: time.Minute}
	ci := &connInfo{client: "192.0.2.1"}
	if !a.start(ci, "NTLM", "leg 1") {
		t.Fatal("no slot")
	}
	b.take(ci, "NTLM")
	if a.pending != 0 || b.pending != 0 || len(a.byClient) != 0 || len(b.byClient) != 0 {
		t.Fatalf("pending: a=%d b=%d, want 0 0", a.pending, b.pending)
	}
}

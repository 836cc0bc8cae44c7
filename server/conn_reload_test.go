package server

import "testing"

// TestPendingSlotFreedByItsOwnGate: a handshake begun under one Gate and
// ended under another (a daemon's reload between two legs) gives its slot
// back to the Gate that counted it.
func TestPendingSlotFreedByItsOwnGate(t *testing.T) {
	var a, b connTracker
	ci := &connInfo{}
	if !a.startPending(ci, "leg 1") {
		t.Fatal("no slot")
	}
	b.takePending(ci)
	if a.pending.Load() != 0 || b.pending.Load() != 0 {
		t.Fatalf("pending: a=%d b=%d, want 0 0", a.pending.Load(), b.pending.Load())
	}
}

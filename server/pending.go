package server

import (
	"sync"
	"time"
)

// Half-finished handshakes kept on connections, bounded.
//
// Limits (ntlm.max_pending, ntlm.max_pending_per_client,
// ntlm.handshake_timeout): a half-finished handshake costs a few hundred
// bytes and a timer; at most DefaultMaxPending exist at once and
// DefaultMaxPendingPerClient per client address, so neither a flood of
// NEGOTIATEs nor one client holding many connections can exhaust memory or
// lock others out; each expires after DefaultHandshakeTimeout (a real
// client answers a CHALLENGE within milliseconds), freeing its slot and
// closing its connection whether or not the client keeps it open.
const (
	DefaultMaxPending          = 10000
	DefaultMaxPendingPerClient = 64
	DefaultHandshakeTimeout    = 30 * time.Second
)

// handshake is a half-finished exchange kept on a connection: the
// mechanism's typed context (*ntlm.Acceptor for the NTLM scheme,
// *spnego.Acceptor for Negotiate) and its expiry.
type handshake struct {
	scheme string
	ctx    any
	timer  *time.Timer
	// owner is the tracker whose counters hold the slot: the Gate that
	// began the handshake, which after a daemon's reload may not be the
	// one that ends it.
	owner *connTracker
}

// connTracker hands each connection its connInfo and counts pending
// handshakes, in all and per client address.
type connTracker struct {
	max, perClient int
	ttl            time.Duration

	mu       sync.Mutex
	pending  int
	byClient map[string]int

	conns    sync.Map // net.Conn -> *connInfo (ConnContext installed)
	implicit sync.Map // implicitKey -> *connInfo (no ConnContext)
}

// start keeps ctx as ci's handshake in progress, replacing any other. It
// returns false when the caps are reached.
func (t *connTracker) start(ci *connInfo, scheme string, ctx any) bool {
	ci.mu.Lock()
	defer ci.mu.Unlock()
	if old := ci.pending; old != nil {
		// the connection's slot goes to the new handshake
		old.timer.Stop()
		h := &handshake{scheme: scheme, ctx: ctx, owner: old.owner}
		h.timer = t.expire(ci, h)
		ci.pending = h
		return true
	}
	t.mu.Lock()
	if t.pending >= t.max || t.byClient[ci.client] >= t.perClient {
		t.mu.Unlock()
		return false
	}
	t.pending++
	if t.byClient == nil {
		t.byClient = map[string]int{}
	}
	t.byClient[ci.client]++
	t.mu.Unlock()
	h := &handshake{scheme: scheme, ctx: ctx, owner: t}
	h.timer = t.expire(ci, h)
	ci.pending = h
	return true
}

// expire frees h's slot after the handshake timeout and closes the
// connection: a client that does not finish in time gets no second chance
// on it, and cannot keep the slot by keeping the connection open.
func (t *connTracker) expire(ci *connInfo, h *handshake) *time.Timer {
	return time.AfterFunc(t.ttl, func() {
		ci.mu.Lock()
		if ci.pending != h {
			ci.mu.Unlock()
			return
		}
		t.clear(ci)
		c := ci.conn
		ci.mu.Unlock()
		if c != nil {
			c.Close()
		}
	})
}

// take returns and clears ci's handshake for scheme; nil when there is
// none (never started, expired, or started under another scheme).
func (t *connTracker) take(ci *connInfo, scheme string) any {
	ci.mu.Lock()
	defer ci.mu.Unlock()
	h := ci.pending
	if h == nil {
		return nil
	}
	t.clear(ci)
	if h.scheme != scheme {
		return nil
	}
	return h.ctx
}

// clear ends ci's handshake (ci.mu held).
func (t *connTracker) clear(ci *connInfo) {
	h := ci.pending
	if h == nil {
		return
	}
	h.timer.Stop()
	ci.pending = nil
	t = h.owner // the slot goes back where it was counted
	t.mu.Lock()
	t.pending--
	if t.byClient[ci.client]--; t.byClient[ci.client] <= 0 {
		delete(t.byClient, ci.client)
	}
	t.mu.Unlock()
}

// drop forgets a closed connection.
func (t *connTracker) drop(ci *connInfo) {
	ci.mu.Lock()
	t.clear(ci)
	ci.id = nil
	ci.mu.Unlock()
}

// Pending returns the number of half-finished handshakes, for tests and
// metrics.
func (g *Gate) Pending() int64 {
	g.conns.mu.Lock()
	defer g.conns.mu.Unlock()
	return int64(g.conns.pending)
}

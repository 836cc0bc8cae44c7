package server

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Connection-bound authentication (NTLM, and Negotiate when it falls back
// to NTLM) keeps its handshake state with the TCP connection, as IIS and
// HttpListener do: the CHALLENGE a connection got is only good on that
// connection, and once authenticated the connection stays so for later
// requests (unless the site turns that off).
//
// Limits: a half-finished handshake costs a few hundred bytes; at most
// maxPendingHandshakes may exist at once, so a flood of NEGOTIATE messages
// on idle connections cannot exhaust memory, and each expires after
// handshakeTTL (a real client answers a CHALLENGE within milliseconds).
const (
	maxPendingHandshakes = 10000
	handshakeTTL         = 30 * time.Second
)

// connInfo is the state of one client connection.
type connInfo struct {
	mu       sync.Mutex
	pending  any       // scheme-specific handshake in progress
	started  time.Time // when pending began
	// reserved is the tracker whose counter pending holds a slot in: the
	// Gate that began the handshake, which after a daemon's reload may
	// not be the one that ends it.
	reserved *connTracker
	id       *Identity // identity the connection authenticated as
	idScheme string    // which scheme authenticated it
}

type connKey struct{}

// connTracker hands each connection its connInfo and counts pending
// handshakes across all connections.
type connTracker struct {
	max     int64 // maxPendingHandshakes unless a test lowers it
	pending atomic.Int64
	conns   sync.Map // net.Conn -> *connInfo
}

// ConnContext is for http.Server.ConnContext: it gives each connection
// the state connection-bound schemes need. Server.Run installs it; a
// program using Gate with its own http.Server must install it and
// ConnState too, or NTLM will refuse to run.
func (g *Gate) ConnContext(ctx context.Context, c net.Conn) context.Context {
	ci := &connInfo{}
	g.conns.conns.Store(c, ci)
	return context.WithValue(ctx, connKey{}, ci)
}

// ConnState is for http.Server.ConnState: it drops a connection's state,
// and its pending handshake, when the connection closes.
func (g *Gate) ConnState(c net.Conn, s http.ConnState) {
	if s != http.StateClosed && s != http.StateHijacked {
		return
	}
	if v, ok := g.conns.conns.LoadAndDelete(c); ok {
		ci := v.(*connInfo)
		ci.mu.Lock()
		g.conns.clearPending(ci)
		ci.id = nil
		ci.mu.Unlock()
	}
}

func connFrom(r *http.Request) *connInfo {
	ci, _ := r.Context().Value(connKey{}).(*connInfo)
	return ci
}

// startPending records a new handshake on ci (ci.mu held). It returns
// false when too many handshakes are pending.
func (t *connTracker) startPending(ci *connInfo, state any) bool {
	if ci.reserved == nil {
		limit := t.max
		if limit == 0 {
			limit = maxPendingHandshakes
		}
		if t.pending.Add(1) > limit {
			t.pending.Add(-1)
			return false
		}
		ci.reserved = t
	}
	ci.pending, ci.started = state, time.Now()
	return true
}

// takePending returns and clears ci's handshake if it has not expired
// (ci.mu held).
func (t *connTracker) takePending(ci *connInfo) any {
	p := ci.pending
	expired := time.Since(ci.started) > handshakeTTL
	t.clearPending(ci)
	if expired {
		return nil
	}
	return p
}

func (t *connTracker) clearPending(ci *connInfo) {
	if ci.reserved != nil {
		ci.reserved.pending.Add(-1)
		ci.reserved = nil
	}
	ci.pending = nil
}

// Pending returns the number of half-finished handshakes, for tests and
// metrics.
func (g *Gate) Pending() int64 { return g.conns.pending.Load() }

package server

import (
	"context"
	"net"
	"net/http"
	"runtime"
	"sync"
	"weak"
)

// Connection-bound authentication (NTLM, and any Negotiate exchange that
// needs more than one request) keeps its handshake with the TCP connection,
// as IIS and HttpListener do: the CHALLENGE a connection got is only good
// on that connection, and once authenticated by NTLM the connection stays
// so for later requests (unless the site turns that off). The handshakes
// in progress are counted and bounded in pending.go.
// connInfo is the state of one client connection.
type connInfo struct {
	mu       sync.Mutex
	conn     net.Conn   // nil when found without ConnContext (cannot be closed)
	client   string     // client address without the port: the per-client cap's key
	pending  *handshake // handshake in progress
	id       *Identity  // identity the connection authenticated as
	idScheme string     // which scheme authenticated it
}

type connKey struct{}

// ConnContext is for http.Server.ConnContext, with ConnState: the
// connection's state is then dropped as soon as it closes, and a handshake
// that expires closes its connection. Without them the Gate still works:
// it finds a connection's state by the connection's own address objects
// (see implicitConn).
func (g *Gate) ConnContext(ctx context.Context, c net.Conn) context.Context {
	ci := &connInfo{conn: c, client: hostOf(c.RemoteAddr().String())}
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
		g.conns.drop(v.(*connInfo))
	}
}

// implicitKey names a connection without ConnContext: the address object
// net/http stores once per connection under http.LocalAddrContextKey
// (weakly: a key never matches a later connection, even one allocated at
// the same address) and the client's address (so that two live
// connections can never share state even if a listener returned one
// address object for several).
type implicitKey struct {
	tcp    weak.Pointer[net.TCPAddr]
	unix   weak.Pointer[net.UnixAddr]
	remote string
}

func implicitKeyOf(r *http.Request) (implicitKey, any, bool) {
	k := implicitKey{remote: r.RemoteAddr}
	switch a := r.Context().Value(http.LocalAddrContextKey).(type) {
	case *net.TCPAddr:
		k.tcp = weak.Make(a)
		return k, a, true
	case *net.UnixAddr:
		k.unix = weak.Make(a)
		return k, a, true
	}
	return k, nil, false
}

// connOf returns the request's connection state: from ConnContext, else
// found by implicitKey; create makes it when there is none yet. nil when
// the server gives no way to tell connections apart.
func (g *Gate) connOf(r *http.Request, create bool) *connInfo {
	if ci, ok := r.Context().Value(connKey{}).(*connInfo); ok {
		return ci
	}
	k, addr, ok := implicitKeyOf(r)
	if !ok {
		return nil
	}
	if v, ok := g.conns.implicit.Load(k); ok {
		return v.(*connInfo)
	}
	if !create {
		return nil
	}
	v, loaded := g.conns.implicit.LoadOrStore(k, &connInfo{client: hostOf(r.RemoteAddr)})
	ci := v.(*connInfo)
	if !loaded {
		// When the connection's address object is collected, the
		// connection is gone: drop its state.
		t := &g.conns
		drop := func(k implicitKey) {
			if v, ok := t.implicit.LoadAndDelete(k); ok {
				t.drop(v.(*connInfo))
			}
		}
		switch a := addr.(type) {
		case *net.TCPAddr:
			runtime.AddCleanup(a, drop, k)
		case *net.UnixAddr:
			runtime.AddCleanup(a, drop, k)
		}
	}
	return ci
}

// authenticated is the identity ci authenticated as, if any.
func (ci *connInfo) authenticated() *Identity {
	ci.mu.Lock()
	defer ci.mu.Unlock()
	return ci.id
}

func (ci *connInfo) setIdentity(id *Identity, scheme string) {
	ci.mu.Lock()
	ci.id, ci.idScheme = id, scheme
	ci.mu.Unlock()
}

// hostOf is the address of "host:port" without the port.
func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

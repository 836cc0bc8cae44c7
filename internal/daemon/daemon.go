// Package daemon runs Gatehouse from its configuration: it turns a
// config.Config into listeners, certificates, the account store, the
// Kerberos acceptor, the winbind helper, metrics and a server.Gate, and
// keeps them for the life of `gatehouse serve` — reloads included.
//
// It is the only package that reads config; package server is the
// middleware a Go program imports without any of this.
//
// Everything one configuration opens belongs to a generation. A reload
// (SIGHUP, or a keytab that changed on disk) builds a new generation
// beside the running one and swaps it in atomically; requests in flight
// finish on the old one, which is closed when the last of them is done.
// Listeners are kept across generations when their address stays, so
// connections are not dropped; only those whose address went away are
// shut down gracefully.
//
// What a generation opens is closed by its closers, in one place
// (generation.closeNow). What consecutive generations share (the account
// store, the winbind helper, the metrics registry) lives in shared. There
// is one metrics registry for the process, so counts go on across
// reloads: code that registers per generation must adopt an existing
// collector (server's adopt), register once (registerOnce) or replace
// (replace); a plain MustRegister of a new collector panics at the first
// reload.
package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-auth/gatehouse/cluster"
	"github.com/gatehouse-auth/gatehouse/config"
	"github.com/gatehouse-auth/gatehouse/krb"
)

// Timeouts and limits of the HTTP servers. A slow client holding a
// connection open without sending its headers is dropped after
// readHeaderTimeout; maxHeaderBytes leaves room for a 16 KiB Kerberos token
// plus ordinary headers, as IIS's MaxRequestBytes does.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 2 * time.Minute
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
	shutdownTimeout   = 10 * time.Second
)

// keytabPoll is how often the keytab's size and modification time are
// looked at: MIT's acceptor rereads a keytab on use, and administrators
// rotate keys (kadmin ktadd, a password change) expecting that. A second
// is short next to the minutes a new kvno takes to reach clients' caches.
const keytabPoll = time.Second

// Running is a started daemon.
type Running struct {
	log *slog.Logger
	// rcache is kept across generations: a reload must not forget
	// authenticators. Its size (kerberos.replay_cache_entries) is the
	// first configuration's until a restart.
	rcache *krb.MemoryReplayCache
	shared shared // account store, winbind helper
	// redis is the state of cluster.redis, kept across generations (a
	// changed URL takes a restart); nil without it.
	redis  *cluster.Store
	notify func(state string)

	mu        sync.Mutex // serializes Reload and Shutdown
	cfg       *config.Config
	listeners []*listener
	closed    bool

	cur  atomic.Pointer[generation]
	done chan error
	stop chan struct{}
}

// listener is one open address; it outlives generations.
type listener struct {
	key   string // addr, TLS or not, admin or not, occurrence
	addr  string
	admin bool
	tls   bool
	index int // in cfg.Listen when opened (for messages), -1 for admin
	srv   *http.Server
	ln    net.Listener
	// conns remembers which generation's Gate a connection was handed
	// to, so that its close goes to the same one.
	conns sync.Map // net.Conn -> *generation
	// closing: its socket was closed on purpose (Serve's error is not a
	// failure of the daemon).
	closing atomic.Bool
}

// Options tune Start.
type Options struct {
	// Notify, when set, is told READY=1, RELOADING=1 and STOPPING=1 (the
	// sd_notify states).
	Notify func(state string)
}

// Start builds the first generation and opens every listener.
func Start(cfg *config.Config, log *slog.Logger, opts Options) (*Running, error) {
	if log == nil {
		log = slog.Default()
	}
	if opts.Notify == nil {
		opts.Notify = func(string) {}
	}
	r := &Running{log: log, notify: opts.Notify, rcache: krb.NewReplayCache(cfg.Kerberos.ReplayCacheEntries),
		done: make(chan error, 1), stop: make(chan struct{})}
	var err error
	if cfg.Cluster.Redis != "" {
		if r.redis, err = openShared(cfg, log); err != nil {
			return nil, err
		}
	}
	g, err := build(cfg, log, r.rcache, &r.shared, r.redis, false)
	if err != nil && r.redis != nil {
		r.redis.Close()
	}
	if err != nil {
		return nil, err
	}
	r.cur.Store(g)
	if _, err := r.openListeners(cfg, g); err != nil {
		g.retire()
		if r.redis != nil {
			r.redis.Close()
		}
		return nil, err
	}
	r.cfg = cfg
	g.logStarted(log)
	go r.watchKeytab()
	r.notify("READY=1")
	return r, nil
}

// listenerKeys lists the listeners cfg asks for, in order.
func listenerKeys(cfg *config.Config) []*listener {
	var out []*listener
	seen := map[string]int{}
	add := func(addr string, isTLS, admin bool, index int) {
		k := fmt.Sprintf("%s|tls=%v|admin=%v", addr, isTLS, admin)
		seen[k]++
		out = append(out, &listener{key: fmt.Sprintf("%s|%d", k, seen[k]), addr: addr, tls: isTLS, admin: admin, index: index})
	}
	for i, l := range cfg.Listen {
		add(l.Addr, l.TLS != nil, false, i)
	}
	if cfg.Admin.Addr != "" {
		add(cfg.Admin.Addr, false, true, -1)
	}
	return out
}

// openListeners makes the listener set match cfg: it keeps those whose key
// is unchanged, opens new ones and returns those to retire. A new listener
// on the address of one going away (TLS turned on or off there) takes the
// socket over: the old one stops accepting first, its connections drain
// with the rest of the retired. On error nothing changes: whatever was
// opened is closed, and an address given up is taken back.
func (r *Running) openListeners(cfg *config.Config, g *generation) (retired []*listener, err error) {
	wants := listenerKeys(cfg)
	wanted := map[string]bool{}
	for _, w := range wants {
		wanted[w.key] = true
	}
	old := map[string]*listener{}
	going := map[string]*listener{} // by address, of those not wanted any more
	for _, l := range r.listeners {
		old[l.key] = l
		if !wanted[l.key] && !strings.HasSuffix(l.addr, ":0") {
			going[l.addr] = l
		}
	}
	next := make([]*listener, len(wants))
	var opened, takeovers []*listener
	undo := func() {
		for _, l := range opened {
			l.closing.Store(true)
			l.ln.Close()
		}
	}
	for i, want := range wants {
		if l, ok := old[want.key]; ok {
			next[i] = l
			delete(old, want.key)
			continue
		}
		next[i] = want
		if _, ok := going[want.addr]; ok {
			takeovers = append(takeovers, want) // after every other open
			continue
		}
		if err := r.open(want); err != nil {
			undo()
			return nil, err
		}
		opened = append(opened, want)
	}
	var given []*listener // old listeners whose socket was given up
	for _, want := range takeovers {
		prev := going[want.addr]
		prev.closing.Store(true)
		prev.ln.Close()
		given = append(given, prev)
		if err := r.open(want); err != nil {
			undo()
			r.takeBack(given, g)
			return nil, err
		}
		opened = append(opened, want)
	}
	for _, l := range opened {
		r.serve(l, g)
	}
	for _, l := range old {
		retired = append(retired, l)
	}
	r.listeners = next
	return retired, nil
}

// takeBack reopens the addresses of listeners whose socket a failed
// reload gave up: each gets a new socket and server under the same key,
// and the old server drains its connections.
func (r *Running) takeBack(given []*listener, g *generation) {
	for _, prev := range given {
		l := &listener{key: prev.key, addr: prev.addr, tls: prev.tls, admin: prev.admin, index: prev.index}
		for i, cur := range r.listeners {
			if cur == prev {
				r.listeners[i] = l
			}
		}
		go drain(prev, r.log)
		if err := r.open(l); err != nil {
			r.log.Error("a listener given up by a failed reload could not be reopened", "addr", prev.addr, "error", err)
			l.srv, l.ln = &http.Server{}, nil
			continue
		}
		r.serve(l, g)
	}
}

// drain shuts l's server down gracefully.
func drain(l *listener, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	l.closing.Store(true)
	l.srv.Shutdown(ctx)
	if l.ln != nil {
		log.Info("stopped listening", "addr", l.ln.Addr().String())
	}
}

// open binds l's address and builds its http.Server; it serves the
// current generation, whichever that is when a request comes.
func (r *Running) open(l *listener) error {
	ln, err := net.Listen("tcp", l.addr)
	if err != nil {
		if l.admin {
			return fmt.Errorf("daemon: admin.addr %s: %w", l.addr, err)
		}
		return fmt.Errorf("daemon: listen[%d] %s: %w", l.index, l.addr, err)
	}
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetHTTP2(true) // over TLS only, when the generation's ALPN offers h2
	l.srv = &http.Server{
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		// net/http's own messages (TLS handshake errors…) say which listener
		ErrorLog:  slog.NewLogLogger(r.log.With("listener", ln.Addr().String()).Handler(), slog.LevelDebug),
		Protocols: &protos,
	}
	if l.admin {
		l.srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			g := r.acquire()
			defer g.release()
			g.admin.ServeHTTP(w, req)
		})
	} else {
		l.srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			g := r.acquire()
			defer g.release()
			g.public.ServeHTTP(w, req)
		})
		l.srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
			g := r.cur.Load()
			l.conns.Store(c, g)
			if cs, ok := g.certs[l.key]; ok && cs.leaf != nil {
				return g.gate.TLSConnContext(cs.leaf)(ctx, c)
			}
			return g.gate.ConnContext(ctx, c)
		}
		l.srv.ConnState = func(c net.Conn, s http.ConnState) {
			if s != http.StateClosed && s != http.StateHijacked {
				return
			}
			if v, ok := l.conns.LoadAndDelete(c); ok {
				v.(*generation).gate.ConnState(c, s)
			}
		}
	}
	if l.tls {
		// Each handshake takes the current generation's certificate and
		// client-certificate settings, so a reload changes them for new
		// connections without closing the listener.
		// NextProtos here only tells net/http to set up HTTP/2; the
		// generation's config decides what is offered.
		tc := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}, GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			c, ok := r.cur.Load().certs[l.key]
			if !ok {
				return nil, errors.New("daemon: this listener is closing")
			}
			return c.config, nil
		}}
		l.srv.TLSConfig = tc
		ln = tls.NewListener(ln, tc)
	}
	l.ln = ln
	return nil
}

func (r *Running) serve(l *listener, g *generation) {
	scheme := "http"
	if l.tls {
		scheme = "https"
	}
	if l.admin {
		r.log.Info("admin listening", "url", scheme+"://"+l.ln.Addr().String()+"/", "paths", "/metrics /healthz /readyz")
	} else {
		r.log.Info("listening", "url", scheme+"://"+l.ln.Addr().String()+"/")
	}
	go func() {
		if err := l.srv.Serve(l.ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !l.closing.Load() {
			select {
			case r.done <- fmt.Errorf("%s: %w", l.addr, err):
			default:
			}
		}
	}()
}

// acquire returns the current generation, counted as in use until
// release: a retired generation closes when its last request ends.
func (r *Running) acquire() *generation {
	for {
		g := r.cur.Load()
		g.refs.Add(1)
		if r.cur.Load() == g {
			return g
		}
		g.release()
	}
}

// Reload builds a generation from cfg and swaps it in. On error the
// running generation stays and the error says why.
func (r *Running) Reload(cfg *config.Config) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return errors.New("daemon: shutting down")
	}
	r.notify(fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", monotonicUsec()))
	defer r.notify("READY=1")
	if cfg.Cluster.Redis != r.cfg.Cluster.Redis {
		return fmt.Errorf("daemon: cluster.redis changed: a restart takes a new Redis (the running one is kept)")
	}
	if cfg.Cluster.CAFile != r.cfg.Cluster.CAFile {
		return fmt.Errorf("daemon: cluster.ca_file changed: a restart takes it (the running connection is kept)")
	}
	g, err := build(cfg, r.log, r.rcache, &r.shared, r.redis, false)
	if err != nil {
		return err
	}
	prev := r.cur.Load()
	r.cur.Store(g) // before the new listeners serve, so they never see prev
	retired, err := r.openListeners(cfg, g)
	if err != nil {
		r.cur.Store(prev)
		g.retire()
		return err
	}
	r.cfg = cfg
	prev.retire()
	for _, l := range retired {
		go drain(l, r.log)
	}
	r.log.Info("configuration reloaded", "sites", len(cfg.Sites), "listeners", len(r.listeners))
	return nil
}

// Config returns the configuration running now.
func (r *Running) Config() *config.Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cfg
}

// watchKeytab reloads when the keytab's size or modification time
// changes. A keytab that does not load leaves the running generation (and
// is logged once per change).
func (r *Running) watchKeytab() {
	t := time.NewTicker(keytabPoll)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		g := r.cur.Load()
		if g.keytabPath == "" {
			continue
		}
		st := statOf(g.keytabPath)
		if st == g.keytabStat || st == g.keytabSeen.Load() {
			continue
		}
		g.keytabSeen.Store(st)
		r.log.Info("the keytab changed on disk; reloading", "keytab", g.keytabPath)
		if err := r.Reload(r.Config()); err != nil {
			r.log.Error("keytab reload failed; the running configuration stays", "error", err)
		}
	}
}

// fileStat is what tells a changed file.
type fileStat struct {
	size  int64
	mtime int64
	ino   uint64
}

func statOf(path string) fileStat {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStat{size: -1}
	}
	return fileStat{size: fi.Size(), mtime: fi.ModTime().UnixNano(), ino: inode(fi)}
}

// Wait blocks until ctx ends (then shuts down gracefully) or a listener
// fails.
func (r *Running) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		r.log.Info("shutting down")
		return r.Shutdown()
	case err := <-r.done:
		r.close()
		return fmt.Errorf("daemon: %w", err)
	}
}

// Shutdown stops accepting, lets requests in flight finish (up to
// shutdownTimeout) and closes everything the generations opened.
func (r *Running) Shutdown() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	r.notify("STOPPING=1")
	close(r.stop)
	r.cur.Load().ready.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	var first error
	for _, l := range r.listeners {
		if err := l.srv.Shutdown(ctx); err != nil && first == nil {
			first = err
		}
	}
	r.cur.Load().retire()
	if r.redis != nil {
		r.redis.Close()
	}
	return first
}

func (r *Running) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.closed = true
	close(r.stop)
	for _, l := range r.listeners {
		l.srv.Close()
	}
	r.cur.Load().retire()
	if r.redis != nil {
		r.redis.Close()
	}
}

// localDomain is the NetBIOS-style computer name reported as the domain of
// local accounts, as a Windows workgroup server does.
func localDomain() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "GATEHOUSE"
	}
	h, _, _ = strings.Cut(h, ".")
	if len(h) > 15 {
		h = h[:15]
	}
	return strings.ToUpper(h)
}

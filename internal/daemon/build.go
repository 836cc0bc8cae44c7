package daemon

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehouse-auth/gatehouse/accounts"
	"github.com/gatehouse-auth/gatehouse/authz"
	"github.com/gatehouse-auth/gatehouse/client"
	"github.com/gatehouse-auth/gatehouse/cluster"
	"github.com/gatehouse-auth/gatehouse/config"
	"github.com/gatehouse-auth/gatehouse/digest"
	"github.com/gatehouse-auth/gatehouse/epa"
	"github.com/gatehouse-auth/gatehouse/internal/seal"
	"github.com/gatehouse-auth/gatehouse/krb"
	"github.com/gatehouse-auth/gatehouse/ntlm"
	"github.com/gatehouse-auth/gatehouse/server"
)

// generation is everything one configuration opened.
type generation struct {
	cfg    *config.Config
	gate   *server.Gate
	public http.Handler          // the public listeners' handler
	admin  http.Handler          // the admin listener's
	certs  map[string]*certState // by listener key
	store  *accounts.Store
	domain string
	dbPath string

	keytabPath string
	keytabStat fileStat     // when it was read
	keytabSeen atomic.Value // fileStat a reload was last tried for

	ready   atomic.Bool
	closers []func() // in the order opened; run in reverse
	refs    atomic.Int64
	retired atomic.Bool
	once    sync.Once
	closed  atomic.Bool // for tests
}

// certState is one TLS listener's configuration in a generation.
type certState struct {
	config *tls.Config
	leaf   *x509.Certificate
}

func (g *generation) release() {
	if g.refs.Add(-1) == 0 && g.retired.Load() {
		g.closeNow()
	}
}

// retire marks g replaced; it closes when its last request ends.
func (g *generation) retire() {
	g.ready.Store(false)
	g.retired.Store(true)
	if g.refs.Load() == 0 {
		g.closeNow()
	}
}

// closeNow closes, once, everything g opened: the one place it is done.
func (g *generation) closeNow() {
	g.once.Do(func() {
		g.closed.Store(true)
		for i := len(g.closers) - 1; i >= 0; i-- {
			g.closers[i]()
		}
	})
}

func (g *generation) logStarted(log *slog.Logger) {
	if accs, err := g.store.List(); err == nil && len(accs) == 0 {
		log.Info("the account store is empty; add an account with: gatehouse accounts add NAME --db " + g.dbPath)
	}
	log.Info("sites", "count", len(g.cfg.Sites), "domain", g.domain, "realm", g.store.Realm(), "accounts", g.dbPath)
}

// build opens what cfg names and builds the Gate; what sh holds (the
// account store, the winbind helper) is shared with the generations that
// use the same. dry (serve --check)
// creates no file: secrets and certificates that do not exist yet are
// made in memory, and a missing account store is a temporary one. On
// error, whatever build opened is closed.
// redis, when cluster.redis is set, is the state every instance shares:
// the replay cache, Digest nonce counts and the secrets come from it.
func build(cfg *config.Config, log *slog.Logger, rcache *krb.MemoryReplayCache, sh *shared, redis *cluster.Store, dry bool) (_ *generation, err error) {
	g := &generation{cfg: cfg, certs: map[string]*certState{}}
	defer func() {
		if err != nil {
			g.closeNow()
		}
	}()
	stateDir := cfg.Path(cfg.StateDir)
	if !dry {
		if err := os.MkdirAll(stateDir, 0o700); err != nil {
			return nil, fmt.Errorf("daemon: state_dir: %w", err)
		}
	}
	secret, err := loadKey(filepath.Join(stateDir, "secret.key"), dry)
	if err != nil {
		return nil, err
	}
	if redis != nil {
		if secret, err = sharedSecret(redis, "digest"); err != nil {
			return nil, err
		}
	}
	// the unknown-user stand-in hash is made now, not on the first probe
	go accounts.DummyVerify("")
	g.dbPath = cfg.Path(cfg.Accounts)
	dbPath := g.dbPath
	if dry {
		if _, err := os.Stat(dbPath); errors.Is(err, os.ErrNotExist) {
			tmp, err := os.MkdirTemp("", "gatehouse-check-")
			if err != nil {
				return nil, err
			}
			g.closers = append(g.closers, func() { os.RemoveAll(tmp) })
			dbPath = filepath.Join(tmp, "accounts.db")
		}
	}
	st, err := sh.get(g, "accounts\x00"+dbPath+"\x00"+cfg.Realm, func() (any, func(), error) {
		st, err := accounts.Open(dbPath, cfg.Realm)
		if err != nil {
			return nil, nil, fmt.Errorf("daemon: accounts: %w", err)
		}
		return st, func() { st.Close() }, nil
	})
	if err != nil {
		return nil, err
	}
	g.store = st.(*accounts.Store)
	g.domain = cfg.NTLM.Domain
	if g.domain == "" {
		g.domain = localDomain()
	}
	reg := sh.registry()
	var ntlmVerify ntlm.Verifier
	if cfg.NTLM.Verifier == "winbind" {
		wb, err := sh.get(g, "winbind\x00"+cfg.NTLM.NTLMAuth, func() (any, func(), error) {
			wb, err := newWinbind(cfg.NTLM.NTLMAuth)
			if err != nil {
				return nil, nil, err
			}
			return wb, wb.Close, nil
		})
		if err != nil {
			return nil, err
		}
		ntlmVerify = wb.(*winbind).Verify
	}
	var acceptor *krb.Acceptor
	var kt *keytab.Keytab
	if cfg.Kerberos.Keytab != "" {
		g.keytabPath = cfg.Path(cfg.Kerberos.Keytab)
		g.keytabStat = statOf(g.keytabPath)
		if acceptor, kt, err = newKerberos(cfg, rcache, redis, log, reg); err != nil {
			return nil, err
		}
	}
	krb5Conf := ""
	if cfg.Kerberos.Krb5Conf != "" {
		krb5Conf = cfg.Path(cfg.Kerberos.Krb5Conf)
	}
	var dir server.GroupDirectory
	if cfg.Directory != nil {
		d, err := newDirectory(cfg, kt, krb5Conf, log, !dry) // dry: the directory is not asked
		if err != nil {
			return nil, err
		}
		g.closers = append(g.closers, func() { d.Close() })
		dir = d
	}
	var basicKDC *server.KDCVerifier
	if cfg.Basic.Verifier == "kerberos" {
		if basicKDC, err = newBasicKDC(cfg, kt, krb5Conf); err != nil {
			return nil, err
		}
	}
	var serviceAccount *client.ServiceAccount
	for _, s := range cfg.Sites {
		if (s.UpstreamAuth == "constrained" || s.UpstreamAuth == "service") && serviceAccount == nil && !dry { // dry: no AS exchange
			if serviceAccount, err = newServiceAccount(cfg, kt, krb5Conf); err != nil {
				return nil, err
			}
		}
	}
	tokens, ccaches, err := frontEnds(cfg, stateDir, redis, log, dry)
	if err != nil {
		return nil, err
	}
	if ccaches != nil {
		g.closers = append(g.closers, ccaches.Close)
	}
	if redis != nil {
		registerOnce(reg, redis.Collectors()...)
	}
	ops := opsHandler(reg, &g.ready, redis)
	var sessionKeys [][]byte
	var upstreamMetrics *prometheus.CounterVec
	sites := make([]server.Site, 0, len(cfg.Sites))
	for i, s := range cfg.Sites {
		key := fmt.Sprintf("sites[%d] (%s)", i, s.Path)
		site := server.Site{Path: s.Path, Schemes: s.Auth, BasicOverHTTP: s.BasicOverHTTP, Sessions: s.Sessions}
		if s.Sessions && sessionKeys == nil {
			if sessionKeys, err = loadKeys(filepath.Join(stateDir, "session.keys"), dry); err != nil {
				return nil, err
			}
			if redis != nil {
				if sessionKeys, err = sharedSecrets(redis, "session"); err != nil {
					return nil, err
				}
			}
		}
		for _, ry := range s.Authorization {
			rule, err := ry.Rule()
			if err != nil {
				return nil, err
			}
			site.Rules = append(site.Rules, rule)
		}
		switch s.Handler {
		case "static":
			root := cfg.Path(s.Root)
			if _, err := os.Stat(root); err != nil {
				return nil, fmt.Errorf("daemon: %s.root: %w", key, err)
			}
			if s.FileAuthorization {
				site.Handler = server.StaticWithFileAuthz(s.Path, root)
			} else {
				site.Handler = server.Static(s.Path, root)
			}
		case "bits_upload":
			root := cfg.Path(s.Root)
			if st, err := os.Stat(root); err != nil || !st.IsDir() {
				return nil, fmt.Errorf("daemon: %s.root: %s is not a directory to upload into", key, root)
			}
			if dry {
				site.Handler = http.NotFoundHandler()
				break
			}
			h, err := server.BITSUpload(s.Path, root, server.BITSOptions{MaxSize: s.MaxUploadSize, SessionTimeout: s.UploadSessionTimeout, Logger: log})
			if err != nil {
				return nil, fmt.Errorf("daemon: %s: %w", key, err)
			}
			if c, ok := h.(io.Closer); ok {
				g.closers = append(g.closers, func() { c.Close() })
			}
			site.Handler = h
		case "proxy":
			if s.UpstreamAuth != "" && s.UpstreamAuth != "none" && upstreamMetrics == nil {
				upstreamMetrics = server.NewUpstreamMetrics(reg)
			}
			u, err := url.Parse(s.Upstream)
			if err != nil {
				return nil, fmt.Errorf("daemon: %s.upstream: %w", key, err)
			}
			if dry && (s.UpstreamAuth == "constrained" || s.UpstreamAuth == "service") {
				site.Handler = http.NotFoundHandler()
				break
			}
			var creds *client.Credentials
			if s.UpstreamAuth == "credentials" {
				if creds, err = client.LoadCredentialsFile(cfg.Path(s.UpstreamCredentials)); err != nil {
					return nil, fmt.Errorf("daemon: %s.upstream_credentials: %w", key, err)
				}
			}
			site.Handler, err = server.ProxyWith(u, server.ProxyOptions{Auth: s.UpstreamAuth, SPN: s.UpstreamSPN, Krb5Conf: krb5Conf, ServiceAccount: serviceAccount, Credentials: creds, ProtocolTransition: cfg.Kerberos.ProtocolTransition, Logger: log, Metrics: upstreamMetrics,
				Token: tokens, Ccaches: ccaches})
			if err != nil {
				return nil, err
			}
		default:
			site.Handler = server.WhoAmI()
			if cfg.Admin.Addr == "" {
				site.Handler = withOps(site.Handler, ops)
			}
		}
		sites = append(sites, site)
	}
	var algs []digest.Algorithm
	for _, a := range cfg.Digest.Algorithms {
		alg, err := digest.ParseAlgorithm(a)
		if err != nil {
			return nil, err
		}
		algs = append(algs, alg)
	}
	var top authz.Rules
	for _, ry := range cfg.Authorization {
		rule, err := ry.Rule()
		if err != nil {
			return nil, err
		}
		top = append(top, rule)
	}
	prot, proxies, err := protection(cfg)
	if err != nil {
		return nil, err
	}
	// Read on every build: a reload picks up a front end's new certificate.
	var feCertPaths []string
	for _, p := range cfg.ExtendedProtection.FrontEndCertificates {
		feCertPaths = append(feCertPaths, cfg.Path(p))
	}
	feCerts, err := server.LoadFrontEndCertificates(feCertPaths)
	if err != nil {
		return nil, err
	}
	// Client certificate CAs: each listener advertises its own; the sites
	// with certificate authentication verify against all of them.
	listenerCAs := make([]*x509.CertPool, len(cfg.Listen))
	var clientCAs *x509.CertPool
	for i, l := range cfg.Listen {
		if l.ClientCA == "" {
			continue
		}
		pemBytes, err := os.ReadFile(cfg.Path(l.ClientCA))
		if err != nil {
			return nil, fmt.Errorf("daemon: listen[%d].client_ca: %w", i, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("daemon: listen[%d].client_ca: no PEM certificate in %s", i, cfg.Path(l.ClientCA))
		}
		listenerCAs[i] = pool
		if clientCAs == nil {
			clientCAs = x509.NewCertPool()
		}
		clientCAs.AppendCertsFromPEM(pemBytes)
	}
	var crlPaths []string
	for _, p := range cfg.Certificate.CRL {
		crlPaths = append(crlPaths, cfg.Path(p))
	}
	crls, err := server.LoadCRLs(crlPaths)
	if err != nil {
		return nil, err
	}
	g.gate, err = server.New(server.Options{ClientCAs: clientCAs, ClientCRLs: crls, CertificateOCSP: cfg.Certificate.OCSP, CertificateMap: cfg.Certificate.Map, CertificateRequireAccount: cfg.Certificate.RequireAccount,
		Protection: prot, TrustedProxies: proxies, FrontEndCertificates: feCerts, AllowNTLMv1: cfg.NTLM.AllowNTLMv1, Computer: localDomain(), NTLMVerify: ntlmVerify, NoConnectionAuth: cfg.NTLM.ConnectionAuth != nil && !*cfg.NTLM.ConnectionAuth, Store: g.store, Realm: cfg.Realm, Domain: g.domain, Secret: secret, Logger: log, Registry: reg,
		DigestAlgorithms: algs, NonceLifetime: cfg.Digest.NonceLifetime,
		DigestNonceCounts: sharedNonceCounts(redis),
		SessionKeys:       sessionKeys, SessionLifetime: cfg.SessionLifetime, SessionRevalidate: cfg.SessionRevalidate, Kerberos: acceptor,
		MaxPendingHandshakes: cfg.NTLM.MaxPending, MaxPendingPerClient: cfg.NTLM.MaxPendingPerClient, HandshakeTimeout: cfg.NTLM.HandshakeTimeout,
		NegotiateMechanisms: cfg.Negotiate.Mechanisms, Authorization: top,
		Directory: dir, BasicKDC: basicKDC}, sites)
	if err != nil {
		return nil, err
	}
	g.public = withFrontEnds(cfg, g.gate, tokens, ccaches, g.gate.Wrap(http.NotFoundHandler()))
	g.public = server.BodyDeadline(g.public, cfg.Limits.RequestBodyTimeout, cfg.Limits.RequestBodyMinRate, readTimeout)
	if cfg.Log.Access {
		g.public = server.AccessLog(g.public, log)
	}
	g.admin = ops

	// Connection-bound schemes (NTLM, and Negotiate falling back to it)
	// need HTTP/1.1: an HTTP/2 connection multiplexes requests, so a
	// handshake bound to the connection would authenticate them all.
	connBound := false
	for _, s := range cfg.SchemesInUse() {
		if s == "ntlm" || s == "negotiate" {
			connBound = true
		}
	}
	keys := listenerKeys(cfg)
	for i, l := range cfg.Listen {
		if l.TLS == nil {
			continue
		}
		cert, err := loadCert(i, l, cfg, stateDir, log, dry)
		if err != nil {
			return nil, err
		}
		// TLS 1.2: AEAD suites only unless configured (TLS 1.3's are all AEAD)
		tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, CipherSuites: cfg.CipherSuiteIDs()}
		switch l.ClientCerts {
		case "optional":
			tc.ClientAuth = tls.RequestClientCert
		case "required":
			tc.ClientAuth = tls.RequireAnyClientCert
		}
		// Advertised in the CertificateRequest so that clients pick a
		// certificate these CAs issued; verified by the sites (a bad
		// certificate gets a 403 with the reason logged, not a TLS alert).
		tc.ClientCAs = listenerCAs[i]
		if !connBound {
			tc.NextProtos = []string{"h2", "http/1.1"}
		} else {
			tc.NextProtos = []string{"http/1.1"}
		}
		g.certs[keys[i].key] = &certState{config: tc, leaf: leaf(cert)}
	}
	g.ready.Store(true)
	return g, nil
}

// opsHandler serves /metrics, /healthz (the process answers) and /readyz
// (this configuration is the one serving, and not shutting down).
func opsHandler(reg *prometheus.Registry, ready *atomic.Bool, redis *cluster.Store) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		if !ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready")
			return
		}
		if redis != nil {
			if err := redis.Ready(); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprintln(w, "not ready: shared state (cluster.redis) unavailable")
				return
			}
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}

// opsPaths are served on the public listeners when there is no admin
// listener, and then only by whoami sites (static and proxy sites own
// every path under them) after the site's authentication and rules.
var opsPaths = map[string]bool{"/metrics": true, "/healthz": true, "/readyz": true}

func withOps(h, ops http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if opsPaths[r.URL.Path] && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			ops.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// loadKey is the first key of a key file (secret.key).
func loadKey(path string, dry bool) ([]byte, error) {
	keys, err := loadKeys(path, dry)
	if err != nil {
		return nil, err
	}
	return keys[0], nil
}

// loadKeys reads a key file, creating it unless dry (then a key is made
// in memory).
func loadKeys(path string, dry bool) ([][]byte, error) {
	if dry {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			k := make([]byte, seal.KeySize)
			if _, err := rand.Read(k); err != nil {
				return nil, err
			}
			return [][]byte{k}, nil
		}
	}
	keys, err := seal.LoadKeys(path)
	if err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	return keys, nil
}

// protection builds the Extended Protection policy.
func protection(cfg *config.Config) (epa.Policy, []netip.Prefix, error) {
	var p epa.Policy
	var err error
	ep := cfg.ExtendedProtection
	if p.Enforcement, err = epa.ParseEnforcement(ep.Enforcement); err != nil {
		return p, nil, err
	}
	if p.Scenario, err = epa.ParseScenario(ep.Scenario); err != nil {
		return p, nil, err
	}
	p.ServiceNames = ep.ServiceNames
	if len(p.ServiceNames) == 0 {
		var addrs []string
		for _, l := range cfg.Listen {
			addrs = append(addrs, l.Addr)
		}
		hosts := ep.HostNames
		if h, err := os.Hostname(); err == nil && h != "" {
			hosts = append(hosts, h)
		}
		p.ServiceNames = epa.DefaultServiceNames(addrs, hosts)
	}
	var proxies []netip.Prefix
	for _, s := range ep.TrustedProxies {
		pr, err := config.ParsePrefix(s)
		if err != nil {
			return p, nil, err
		}
		proxies = append(proxies, pr)
	}
	return p, proxies, nil
}

// newKerberos loads the keytab and builds the acceptor with the replay
// cache the daemon keeps, watched by log and reg.
func newKerberos(cfg *config.Config, rcache *krb.MemoryReplayCache, redis *cluster.Store, log *slog.Logger, reg prometheus.Registerer) (*krb.Acceptor, *keytab.Keytab, error) {
	path := cfg.Path(cfg.Kerberos.Keytab)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("daemon: kerberos.keytab: %w", err)
	}
	kt := keytab.New()
	if err := kt.Unmarshal(b); err != nil {
		return nil, nil, fmt.Errorf("daemon: kerberos.keytab %s: %w", path, err)
	}
	var rc krb.ReplayCache = rcache
	if redis != nil {
		rc = redis.ReplayCache()
	}
	a, err := krb.NewAcceptor(krb.Config{Keytab: kt, Principals: cfg.Kerberos.ServicePrincipals, ClockSkew: cfg.Kerberos.ClockSkew, ReplayCache: rc})
	if err != nil {
		return nil, nil, fmt.Errorf("daemon: kerberos.keytab %s: %w", path, err)
	}
	if redis == nil {
		watchReplayCache(a, rcache, log, reg)
	}
	return a, kt, nil
}

// newServiceAccount logs in as kerberos.service_account ("name@REALM",
// or a name whose realm the keytab gives) with the keytab's keys.
func newServiceAccount(cfg *config.Config, kt *keytab.Keytab, krb5Conf string) (*client.ServiceAccount, error) {
	kcfg, err := client.LoadKrb5Config(krb5Conf)
	if err != nil {
		return nil, fmt.Errorf("daemon: kerberos.service_account: %w", err)
	}
	name, realm, err := serviceAccountName(cfg, kt)
	if err != nil {
		return nil, err
	}
	sa, err := client.NewServiceAccount(kcfg, kt, name, realm)
	if err != nil {
		return nil, fmt.Errorf("daemon: kerberos.service_account: %w", err)
	}
	return sa, nil
}

// shared holds what consecutive generations use alike: it is opened once
// and closed when the last generation using it closes. An NTLM handshake
// begun under one configuration and finished under the next still finds
// its account store and winbind helper open.
//
// It also holds the one metrics registry of the process, so that counts
// go on across reloads: a generation's collectors are adopted when one of
// the same name is registered (server's counters), registered once
// (cluster), or replaced (gauges reading a generation's state); a plain
// MustRegister of a new collector would panic on the first reload.
type shared struct {
	mu  sync.Mutex
	m   map[string]*sharedEntry
	reg *prometheus.Registry
}

// registry is the process's registry (made with the Go and process
// collectors on first use); a nil shared (serve --check) gets a fresh one.
func (s *shared) registry() *prometheus.Registry {
	if s == nil {
		return prometheus.NewRegistry()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reg == nil {
		s.reg = prometheus.NewRegistry()
		s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return s.reg
}

// registerOnce registers collectors that outlive generations (the same
// values each time), ignoring those already registered.
func registerOnce(reg prometheus.Registerer, cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) || are.ExistingCollector != c {
				panic(err)
			}
		}
	}
}

// replace registers c in place of the collector of the same name, if any
// (a gauge function reading the newest generation's state).
func replace(reg prometheus.Registerer, c prometheus.Collector) {
	reg.Unregister(c)
	reg.MustRegister(c)
}

type sharedEntry struct {
	v     any
	close func()
	n     int
}

// get returns the entry for key, opening it when no generation holds it,
// and counts g as a user until g closes. A nil shared opens a private one.
func (s *shared) get(g *generation, key string, open func() (any, func(), error)) (any, error) {
	if s == nil {
		v, c, err := open()
		if err != nil {
			return nil, err
		}
		g.closers = append(g.closers, c)
		return v, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[key]
	if !ok {
		v, c, err := open()
		if err != nil {
			return nil, err
		}
		if s.m == nil {
			s.m = map[string]*sharedEntry{}
		}
		e = &sharedEntry{v: v, close: c}
		s.m[key] = e
	}
	e.n++
	g.closers = append(g.closers, func() {
		s.mu.Lock()
		e.n--
		last := e.n == 0
		if last {
			delete(s.m, key)
		}
		s.mu.Unlock()
		if last {
			e.close()
		}
	})
	return e.v, nil
}

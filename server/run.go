package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehouse-auth/gatehouse/accounts"
	"github.com/gatehouse-auth/gatehouse/client"
	"github.com/gatehouse-auth/gatehouse/config"
	"github.com/gatehouse-auth/gatehouse/digest"
	"github.com/gatehouse-auth/gatehouse/epa"
	"github.com/gatehouse-auth/gatehouse/krb"
	"github.com/jcmturner/gokrb5/v8/keytab"
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

// Running is a started server.
type Running struct {
	servers []*http.Server
	addrs   []net.Addr
	tls     []bool
	store   *accounts.Store
	done    chan error
	log     *slog.Logger
}

// Addrs returns the listening addresses, in config order, and whether each
// speaks TLS.
func (r *Running) Addrs() ([]net.Addr, []bool) { return r.addrs, r.tls }

// Start opens the account store, builds the sites and starts listening.
func Start(cfg *config.Config, log *slog.Logger) (*Running, error) {
	if log == nil {
		log = slog.Default()
	}
	stateDir := cfg.Path(cfg.StateDir)
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("server: state directory: %w", err)
	}
	secret, err := loadOrCreateSecret(filepath.Join(stateDir, "secret.key"))
	if err != nil {
		return nil, err
	}
	// the unknown-user stand-in hash is made now, not on the first probe
	go accounts.DummyVerify("")
	dbPath := cfg.Path(cfg.Accounts)
	store, err := accounts.Open(dbPath, cfg.Realm)
	if err != nil {
		return nil, err
	}
	domain := cfg.NTLM.Domain
	if domain == "" {
		domain = localDomain()
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var ntlmVerify func(string, string, [8]byte, []byte, []byte) ([]byte, error)
	if cfg.NTLM.Verifier == "winbind" {
		wb, err := newWinbind(cfg.NTLM.NTLMAuth)
		if err != nil {
			store.Close()
			return nil, err
		}
		ntlmVerify = wb.Verify
	}
	var acceptor *krb.Acceptor
	var kt *keytab.Keytab
	if cfg.Kerberos.Keytab != "" {
		if acceptor, kt, err = newKerberos(cfg, log, reg); err != nil {
			store.Close()
			return nil, err
		}
	}
	var sessionKeys [][]byte
	sites := make([]Site, 0, len(cfg.Sites))
	krb5Conf := ""
	if cfg.Kerberos.Krb5Conf != "" {
		krb5Conf = cfg.Path(cfg.Kerberos.Krb5Conf)
	}
	var dir GroupDirectory
	if cfg.Directory != nil {
		d, err := newDirectory(cfg, kt, krb5Conf, log)
		if err != nil {
			store.Close()
			return nil, err
		}
		dir = d
	}
	var basicKDC *KDCVerifier
	if cfg.Basic.Verifier == "kerberos" {
		if basicKDC, err = newBasicKDC(cfg, kt, krb5Conf); err != nil {
			store.Close()
			return nil, err
		}
	}
	var serviceAccount *client.ServiceAccount
	var upstreamMetrics *prometheus.CounterVec
	for _, s := range cfg.Sites {
		if (s.UpstreamAuth == "constrained" || s.UpstreamAuth == "service") && serviceAccount == nil {
			if serviceAccount, err = newServiceAccount(cfg, kt, krb5Conf); err != nil {
				store.Close()
				return nil, err
			}
		}
	}
	for _, s := range cfg.Sites {
		site := Site{Path: s.Path, Schemes: s.Auth, BasicOverHTTP: s.BasicOverHTTP, Sessions: s.Sessions}
		if s.Sessions && sessionKeys == nil {
			if sessionKeys, err = LoadSessionKeys(filepath.Join(stateDir, "session.keys")); err != nil {
				store.Close()
				return nil, err
			}
		}
		for _, ry := range s.Authorization {
			rule, err := ry.Rule()
			if err != nil {
				store.Close()
				return nil, err
			}
			site.Rules = append(site.Rules, rule)
		}
		switch s.Handler {
		case "static":
			if s.FileAuthorization {
				site.Handler = StaticWithFileAuthz(s.Path, cfg.Path(s.Root))
			} else {
				site.Handler = Static(s.Path, cfg.Path(s.Root))
			}
		case "proxy":
			if s.UpstreamAuth != "" && s.UpstreamAuth != "none" && upstreamMetrics == nil {
				upstreamMetrics = NewUpstreamMetrics(reg)
			}
			u, err := url.Parse(s.Upstream)
			if err != nil {
				store.Close()
				return nil, fmt.Errorf("server: site %s: upstream: %w", s.Path, err)
			}
			var creds *client.Credentials
			if s.UpstreamAuth == "credentials" {
				if creds, err = client.LoadCredentialsFile(cfg.Path(s.UpstreamCredentials)); err != nil {
					store.Close()
					return nil, fmt.Errorf("server: site %s: upstream_credentials: %w", s.Path, err)
				}
			}
			site.Handler, err = ProxyWith(u, ProxyOptions{Auth: s.UpstreamAuth, SPN: s.UpstreamSPN, Krb5Conf: krb5Conf, ServiceAccount: serviceAccount, Credentials: creds, ProtocolTransition: cfg.Kerberos.ProtocolTransition, Logger: log, Metrics: upstreamMetrics})
			if err != nil {
				store.Close()
				return nil, err
			}
		default:
			site.Handler = WhoAmI()
		}
		sites = append(sites, site)
	}
	var algs []digest.Algorithm
	for _, a := range cfg.Digest.Algorithms {
		alg, err := digest.ParseAlgorithm(a)
		if err != nil {
			store.Close()
			return nil, err
		}
		algs = append(algs, alg)
	}
	prot, proxies, err := protection(cfg)
	if err != nil {
		store.Close()
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
			store.Close()
			return nil, fmt.Errorf("server: listen[%d].client_ca: %w", i, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			store.Close()
			return nil, fmt.Errorf("server: listen[%d].client_ca: no PEM certificate in %s", i, l.ClientCA)
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
	crls, err := LoadCRLs(crlPaths)
	if err != nil {
		store.Close()
		return nil, err
	}
	gate, err := New(Options{ClientCAs: clientCAs, ClientCRLs: crls, CertificateOCSP: cfg.Certificate.OCSP, CertificateMap: cfg.Certificate.Map, CertificateRequireAccount: cfg.Certificate.RequireAccount,
		Protection: prot, TrustedProxies: proxies, AllowNTLMv1: cfg.NTLM.AllowNTLMv1, Computer: localDomain(), NTLMVerify: ntlmVerify, NoConnectionAuth: cfg.NTLM.ConnectionAuth != nil && !*cfg.NTLM.ConnectionAuth, Store: store, Realm: cfg.Realm, Domain: domain, Secret: secret, Logger: log, Registry: reg,
		DigestAlgorithms: algs, NonceLifetime: cfg.Digest.NonceLifetime,
		SessionKeys: sessionKeys, SessionLifetime: cfg.SessionLifetime, SessionRevalidate: cfg.SessionRevalidate, Kerberos: acceptor,
		Directory: dir, BasicKDC: basicKDC}, sites)
	if err != nil {
		store.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	gated := gate.Wrap(http.NotFoundHandler())
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == "/metrics" {
			mux.ServeHTTP(w, r)
			return
		}
		gated.ServeHTTP(w, r)
	})

	// Connection-bound schemes (NTLM, and Negotiate falling back to it)
	// need HTTP/1.1: an HTTP/2 connection multiplexes requests, so a
	// handshake bound to the connection would authenticate them all.
	connBound := false
	for _, s := range cfg.SchemesInUse() {
		if s == "ntlm" || s == "negotiate" {
			connBound = true
		}
	}
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetHTTP2(!connBound)

	run := &Running{store: store, done: make(chan error, len(cfg.Listen)), log: log}
	errLog := slog.NewLogLogger(log.Handler(), slog.LevelDebug)
	for li, l := range cfg.Listen {
		ln, err := net.Listen("tcp", l.Addr)
		if err != nil {
			run.close()
			return nil, fmt.Errorf("server: listen %s: %w", l.Addr, err)
		}
		srv := &http.Server{
			Handler:           handler,
			ReadHeaderTimeout: readHeaderTimeout,
			ReadTimeout:       readTimeout,
			IdleTimeout:       idleTimeout,
			MaxHeaderBytes:    maxHeaderBytes,
			ErrorLog:          errLog,
			Protocols:         &protos,
			ConnContext:       gate.ConnContext,
			ConnState:         gate.ConnState,
		}
		isTLS := l.TLS != nil
		if isTLS {
			cert, err := loadCert(l.TLS, cfg, stateDir, log)
			if err != nil {
				ln.Close()
				run.close()
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
			tc.ClientCAs = listenerCAs[li]
			if !connBound {
				tc.NextProtos = []string{"h2", "http/1.1"}
			} else {
				tc.NextProtos = []string{"http/1.1"}
			}
			srv.TLSConfig = tc
			ln = tls.NewListener(ln, tc)
			if lc := leaf(cert); lc != nil {
				srv.ConnContext = gate.TLSConnContext(lc)
			}
		}
		run.servers = append(run.servers, srv)
		run.addrs = append(run.addrs, ln.Addr())
		run.tls = append(run.tls, isTLS)
		scheme := "http"
		if isTLS {
			scheme = "https"
		}
		log.Info("listening", "url", scheme+"://"+ln.Addr().String()+"/")
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				run.done <- err
			}
		}()
	}
	if accs, err := store.List(); err == nil && len(accs) == 0 {
		log.Info("the account store is empty; add an account with: gatehouse accounts add NAME --db " + dbPath)
	}
	log.Info("sites", "count", len(sites), "domain", domain, "realm", store.Realm(), "accounts", dbPath)
	return run, nil
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
		return fmt.Errorf("server: %w", err)
	}
}

// Shutdown stops accepting, lets requests in flight finish (up to
// shutdownTimeout) and closes the store.
func (r *Running) Shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	var first error
	for _, s := range r.servers {
		if err := s.Shutdown(ctx); err != nil && first == nil {
			first = err
		}
	}
	r.store.Close()
	return first
}

func (r *Running) close() {
	for _, s := range r.servers {
		s.Close()
	}
	r.store.Close()
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

// newKerberos loads the keytab and builds the acceptor, with a replay
// cache of kerberos.replay_cache_entries watched by log and reg.
func newKerberos(cfg *config.Config, log *slog.Logger, reg prometheus.Registerer) (*krb.Acceptor, *keytab.Keytab, error) {
	path := cfg.Path(cfg.Kerberos.Keytab)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("server: kerberos.keytab: %w", err)
	}
	kt := keytab.New()
	if err := kt.Unmarshal(b); err != nil {
		return nil, nil, fmt.Errorf("server: kerberos.keytab %s: %w", path, err)
	}
	rc := krb.NewReplayCache(cfg.Kerberos.ReplayCacheEntries)
	a, err := krb.NewAcceptor(krb.Config{Keytab: kt, Principals: cfg.Kerberos.ServicePrincipals, ClockSkew: cfg.Kerberos.ClockSkew, ReplayCache: rc})
	if err != nil {
		return nil, nil, fmt.Errorf("server: kerberos: %w", err)
	}
	watchReplayCache(a, rc, log, reg)
	return a, kt, nil
}

// newServiceAccount logs in as kerberos.service_account ("name@REALM",
// or a name whose realm the keytab gives) with the keytab's keys.
func newServiceAccount(cfg *config.Config, kt *keytab.Keytab, krb5Conf string) (*client.ServiceAccount, error) {
	kcfg, err := client.LoadKrb5Config(krb5Conf)
	if err != nil {
		return nil, fmt.Errorf("server: kerberos.service_account: %w", err)
	}
	name, realm, _ := strings.Cut(cfg.Kerberos.ServiceAccount, "@")
	if realm == "" {
		for _, e := range kt.Entries {
			if strings.Join(e.Principal.Components, "/") == name {
				realm = e.Principal.Realm
				break
			}
		}
	}
	if realm == "" {
		return nil, fmt.Errorf("server: kerberos.service_account %q: no realm, and no keytab entry names it", cfg.Kerberos.ServiceAccount)
	}
	sa, err := client.NewServiceAccount(kcfg, kt, name, realm)
	if err != nil {
		return nil, fmt.Errorf("server: kerberos.service_account: %w", err)
	}
	return sa, nil
}

// loadOrCreateSecret reads a 32-byte key, creating it (0600) on first use.
func loadOrCreateSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) < 32 {
			return nil, fmt.Errorf("server: %s is shorter than 32 bytes; delete it to make a new one", path)
		}
		return b, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("server: %w", err)
	}
	b = make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	return b, nil
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

package server

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-auth/gatehouse/accounts"
	"github.com/gatehouse-auth/gatehouse/authheader"
	"github.com/gatehouse-auth/gatehouse/authz"
	"github.com/gatehouse-auth/gatehouse/digest"
	"github.com/gatehouse-auth/gatehouse/directory"
	"github.com/gatehouse-auth/gatehouse/epa"
	"github.com/gatehouse-auth/gatehouse/krb"
	"github.com/gatehouse-auth/gatehouse/ntlm"
)

// Site is one virtual directory: a path prefix, the schemes it accepts, its
// authorization rules and its handler.
type Site struct {
	Path    string       // "/", "/secure"
	Schemes []string     // anonymous, negotiate, ntlm, digest, basic, certificate
	Rules   authz.Rules  // first match wins; none matching allows
	Handler http.Handler // nil: the handler passed to Wrap
	// BasicOverHTTP offers and accepts Basic without TLS.
	BasicOverHTTP bool
	// Sessions seals the identity into a cookie after a login, so later
	// requests skip the authentication work (Options.SessionKeys needed).
	Sessions bool
}

// Options are what the schemes share.
type Options struct {
	Store  Accounts // local accounts (Basic, Digest, NTLM); *accounts.Store or a directory
	Realm  string   // Basic and Digest realm; default: the store's
	Domain string   // domain reported for local accounts (NTLM: NetBIOS domain)
	// Computer is the NetBIOS computer name NTLM announces; default Domain.
	Computer string
	// AllowNTLMv1 is refused: only NTLMv2 is implemented (kept so that a
	// configuration asking for it fails loudly instead of silently).
	AllowNTLMv1 bool
	// NoConnectionAuth: a connection does not stay authenticated after an
	// NTLM handshake; every request carries its own.
	NoConnectionAuth bool
	// NTLMVerify, when set, verifies NTLM responses elsewhere (winbind
	// pass-through to a domain controller) instead of the account store.
	NTLMVerify ntlm.Verifier
	// MaxPendingHandshakes, MaxPendingPerClient and HandshakeTimeout
	// bound half-finished NTLM (and multi-leg Negotiate) handshakes; zero:
	// DefaultMaxPending, DefaultMaxPendingPerClient,
	// DefaultHandshakeTimeout.
	MaxPendingHandshakes int
	MaxPendingPerClient  int
	HandshakeTimeout     time.Duration
	// NegotiateMechanisms are the mechanisms Negotiate takes inside
	// SPNEGO: "kerberos", "ntlm" (nil: both, as available).
	NegotiateMechanisms []string
	// Secret keys Digest nonces and caches: at least 32 bytes, kept in the
	// state directory so nonces survive a restart.
	Secret []byte
	// DigestAlgorithms offered (nil: SHA-256 then MD5) and nonce lifetime
	// (0: digest.DefaultNonceLifetime).
	DigestAlgorithms []digest.Algorithm
	NonceLifetime    time.Duration
	// DigestNonceCounts, when set, shares Digest nonce counts between
	// instances (nil: in this process's memory).
	DigestNonceCounts digest.NonceCounts
	// Kerberos accepts Kerberos inside Negotiate; nil: no keytab.
	Kerberos *krb.Acceptor
	// Protection is the Extended Protection policy for Kerberos and NTLM
	// (zero: enforcement never); TrustedProxies the front ends trusted in
	// the trusted_proxy scenario.
	Protection     epa.Policy
	TrustedProxies []netip.Prefix
	// FrontEndCertificates are the certificates the trusted proxies
	// present to clients: requests from them are checked for channel
	// binding to these (extended_protection.front_end_certificates).
	FrontEndCertificates []*x509.Certificate
	// SessionKeys seal session cookies (first seals, all open); see
	// LoadSessionKeys. SessionLifetime 0 means DefaultSessionLifetime.
	SessionKeys     [][]byte
	SessionLifetime time.Duration
	// SessionRevalidate is how often a session's account is looked up
	// again (0: DefaultSessionRevalidate); AccountSources are where, by the
	// source an identity names ("local", the Store, is added by default).
	SessionRevalidate time.Duration
	AccountSources    map[string]AccountSource
	// ClientCAs verify client certificates (sites with "certificate");
	// CertificateMap is where the user name comes from (nil:
	// DefaultCertificateMap); CertificateRequireAccount accepts only
	// names of local accounts.
	ClientCAs                 *x509.CertPool
	ClientCRLs                []*x509.RevocationList
	CertificateOCSP           bool // ask the leaf's OCSP responder (fails closed)
	CertificateMap            []string
	CertificateRequireAccount bool
	Logger                    *slog.Logger
	Registry                  prometheus.Registerer // nil: metrics are not registered
	// Directory gives domain users (Kerberos, NTLM through winbind, Basic
	// through the KDC) their groups; nil: only PAC SIDs and local groups.
	Directory GroupDirectory
	// BasicKDC checks Basic passwords with the KDC instead of the store.
	BasicKDC *KDCVerifier
	// Authorization is checked for every site after its own rules and
	// those of the sites enclosing it (see inheritRules).
	Authorization authz.Rules
}

// Gate is the authentication middleware.
type Gate struct {
	conns    connTracker
	sessions *sessionSealer
	sites    []*site // longest path first
	dir      GroupDirectory
	log      *slog.Logger
	metrics  *metrics

	// session revalidation (session.go)
	revalidate     time.Duration
	accountSources map[string]AccountSource
}

type site struct {
	path      string // lowercase, no trailing slash except "/"
	anonymous bool
	sessions  bool
	connAuth  bool      // a connection authenticated by NTLM stays so here
	cert      *certAuth // client certificates accepted (nil: not)
	schemes   []scheme  // challenge order
	rules     authz.Rules
	handler   http.Handler
	// needsGroups: a rule names roles, so a directory that cannot say
	// what a domain user's groups are refuses the request; needsNames: a
	// role is not a SID (a Kerberos PAC's SIDs decide SID roles alone).
	needsGroups, needsNames bool
}

// ErrConfig is returned by New for sites it cannot build.
var ErrConfig = errors.New("server: bad configuration")

// New builds a Gate for sites.
func New(o Options, sites []Site) (*Gate, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if len(o.Secret) < 32 {
		return nil, fmt.Errorf("%w: Options.Secret must be at least 32 bytes", ErrConfig)
	}
	realm := o.Realm
	if realm == "" && o.Store != nil {
		realm = o.Store.Realm()
	}
	if realm == "" {
		realm = accounts.DefaultRealm
	}
	g := &Gate{log: o.Logger, metrics: newMetrics(o.Registry), dir: o.Directory, revalidate: o.SessionRevalidate, accountSources: map[string]AccountSource{}}
	if g.revalidate <= 0 {
		g.revalidate = DefaultSessionRevalidate
	}
	if o.Store != nil {
		g.accountSources["local"] = storeSource{o.Store}
	}
	if o.Directory != nil {
		g.accountSources[directorySourceName] = directorySource{o.Directory}
	}
	for k, v := range o.AccountSources {
		g.accountSources[k] = v
	}
	g.conns.max, g.conns.perClient, g.conns.ttl = o.MaxPendingHandshakes, o.MaxPendingPerClient, o.HandshakeTimeout
	if g.conns.max == 0 {
		g.conns.max = DefaultMaxPending
	}
	if g.conns.perClient == 0 {
		g.conns.perClient = DefaultMaxPendingPerClient
	}
	if g.conns.ttl == 0 {
		g.conns.ttl = DefaultHandshakeTimeout
	}
	if g.conns.max < 0 || g.conns.perClient < 0 || g.conns.ttl < 0 {
		return nil, fmt.Errorf("%w: Options.MaxPendingHandshakes, MaxPendingPerClient and HandshakeTimeout must not be negative", ErrConfig)
	}
	grd, err := newGuard(o.Protection, o.TrustedProxies, o.FrontEndCertificates, o.Logger)
	if err != nil {
		return nil, err
	}
	if o.AllowNTLMv1 {
		return nil, fmt.Errorf("%w: Options.AllowNTLMv1 (ntlm.allow_ntlmv1): NTLMv1 is not supported (it is broken; use NTLMv2 clients)", ErrConfig)
	}
	mechs := &mechanisms{krb: o.Kerberos, domain: o.Domain, guard: grd, gate: g}
	if o.Store != nil || o.NTLMVerify != nil {
		comp := o.Computer
		if comp == "" {
			comp = o.Domain
		}
		mechs.ntlm = &ntlm.ServerConfig{NetBIOSComputer: comp, NetBIOSDomain: o.Domain, Verify: o.NTLMVerify}
		if o.NTLMVerify == nil {
			// the account store knows the NT hashes
			mechs.accounts, mechs.ntlm.Lookup = o.Store, ntlmLookup(o.Store)
		}
	}
	negKrb, negNTLM := true, true
	if o.NegotiateMechanisms != nil {
		negKrb, negNTLM = false, false
		for _, m := range o.NegotiateMechanisms {
			switch strings.ToLower(m) {
			case "kerberos":
				negKrb = true
			case "ntlm":
				negNTLM = true
			default:
				return nil, fmt.Errorf("%w: Options.NegotiateMechanisms: %q is not kerberos or ntlm", ErrConfig, m)
			}
		}
	}
	negKrb, negNTLM = negKrb && mechs.krb != nil, negNTLM && mechs.ntlm != nil
	var dsrv *digest.Server
	cache := newVerifiedCache(o.Secret)
	hashing := newHashLimiter(0)
	seen := map[string]bool{}
	for _, s := range sites {
		p := strings.ToLower(s.Path)
		if len(p) > 1 {
			p = strings.TrimRight(p, "/")
		}
		if !strings.HasPrefix(p, "/") {
			return nil, fmt.Errorf("%w: site path %q must start with /", ErrConfig, s.Path)
		}
		if seen[p] {
			return nil, fmt.Errorf("%w: site path %q twice", ErrConfig, s.Path)
		}
		seen[p] = true
		st := &site{path: p, rules: s.Rules, handler: s.Handler, sessions: s.Sessions}
		if s.Sessions && g.sessions == nil {
			if len(o.SessionKeys) == 0 {
				return nil, fmt.Errorf("%w: site %s: sessions need Options.SessionKeys", ErrConfig, s.Path)
			}
			var err error
			if g.sessions, err = newSessionSealer(o.SessionKeys, o.SessionLifetime); err != nil {
				return nil, fmt.Errorf("%w: Options.SessionKeys: %v", ErrConfig, err)
			}
		}
		names := append([]string(nil), s.Schemes...)
		sort.SliceStable(names, func(i, j int) bool { return orderOf(names[i]) < orderOf(names[j]) })
		for _, name := range names {
			switch strings.ToLower(name) {
			case "anonymous":
				st.anonymous = true
			case "basic":
				if o.Store == nil && o.BasicKDC == nil {
					return nil, fmt.Errorf("%w: site %s: basic needs Options.Store or Options.BasicKDC", ErrConfig, s.Path)
				}
				st.schemes = append(st.schemes, &basicScheme{realm: realm, domain: o.Domain, overHTTP: s.BasicOverHTTP, store: o.Store, cache: cache, hashing: hashing, kdc: o.BasicKDC})
			case "negotiate":
				if !negKrb && !negNTLM {
					return nil, fmt.Errorf("%w: site %s: negotiate needs Options.Kerberos (kerberos.keytab) or, with ntlm among Options.NegotiateMechanisms, an account store for NTLM", ErrConfig, s.Path)
				}
				st.schemes = append(st.schemes, newNegotiateScheme(mechs, negKrb, negNTLM))
				st.connAuth = !o.NoConnectionAuth
			case "ntlm":
				if mechs.ntlm == nil {
					return nil, fmt.Errorf("%w: site %s: ntlm needs Options.Store or Options.NTLMVerify", ErrConfig, s.Path)
				}
				st.schemes = append(st.schemes, &ntlmScheme{m: mechs})
				st.connAuth = !o.NoConnectionAuth
			case "digest":
				if o.Store == nil {
					return nil, fmt.Errorf("%w: site %s: digest needs Options.Store", ErrConfig, s.Path)
				}
				if o.Store.Realm() != realm {
					return nil, fmt.Errorf("%w: site %s: digest realm %q (Options.Realm) differs from the account store's %q (HA1 values are bound to the realm)", ErrConfig, s.Path, realm, o.Store.Realm())
				}
				if dsrv == nil {
					var err error
					if dsrv, err = digest.NewServer(realm, o.Secret); err != nil {
						return nil, fmt.Errorf("%w: Options.Realm or Options.Secret: %v", ErrConfig, err)
					}
					dsrv.Offer, dsrv.Lifetime, dsrv.Counts = o.DigestAlgorithms, o.NonceLifetime, o.DigestNonceCounts
				}
				st.schemes = append(st.schemes, &digestScheme{srv: dsrv, domain: o.Domain, store: o.Store})
			case "certificate":
				ca, err := newCertAuth(&o)
				if err != nil {
					return nil, fmt.Errorf("%w: site %s: %v", ErrConfig, s.Path, err)
				}
				st.cert = ca
			default:
				return nil, fmt.Errorf("%w: site %s: scheme %q is not available in this build", ErrConfig, s.Path, name)
			}
		}
		g.sites = append(g.sites, st)
	}
	sort.SliceStable(g.sites, func(i, j int) bool { return len(g.sites[i].path) > len(g.sites[j].path) })
	inheritRules(g.sites, o.Authorization)
	for _, st := range g.sites {
		// inherited rules count: a parent's deny by role must not be
		// skipped because the directory is down
		for _, r := range st.rules {
			st.needsGroups = st.needsGroups || len(r.Roles) > 0
			for _, role := range r.Roles {
				st.needsNames = st.needsNames || !directory.IsSID(role)
			}
		}
	}
	return g, nil
}

func orderOf(name string) int {
	for i, n := range authheader.Schemes {
		if strings.EqualFold(n, name) {
			return i
		}
	}
	return len(authheader.Schemes)
}

// match finds the site for a request path: the longest site path that is
// the path or a parent of it, compared case-insensitively (as IIS does, so
// /Secure cannot slip past the rules of /secure) on the cleaned path (so
// /a/../secure cannot either).
func (g *Gate) match(p string) *site {
	if p == "" {
		p = "/"
	}
	p = strings.ToLower(path.Clean(p))
	for _, s := range g.sites {
		if s.path == "/" || p == s.path || strings.HasPrefix(p, s.path+"/") {
			return s
		}
	}
	return nil
}

// Wrap returns a handler that authenticates and authorizes, then calls the
// site's handler or next.
func (g *Gate) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// paths an upstream may read differently are refused before any
		// site's rules are chosen (pathcheck.go)
		if why := requestPathProblem(r); why != "" {
			g.log.Info("ambiguous path refused", "reason", why, "path", r.RequestURI, "remote", r.RemoteAddr)
			http.Error(w, "400 Bad Request: "+why, http.StatusBadRequest)
			return
		}
		st := g.match(r.URL.Path)
		if st == nil {
			http.NotFound(w, r)
			return
		}
		id, note := g.authenticate(w, r, st)
		if id == nil {
			return
		}
		noteIdentity(r, id)
		if ok, rule := st.rules.Decide(subjectOf(id), r.Method); !ok {
			if g.sessionDenied(w, r, st, id, note) {
				return
			}
			if id.Anonymous() && len(g.challenges(r, st, false)) > 0 {
				g.log.Info("authorization denied", "user", "(anonymous)", "rule", rule, "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
				g.unauthorized(w, r, st, false)
				return
			}
			g.log.Info("authorization denied", "user", id.User, "rule", rule, "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
			writeForbiddenPage(w, id, "The authorization rules of this site refused "+r.Method+" "+r.URL.Path+" to you.")
			return
		}
		g.sessionAllowed(w, r, st, id, note)
		h := st.handler
		if h == nil {
			h = next
		}
		ctx := withChallenge(WithIdentity(r.Context(), id), func(w http.ResponseWriter) { g.unauthorized(w, r, st, false) })
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

func subjectOf(id *Identity) authz.Subject {
	if id.Anonymous() {
		return authz.Subject{Anonymous: true}
	}
	names := []string{id.User, id.Name}
	if id.Domain != "" {
		names = append(names, id.Domain+`\`+id.Name, id.Name+"@"+id.Domain)
	}
	return authz.Subject{Names: names, Groups: id.Groups, SIDs: id.SIDs}
}

// anonymousIdentity is the identity of a request without credentials.
func anonymousIdentity(r *http.Request) *Identity {
	cb := "absent"
	if r.TLS == nil {
		cb = "not_applicable"
	}
	return &Identity{Scheme: "Anonymous", Mechanism: "none", ChannelBinding: cb}
}

// authenticate returns the identity, or nil after writing the response,
// and what to do with the session cookie if authorization allows.
func (g *Gate) authenticate(w http.ResponseWriter, r *http.Request, st *site) (*Identity, sessionNote) {
	vals := r.Header.Values("Authorization")
	if len(vals) == 0 && st.sessions {
		if id, note, done := g.resumeSession(w, r, st); id != nil || done {
			return id, note
		}
	}
	id, seal := g.authenticateCredentials(w, r, st, vals)
	return id, sessionNote{seal: seal}
}

// authenticateCredentials authenticates without a session cookie; seal
// reports a fresh login (a session cookie is due if authorized).
func (g *Gate) authenticateCredentials(w http.ResponseWriter, r *http.Request, st *site, vals []string) (id *Identity, seal bool) {
	if len(vals) == 0 && st.cert != nil && r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		// IIS: a client certificate the site cannot accept is a 403
		// (403.16), whatever else the site offers.
		id, err := st.cert.identify(r.TLS)
		if err != nil {
			g.metrics.attempt("Certificate", "failure")
			g.log.Info("authentication failed", "scheme", "Certificate", "reason", err.Error(), "path", r.URL.Path, "remote", r.RemoteAddr)
			writeForbiddenPage(w, nil, "The client certificate your browser sent is not accepted here.")
			return nil, false
		}
		g.metrics.attempt("Certificate", "success")
		return id, false
	}
	if len(vals) == 0 && st.connAuth {
		// IIS: after an NTLM handshake the connection stays authenticated
		if ci := g.connOf(r, false); ci != nil {
			if id := ci.authenticated(); id != nil {
				return g.withGroups(w, r, st, id), false
			}
		}
	}
	if len(vals) == 0 {
		if st.anonymous {
			return anonymousIdentity(r), false
		}
		g.unauthorized(w, r, st, false)
		return nil, false
	}
	if len(vals) > 1 {
		g.badRequest(w, r, "", "more than one Authorization header")
		return nil, false
	}
	c, err := authheader.ParseCredentials(vals[0])
	if err != nil {
		g.badRequest(w, r, "", err.Error())
		return nil, false
	}
	var sc scheme
	for _, s := range st.schemes {
		if strings.EqualFold(s.Name(), c.Scheme) && s.Accepts(r) {
			sc = s
			break
		}
	}
	if sc == nil {
		if st.anonymous {
			// IIS ignores credentials a site does not use; browsers keep
			// sending them once they have authenticated to the host.
			return anonymousIdentity(r), false
		}
		g.metrics.attempt(c.Scheme, "unsupported")
		g.log.Info("authentication failed", "scheme", c.Scheme, "reason", "scheme not enabled for this site", "path", r.URL.Path, "remote", r.RemoteAddr)
		g.unauthorized(w, r, st, false)
		return nil, false
	}
	out := sc.Authenticate(w, r, c)
	switch out.res {
	case resSuccess:
		g.metrics.attempt(sc.Name(), "success")
		if g.log.Enabled(r.Context(), slog.LevelDebug) { // its arguments cost allocations even when off
			g.log.Debug("authenticated", "scheme", sc.Name(), "user", out.user, "path", r.URL.Path, "remote", r.RemoteAddr)
		}
		if len(out.header) > 0 {
			// a canonical key: Add would canonicalize "WWW-Authenticate", an allocation
			k := infoHeader(sc)
			hdr := w.Header()
			hdr[k] = append(hdr[k], out.header...)
		}
		id := g.withGroups(w, r, st, out.id)
		if id == nil {
			return nil, false
		}
		return id, true
	case resContinue:
		g.metrics.attempt(sc.Name(), "continue")
		for _, h := range out.header {
			w.Header().Add("WWW-Authenticate", h)
		}
		http.Error(w, "401 Unauthorized", http.StatusUnauthorized)
	case resStale:
		g.metrics.attempt(sc.Name(), "stale")
		g.log.Info("authentication failed", "scheme", sc.Name(), "user", out.user, "reason", out.reason, "path", r.URL.Path, "remote", r.RemoteAddr)
		g.unauthorized(w, r, st, true)
	case resBad:
		g.metrics.attempt(sc.Name(), "bad_request")
		g.badRequest(w, r, sc.Name(), out.reason)
	case resBusy:
		g.metrics.attempt(sc.Name(), "busy")
		g.log.Warn("authentication refused", "scheme", sc.Name(), "reason", out.reason, "remote", r.RemoteAddr)
		w.Header().Set("Retry-After", "1")
		http.Error(w, "503 Service Unavailable: too many authentications in progress", http.StatusServiceUnavailable)
	case resUnavailable:
		g.metrics.attempt(sc.Name(), "unavailable")
		g.log.Error("authentication unavailable", "scheme", sc.Name(), "user", out.user, "error", out.reason, "path", r.URL.Path, "remote", r.RemoteAddr)
		w.Header().Set("Retry-After", "5")
		http.Error(w, "503 Service Unavailable: the credentials cannot be checked now", http.StatusServiceUnavailable)
	case resError:
		g.metrics.attempt(sc.Name(), "error")
		g.log.Error("authentication error", "scheme", sc.Name(), "user", out.user, "error", out.reason, "path", r.URL.Path)
		http.Error(w, "500 Internal Server Error", http.StatusInternalServerError)
	default:
		g.metrics.attempt(sc.Name(), "failure")
		g.log.Info("authentication failed", "scheme", sc.Name(), "user", out.user, "reason", out.reason, "path", r.URL.Path, "remote", r.RemoteAddr)
		g.unauthorized(w, r, st, false)
	}
	return nil, false
}

// infoHeader is where a scheme's success header goes (canonical keys:
// see http.CanonicalHeaderKey).
func infoHeader(sc scheme) string {
	if sc.Name() == "Digest" {
		return "Authentication-Info"
	}
	return "Www-Authenticate"
}

func (g *Gate) challenges(r *http.Request, st *site, stale bool) []string {
	var out []string
	for _, s := range st.schemes {
		out = append(out, s.Challenges(r, stale)...)
	}
	return out
}

// unauthorized answers 401 with every challenge of the site, strongest first.
func (g *Gate) unauthorized(w http.ResponseWriter, r *http.Request, st *site, stale bool) {
	chs := g.challenges(r, st, stale)
	if len(chs) == 0 {
		if st.cert != nil {
			// IIS 403.7: there is no HTTP challenge for a certificate
			writeForbiddenPage(w, nil, "This site requires a client certificate, and your browser sent none.")
			return
		}
		writeForbiddenPage(w, nil, "No authentication scheme is available for this request (Basic, for one, needs HTTPS).")
		return
	}
	for _, c := range chs {
		w.Header().Add("WWW-Authenticate", c)
	}
	writeUnauthorizedPage(w, r, chs, stale, st.cert != nil)
}

func (g *Gate) badRequest(w http.ResponseWriter, r *http.Request, scheme, reason string) {
	g.log.Info("bad authentication request", "scheme", scheme, "reason", reason, "path", r.URL.Path, "remote", r.RemoteAddr)
	http.Error(w, "400 Bad Request: malformed Authorization header", http.StatusBadRequest)
}

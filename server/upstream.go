package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"

	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-auth/gatehouse/client"
	"github.com/gatehouse-auth/gatehouse/epa"
	"github.com/gatehouse-auth/gatehouse/identitytoken"
)

// ProxyOptions configure ProxyWith.
type ProxyOptions struct {
	// Auth is how the proxy authenticates to the upstream: "" or "none"
	// (identity headers only) or "negotiate": Kerberos as the user, from
	// the TGT the user delegated (unconstrained delegation, the "double
	// hop"). A request without delegated credentials then gets 502.
	// "constrained": Kerberos as the user by constrained delegation
	// (S4U2Proxy) with ServiceAccount, from the ticket the user presented;
	// the user delegates nothing. "service": Kerberos as ServiceAccount
	// itself, whoever the user is (ASP.NET's fixed identity).
	// "credentials": Basic, Digest, NTLM or Negotiate with Credentials,
	// through client.Transport.
	Auth string
	// ServiceAccount is this service's own account, for "constrained" and
	// "service".
	ServiceAccount *client.ServiceAccount
	// Credentials are the fixed account of "credentials".
	Credentials *client.Credentials
	// ProtocolTransition lets "constrained" act for users who did not log
	// in with Kerberos (S4U2Self): user@realm of the service account, the
	// user's account name taken as the Kerberos name.
	ProtocolTransition bool
	// SPN is the upstream's service principal; default HTTP/<host>
	// (HTTP/localhost for a loopback address).
	SPN string
	// Krb5Conf is the krb5.conf saying where the KDCs are (for
	// negotiate); "" means KRB5_CONFIG, else /etc/krb5.conf.
	Krb5Conf string
	Logger   *slog.Logger
	// Metrics, when set, counts upstream authentication by mode
	// (negotiate, constrained, transition, service, credentials), outcome
	// (ok, refused) and upstream (host:port).
	Metrics *prometheus.CounterVec
	// Token, when set, signs the identity into X-Gatehouse-Jwt-Assertion
	// on every request sent upstream (audience: the original request's
	// scheme://host).
	Token *identitytoken.Signer
	// Ccaches, when set, writes the user's delegated TGT for an upstream
	// on this host and names the file in X-Remote-Ccache.
	Ccaches *CcacheDir
}

// NewUpstreamMetrics is the counter ProxyOptions.Metrics takes.
func NewUpstreamMetrics(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_upstream_auth_total",
		Help: "Authentication of proxied requests to upstreams by mode (negotiate, constrained, transition, service, credentials), outcome (ok, refused) and upstream (host:port).",
	}, []string{"mode", "outcome", "upstream"})
	if reg != nil {
		c = adopt(reg, c)
	}
	return c
}

// ProxyWith is Proxy with authentication to the upstream.
func ProxyWith(upstream *url.URL, o ProxyOptions) (http.Handler, error) {
	rp := Proxy(upstream).(*httputil.ReverseProxy)
	if o.Token != nil || o.Ccaches != nil {
		base := rp.Rewrite
		rp.Rewrite = func(pr *httputil.ProxyRequest) {
			base(pr)
			addSignedIdentity(pr, o.Token, o.Ccaches, o.Logger)
		}
	}
	if o.Auth == "" || o.Auth == "none" {
		return rp, nil
	}
	switch o.Auth {
	case "negotiate", "constrained", "service", "credentials":
	default:
		return nil, fmt.Errorf("server: upstream auth %q: want none, negotiate, constrained, service or credentials", o.Auth)
	}
	if (o.Auth == "constrained" || o.Auth == "service") && o.ServiceAccount == nil {
		return nil, fmt.Errorf("server: upstream auth %s needs the service account (kerberos.service_account)", o.Auth)
	}
	if o.Auth == "credentials" && o.Credentials == nil {
		return nil, fmt.Errorf("server: upstream auth credentials needs ProxyOptions.Credentials")
	}
	spn := o.SPN
	if spn == "" {
		spn = epa.HostSPN(upstream.Hostname())
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	if o.Auth == "credentials" {
		return credentialsProxy(rp, upstream, spn, o, log), nil
	}
	kcfg, err := client.LoadKrb5Config(o.Krb5Conf)
	if err != nil {
		return nil, fmt.Errorf("server: upstream_auth %s: %w", o.Auth, err)
	}
	u := &upstreamAuth{spn: spn, log: log, krb5: kcfg, sa: o.ServiceAccount, own: o.Auth == "service", transition: o.ProtocolTransition, metrics: o.Metrics, upstream: upstream.Host, clients: map[[32]byte]*delegatedClient{}}
	rewrite := rp.Rewrite
	rp.Rewrite = func(pr *httputil.ProxyRequest) {
		rewrite(pr)
		if a, ok := pr.In.Context().Value(upstreamAuthKey{}).(*upstreamCall); ok {
			pr.Out.Header.Set("Authorization", a.header)
		}
	}
	rp.ModifyResponse = func(resp *http.Response) error {
		a, ok := resp.Request.Context().Value(upstreamAuthKey{}).(*upstreamCall)
		if !ok {
			return nil
		}
		if resp.StatusCode < 300 {
			if err := a.check(resp); err != nil {
				return fmt.Errorf("upstream failed mutual authentication: %w", err)
			}
		}
		if resp.StatusCode == http.StatusUnauthorized && u.own {
			u.count("service", "upstream_refused")
			return fmt.Errorf("%w: %s answered 401 to the service account's Kerberos ticket for %s", errUpstreamRefused, upstream.Host, spn)
		}
		// The upstream's challenges and AP-REP are for us, not the client,
		// whose own mutual authentication is with this server.
		resp.Header.Del("WWW-Authenticate")
		return nil
	}
	rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		if bodyTimedOut(r, err) {
			proxyError(w, r, err)
			return
		}
		log.Warn("proxy", "upstream", upstream.Redacted(), "error", err)
		http.Error(w, "502 Bad Gateway", http.StatusBadGateway)
	}
	return &authProxy{rp: rp, auth: u}, nil
}

// addSignedIdentity sets the assertion and the credential cache's path on
// the upstream request (the client's own were removed by Proxy).
func addSignedIdentity(pr *httputil.ProxyRequest, tok *identitytoken.Signer, cc *CcacheDir, log *slog.Logger) {
	id := IdentityFrom(pr.In.Context())
	if id == nil || id.Anonymous() {
		return
	}
	if tok != nil {
		proto := "http"
		if pr.In.TLS != nil {
			proto = "https"
		}
		t, err := tok.SignCached(tokenIdentity(id), proto+"://"+pr.In.Host)
		if err != nil {
			if log == nil {
				log = slog.Default()
			}
			log.Error("identity token", "error", err)
		} else {
			pr.Out.Header.Set(HeaderAssertion, t)
		}
	}
	if cc != nil {
		if p := cc.Store(id); p != "" {
			pr.Out.Header.Set(HeaderCcache, p)
		}
	}
}

type upstreamAuthKey struct{}

// upstreamCall is one request's credentials for the upstream.
type upstreamCall struct {
	header string
	check  func(*http.Response) error
}

type authProxy struct {
	rp   *httputil.ReverseProxy
	auth *upstreamAuth
}

var errNoDelegation = errors.New("the client delegated no Kerberos credentials (e.g. curl --delegation always, gatehouse get --delegation always, a browser's delegation allowlist)")

func (p *authProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := IdentityFrom(r.Context())
	call, err := p.auth.call(id)
	if err != nil {
		user := ""
		if id != nil {
			user = id.User
		}
		p.auth.log.Warn("no credentials for the upstream", "user", user, "spn", p.auth.spn, "reason", err)
		http.Error(w, "502 Bad Gateway: no Kerberos credentials for the upstream: "+err.Error(), http.StatusBadGateway)
		return
	}
	p.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), upstreamAuthKey{}, call)))
}

// upstreamAuth makes Negotiate headers for the upstream from users'
// delegated TGTs, keeping one client per TGT (its service tickets are
// reused) until the TGT expires.
type upstreamAuth struct {
	spn  string
	log  *slog.Logger
	krb5 *config.Config
	sa   *client.ServiceAccount // constrained delegation; nil: the delegated TGT
	// own: as the service account itself (upstream_auth: service)
	own bool
	// transition: S4U2Self for users without a Kerberos ticket
	transition bool
	metrics    *prometheus.CounterVec
	upstream   string // host:port, the metric's label

	mu      sync.Mutex
	clients map[[32]byte]*delegatedClient // by SHA-256 of the TGT's ciphertext
}

type delegatedClient struct {
	d       *client.Delegated
	expires time.Time
}

// maxDelegatedClients bounds upstreamAuth.clients; when full, expired
// entries go, and if none has, all do (they are rebuilt from the next
// request's TGT).
const maxDelegatedClients = 4096

var errNoEvidence = errors.New("the user did not authenticate with Kerberos (constrained delegation needs the user's ticket)")

func (u *upstreamAuth) call(id *Identity) (*upstreamCall, error) {
	c, mode, err := u.authorize(id)
	outcome := "ok"
	if err != nil {
		outcome = "refused"
	}
	u.count(mode, outcome)
	return c, err
}

func (u *upstreamAuth) count(mode, outcome string) {
	if u.metrics != nil {
		u.metrics.WithLabelValues(mode, outcome, u.upstream).Inc()
	}
}

// authorize makes the upstream credentials; mode names the way taken.
func (u *upstreamAuth) authorize(id *Identity) (*upstreamCall, string, error) {
	if u.own {
		v, check, err := u.sa.OwnAuthorization(u.spn)
		if err != nil {
			return nil, "service", err
		}
		return &upstreamCall{header: v, check: check}, "service", nil
	}
	c, err := u.authorizeMode(id)
	mode := "negotiate"
	if u.sa != nil {
		mode = "constrained"
		if id != nil && id.evidence == nil && u.transition {
			mode = "transition"
		}
	}
	return c, mode, err
}

func (u *upstreamAuth) authorizeMode(id *Identity) (*upstreamCall, error) {
	if u.sa != nil {
		if id != nil && id.evidence == nil && u.transition && !id.Anonymous() && id.Name != "" {
			v, check, err := u.sa.AuthorizationForUser(id.Name, u.sa.Realm(), u.spn)
			if err != nil {
				return nil, err
			}
			return &upstreamCall{header: v, check: check}, nil
		}
		if id == nil || id.evidence == nil {
			return nil, errNoEvidence
		}
		e := id.evidence
		v, check, err := u.sa.Authorization(e.ticket, e.crealm, e.cname, u.spn)
		if err != nil {
			return nil, err
		}
		return &upstreamCall{header: v, check: check}, nil
	}
	if id == nil || id.delegatedTGT == nil {
		return nil, errNoDelegation
	}
	t := id.delegatedTGT
	now := time.Now()
	if !t.cred.EndTime.IsZero() && now.After(t.cred.EndTime) {
		return nil, errors.New("the delegated TGT has expired")
	}
	key := sha256.Sum256(t.cred.Ticket.EncPart.Cipher)
	u.mu.Lock()
	c := u.clients[key]
	if c == nil {
		if len(u.clients) >= maxDelegatedClients {
			for k, v := range u.clients {
				if now.After(v.expires) {
					delete(u.clients, k)
				}
			}
			if len(u.clients) >= maxDelegatedClients {
				clear(u.clients)
			}
		}
		d, err := client.NewDelegated(u.krb5, t.cred, t.crealm, t.cname)
		if err != nil {
			u.mu.Unlock()
			return nil, err
		}
		c = &delegatedClient{d: d, expires: t.cred.EndTime}
		u.clients[key] = c
	}
	u.mu.Unlock()
	v, check, err := c.d.Authorization(u.spn)
	if err != nil {
		return nil, err
	}
	return &upstreamCall{header: v, check: check}, nil
}

// errUpstreamRefused: the upstream did not take the fixed identity's
// credentials (a wrong password, an account it does not know).
var errUpstreamRefused = errors.New("the upstream refused the configured credentials")

// credentialsProxy is upstream_auth: credentials: client.Transport answers
// the upstream's challenges (Basic, Digest, NTLM on a kept connection,
// Negotiate) with one configured account, as gatehouse get would. The
// upstream's challenges and proofs are for this server and do not reach
// the client; an upstream that still answers 401 refused the account,
// which is the operator's problem: 502, and the reason in the log.
func credentialsProxy(rp *httputil.ReverseProxy, upstream *url.URL, spn string, o ProxyOptions, log *slog.Logger) http.Handler {
	base := http.DefaultTransport.(*http.Transport).Clone()
	t := &client.Transport{Base: base, Server: o.Credentials, SPN: spn}
	count := func(outcome string) {
		if o.Metrics != nil {
			o.Metrics.WithLabelValues("credentials", outcome, upstream.Host).Inc()
		}
	}
	rp.Transport = t
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.StatusCode == http.StatusUnauthorized {
			count("upstream_refused")
			return fmt.Errorf("%w: %s answered 401 (account %s)", errUpstreamRefused, upstream.Host, o.Credentials.User)
		}
		count("ok")
		resp.Header.Del("WWW-Authenticate")
		resp.Header.Del("Authentication-Info")
		return nil
	}
	rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		if bodyTimedOut(r, err) {
			proxyError(w, r, err)
			return
		}
		log.Warn("proxy", "upstream", upstream.Redacted(), "upstream_auth", "credentials", "error", err)
		http.Error(w, "502 Bad Gateway", http.StatusBadGateway)
	}
	return rp
}

package client

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/gatehouse-auth/gatehouse/authheader"
	"github.com/gatehouse-auth/gatehouse/basic"
	"github.com/gatehouse-auth/gatehouse/digest"
)

// Credentials are explicit credentials for one target.
type Credentials struct {
	User     string // "alice", `DOMAIN\alice` or "alice@REALM"
	Password string
	// NTHash stands in for Password with NTLM (an smbpasswd entry); the
	// other schemes need the password.
	NTHash *[16]byte
}

// Scheme names, strongest first: the order the client prefers them in.
const (
	Negotiate = "negotiate"
	NTLM      = "ntlm"
	Digest    = "digest"
	Basic     = "basic"
)

// Limits. maxLegs bounds a handshake (NTLM takes 2, Negotiate at most 3);
// maxReplayBody bounds the body buffered to be sent again after a 401 when
// the request has no GetBody.
const (
	maxLegs       = 4
	maxReplayBody = 32 << 20
)

// Errors.
var (
	ErrNoScheme   = errors.New("client: no offered authentication scheme can be used")
	ErrMutualAuth = errors.New("client: the server failed mutual authentication")
	ErrBodyReplay = errors.New("client: request body cannot be replayed after a 401")
)

// Transport authenticates requests made through Base.
type Transport struct {
	Base http.RoundTripper // nil: http.DefaultTransport

	Server *Credentials // explicit credentials for the origin server
	Proxy  *Credentials // explicit credentials for the proxy
	// ServerByScheme and ProxyByScheme give one scheme its own credentials
	// (keys: the constants Negotiate, NTLM, Digest, Basic), over Server and Proxy, as
	// BITS's SetCredentials takes a target and a scheme.
	ServerByScheme map[string]*Credentials
	ProxyByScheme  map[string]*Credentials

	// Schemes the caller allows for the server and the proxy, any order;
	// nil allows every scheme (strongest offered wins).
	Schemes      []string
	ProxySchemes []string

	// SPN overrides the service principal (default HTTP/<host>); SPNs maps
	// host names to SPNs (CustomTargetNameDictionary).
	SPN  string
	SPNs map[string]string

	// ImplicitAllow lists the hosts that may receive implicit credentials
	// (the Kerberos ccache or client keytab): "host", ".domain" for its
	// subdomains, "*" for all. Explicit credentials go anywhere.
	ImplicitAllow []string
	// Delegation says when a forwarded TGT goes to Kerberos servers
	// (DelegateNone by default).
	Delegation Delegation
	// ServerImplicit and ProxyImplicit name schemes that may send implicit
	// credentials to that target whatever ImplicitAllow says (BITS's
	// SetCredentials with no user name).
	ServerImplicit []string
	ProxyImplicit  []string
	// Identity is the implicit identity (ccache, keytab, NTLM user file)
	// in place of the process's environment; nil: KRB5CCNAME,
	// KRB5_CLIENT_KTNAME, NTLM_USER_FILE.
	Identity *Identity
	// ProxyFunc tells which proxy a request goes through, including the
	// CONNECT tunnels a Base with a ConnectDialer makes (which its Proxy
	// field does not show); nil: the Base http.Transport's Proxy.
	ProxyFunc func(*http.Request) (*url.URL, error)
	// MutualOptional accepts a 200 without the server's AP-REP; by
	// default such a response fails (the server did not prove itself).
	MutualOptional bool

	krbMu    sync.Mutex
	implicit *implicitLoad
	explicit map[Credentials]*kerberos // by the credentials they logged in with

	ntlmLoaded   bool // NTLM_USER_FILE read (under krbMu)
	ntlmImplicit *Credentials
	ntlmErr      error

	// Trace, when set, receives a line per exchange step, secrets masked.
	Trace func(format string, args ...any)

	mu    sync.Mutex
	hosts map[string]*hostState // by origin (scheme://host:port) and "proxy"
}

// hostState is what the client remembers about a host it authenticated to.
type hostState struct {
	scheme string
	basic  string                // pre-emptive Basic token68
	digest *digest.ClientSession // pre-emptive Digest
	// conn carries connection-bound handshakes (NTLM): one connection,
	// kept, so the handshake's legs and the requests after it share it.
	conn     http.RoundTripper
	hs       handshake // connection-bound handshake in progress
	hsScheme string    // the header scheme it runs under
	// kerberos authenticates every request to the host afresh; cb is the
	// channel binding of its TLS channel.
	kerberos *kerberos
	cb       *[16]byte
}

// target is server or proxy.
type target struct {
	header, respHeader string
	creds              *Credentials
	byScheme           map[string]*Credentials
	allowed            []string
	key                string
	proxyHost          string   // for the proxy target
	implicit           []string // schemes that may send implicit credentials here
	implicitOK         bool     // forScheme: this scheme is in implicit
}

// forScheme is the target with the credentials for scheme name.
func (tg *target) forScheme(name string) *target {
	c, ok := tg.byScheme[name]
	imp := named(tg.implicit, name)
	if !ok && !imp {
		return tg
	}
	cp := *tg
	if ok {
		cp.creds = c
	}
	cp.implicitOK = imp
	return &cp
}

// rt is the round tripper for a target: its dedicated connection once a
// connection-bound handshake started there, else the base.
func (t *Transport) rt(key string) http.RoundTripper {
	t.mu.Lock()
	defer t.mu.Unlock()
	if st := t.hosts[key]; st != nil && st.conn != nil {
		return st.conn
	}
	return t.base()
}

func (t *Transport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	return http.DefaultTransport
}

func (t *Transport) tracef(format string, args ...any) {
	if t.Trace != nil {
		t.Trace(format, args...)
	}
}

func (t *Transport) state(key string) *hostState {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.hosts == nil {
		t.hosts = make(map[string]*hostState)
	}
	st := t.hosts[key]
	if st == nil {
		st = &hostState{}
		t.hosts[key] = st
	}
	return st
}

func origin(r *http.Request) string {
	host := r.URL.Host
	if !strings.Contains(host, ":") {
		if r.URL.Scheme == "https" {
			host += ":443"
		} else {
			host += ":80"
		}
	}
	return r.URL.Scheme + "://" + strings.ToLower(host)
}

// RoundTrip sends req, answering challenges.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	getBody, err := replayable(req)
	if err != nil {
		return nil, err
	}
	srv := &target{header: "Authorization", respHeader: "WWW-Authenticate", creds: t.Server, byScheme: t.ServerByScheme, allowed: t.Schemes, key: origin(req), implicit: t.ServerImplicit}
	prx := &target{header: "Proxy-Authorization", respHeader: "Proxy-Authenticate", creds: t.Proxy, byScheme: t.ProxyByScheme, allowed: t.ProxySchemes, key: "proxy", proxyHost: t.proxyHost(req), implicit: t.ProxyImplicit}
	out, err := t.clone(req, getBody)
	if err != nil {
		return nil, err
	}
	t.prefetchKerberos(req, srv.forScheme(Negotiate))
	check := t.preempt(out, srv)
	if req.URL.Scheme == "http" {
		t.preempt(out, prx)
	}
	resp, err := t.rt(srv.key).RoundTrip(out)
	if err != nil {
		return nil, err
	}
	for leg := 0; leg < maxLegs; leg++ {
		var tg *target
		switch resp.StatusCode {
		case http.StatusUnauthorized:
			tg = srv
		case http.StatusProxyAuthRequired:
			tg = prx
		default:
			if err := verify(resp, check); err != nil {
				resp.Body.Close()
				return nil, err
			}
			return resp, nil
		}
		value, vcheck, err := t.answer(req, resp, tg)
		if err != nil {
			if err == ErrNoScheme {
				t.tracef("%d: %v", resp.StatusCode, err)
				return resp, nil // the caller sees the 401/407 itself
			}
			resp.Body.Close()
			return nil, err
		}
		drain(resp)
		out, err = t.clone(req, getBody)
		if err != nil {
			return nil, err
		}
		if tg == prx {
			out.Header.Set(prx.header, value)
			check = t.preempt(out, srv)
		} else {
			out.Header.Set(srv.header, value)
			check = vcheck
			if req.URL.Scheme == "http" {
				t.preempt(out, prx)
			}
		}
		t.tracef("> %s: %s", tg.header, mask(value))
		resp, err = t.rt(tg.key).RoundTrip(out)
		if err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// answer picks the strongest offered scheme the target allows and builds
// the header value.
func (t *Transport) answer(req *http.Request, resp *http.Response, tg *target) (string, func(*http.Response) error, error) {
	chs, err := authheader.ParseChallenges(resp.Header.Values(tg.respHeader))
	if err != nil {
		return "", nil, fmt.Errorf("client: %s: %w", tg.respHeader, err)
	}
	for _, c := range chs {
		t.tracef("< %s: %s", tg.respHeader, c.Scheme)
	}
	st := t.state(tg.key)
	var skipped []string // why offered schemes were not used
	skip := func(format string, a ...any) {
		msg := fmt.Sprintf(format, a...)
		t.tracef("%s", msg)
		skipped = append(skipped, msg)
	}
	all := tg
	for _, name := range authheader.Schemes { // strongest first
		if !allowed(tg.allowed, name) {
			continue
		}
		tg := all.forScheme(name)
		for i := range chs {
			ch := &chs[i]
			if !strings.EqualFold(ch.Scheme, name) {
				continue
			}
			switch name {
			case Basic:
				if tg.creds == nil {
					continue
				}
				// Basic over plain HTTP only when the caller named it.
				// A proxy is reached in clear text even for https targets.
				if (req.URL.Scheme != "https" || tg.key == "proxy") && !named(tg.allowed, Basic) {
					skip("Basic: not sent over plain HTTP unless asked for by name")
					continue
				}
				tok := basic.Encode(tg.creds.User, tg.creds.Password)
				t.mu.Lock()
				st.scheme, st.basic, st.digest = Basic, tok, nil
				t.mu.Unlock()
				return "Basic " + tok, nil, nil
			case Negotiate:
				if ch.Token68 != "" {
					// a server reply: the next leg of NTLM inside SPNEGO
					// (Kerberos needs one leg)
					v, check, err := t.answerNTLM(req, resp, tg, st, ch, "Negotiate")
					if err != nil {
						return "", nil, err
					}
					if v != "" {
						return v, check, nil
					}
					continue
				}
				kc, err := t.kerberosFor(req, tg)
				if err != nil {
					skip("Negotiate: %v", err)
					if !offered(chs, NTLM) || !allowed(tg.allowed, NTLM) {
						// a Negotiate-only server: NTLM inside SPNEGO
						ntg := tg
						if ntg.creds == nil {
							ntg, _ = t.withImplicitNTLM(req, tg)
						}
						if ntg != nil {
							if v, _, err := t.answerNTLM(req, resp, ntg, st, ch, "Negotiate"); err != nil || v != "" {
								return v, nil, err
							}
						}
					}
					continue
				}
				cb := bindings(resp)
				tok, as, err := kc.token(t.spnFor(req, tg), cb, t.Delegation)
				if err != nil {
					skip("Negotiate: %v", err)
					continue
				}
				t.mu.Lock()
				st.scheme, st.basic, st.digest, st.kerberos, st.cb = Negotiate, "", nil, kc, cb
				t.mu.Unlock()
				return tokenValue("Negotiate", tok), as.check(t.MutualOptional), nil
			case NTLM:
				if tg.creds == nil {
					itg, err := t.withImplicitNTLM(req, tg)
					if err != nil {
						skip("NTLM: %v", err)
						continue
					}
					tg = itg
				}
				v, _, err := t.answerNTLM(req, resp, tg, st, ch, "NTLM")
				if err != nil {
					return "", nil, err
				}
				if v == "" {
					continue
				}
				return v, nil, nil
			case Digest:
				if tg.creds == nil {
					continue
				}
				s, err := digest.NewClientSession(ch, tg.creds.User, tg.creds.Password)
				if err != nil {
					t.tracef("skipping a Digest challenge: %v", err)
					continue
				}
				t.mu.Lock()
				st.scheme, st.basic, st.digest = Digest, "", s
				v, check := s.Authorization(req.Method, req.URL.RequestURI())
				t.mu.Unlock()
				return v, digestCheck(check), nil
			}
		}
	}
	if len(skipped) > 0 && tg.creds == nil || len(skipped) > 0 && !anyUsable(chs, tg) {
		return "", nil, fmt.Errorf("%w: %s", ErrNoScheme, strings.Join(skipped, "; "))
	}
	return "", nil, ErrNoScheme
}

// offered reports whether a scheme is among the challenges.
func offered(chs []authheader.Challenge, name string) bool {
	for _, c := range chs {
		if strings.EqualFold(c.Scheme, name) {
			return true
		}
	}
	return false
}

// anyUsable reports whether explicit credentials could answer one of the
// challenges with a password scheme.
func anyUsable(chs []authheader.Challenge, tg *target) bool {
	for _, c := range chs {
		for _, n := range []string{NTLM, Digest} {
			if strings.EqualFold(c.Scheme, n) && allowed(tg.allowed, n) {
				return true
			}
		}
	}
	return false
}

// preempt adds the credentials a host already accepted, and returns the
// check of the server's proof for them, if any.
func (t *Transport) preempt(r *http.Request, tg *target) func(*http.Response) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.hosts[tg.key]
	if st == nil {
		return nil
	}
	switch {
	case st.basic != "":
		r.Header.Set(tg.header, "Basic "+st.basic)
	case st.digest != nil:
		v, check := st.digest.Authorization(r.Method, r.URL.RequestURI())
		r.Header.Set(tg.header, v)
		return digestCheck(check)
	case st.kerberos != nil:
		// a fresh authenticator for every request (seed 004: credentials
		// keep being sent once authenticated)
		tok, as, err := st.kerberos.token(t.SPNFor(r), st.cb, t.Delegation)
		if err != nil {
			t.tracef("pre-emptive Negotiate: %v", err)
			return nil
		}
		r.Header.Set(tg.header, tokenValue("Negotiate", tok))
		return as.check(t.MutualOptional)
	}
	return nil
}

// verify checks what the server proves on success (Digest rspauth).
func verify(resp *http.Response, check func(*http.Response) error) error {
	if check == nil {
		return nil
	}
	if err := check(resp); err != nil {
		if errors.Is(err, ErrMutualAuth) {
			return err
		}
		return fmt.Errorf("%w: %v", ErrMutualAuth, err)
	}
	return nil
}

// digestCheck adapts a Digest rspauth check.
func digestCheck(c func(string) error) func(*http.Response) error {
	return func(r *http.Response) error { return c(r.Header.Get("Authentication-Info")) }
}

func allowed(list []string, name string) bool { return len(list) == 0 || named(list, name) }

func named(list []string, name string) bool {
	for _, s := range list {
		if strings.EqualFold(s, name) {
			return true
		}
	}
	return false
}

// replayable returns a function giving a fresh copy of the body.
func replayable(req *http.Request) (func() (io.ReadCloser, error), error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	if req.GetBody != nil {
		return req.GetBody, nil
	}
	b, err := io.ReadAll(io.LimitReader(req.Body, maxReplayBody+1))
	req.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("client: reading body: %w", err)
	}
	if len(b) > maxReplayBody {
		return nil, fmt.Errorf("%w: body over %d bytes without GetBody", ErrBodyReplay, maxReplayBody)
	}
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }, nil
}

func (t *Transport) clone(req *http.Request, getBody func() (io.ReadCloser, error)) (*http.Request, error) {
	out := req.Clone(req.Context())
	if getBody != nil {
		b, err := getBody()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBodyReplay, err)
		}
		out.Body = b
		out.GetBody = getBody
	}
	return out, nil
}

// drain reads a little of a challenge response so the connection can be
// reused (NTLM needs the same connection), then closes it.
func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// mask hides credentials in a header value for traces: the scheme and the
// first few characters stay.
func mask(v string) string {
	scheme, rest, _ := strings.Cut(v, " ")
	if len(rest) > 8 {
		rest = rest[:4] + "…(" + fmt.Sprint(len(rest)) + " bytes)"
	}
	if strings.EqualFold(scheme, "Basic") {
		rest = "****"
	}
	return scheme + " " + rest
}

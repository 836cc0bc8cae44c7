package client

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/gatehouse-auth/gatehouse/authheader"
	"github.com/gatehouse-auth/gatehouse/cbt"
	"github.com/gatehouse-auth/gatehouse/ntlm"
	"github.com/gatehouse-auth/gatehouse/spnego"
)

// splitUser reads "DOMAIN\user" or "user@domain" (NTLM wants them apart).
func splitUser(u string) (user, domain string) {
	if d, n, ok := strings.Cut(u, `\`); ok {
		return n, d
	}
	if n, d, ok := strings.Cut(u, "@"); ok {
		return n, d
	}
	return u, ""
}

func ntHash(c *Credentials) []byte {
	if c.NTHash == nil {
		return nil
	}
	return c.NTHash[:]
}

// dedicated returns a round tripper that keeps one connection to the
// target, for handshakes bound to it.
func (t *Transport) dedicated() http.RoundTripper {
	if ht, ok := t.base().(*http.Transport); ok {
		c := ht.Clone()
		c.MaxConnsPerHost, c.MaxIdleConnsPerHost = 1, 1
		c.ForceAttemptHTTP2 = false
		c.TLSNextProto = map[string]func(string, *tlsConn) http.RoundTripper{}
		return c
	}
	return t.base() // a custom base: connection reuse is its business
}

// bindings is the channel-binding hash for the TLS connection resp came
// on (RFC 5929 tls-server-end-point), nil without TLS.
func bindings(resp *http.Response) *[16]byte {
	if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 {
		return nil
	}
	h, err := cbt.ServerEndPoint(resp.TLS.PeerCertificates[0])
	if err != nil {
		return nil
	}
	b := cbt.ForServerEndPoint(h).Hash()
	return &b
}

// SPNFor returns the service principal for a request: the override, the
// per-host map, else HTTP/host (no DNS canonicalisation, port dropped).
func (t *Transport) SPNFor(req *http.Request) string {
	host := req.URL.Hostname()
	if t.SPNs != nil {
		if s, ok := t.SPNs[strings.ToLower(host)]; ok {
			return s
		}
	}
	if t.SPN != "" {
		return t.SPN
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		host = "localhost"
	}
	return "HTTP/" + host
}

// answerNTLM runs the NTLM legs: no token in the challenge starts a
// handshake, a token answers it. "" means NTLM does not apply here.
func (t *Transport) answerNTLM(req *http.Request, resp *http.Response, tg *target, st *hostState, ch *authheader.Challenge, scheme string) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ch.Token68 == "" {
		user, domain := splitUser(tg.creds.User)
		st.ntlm = ntlm.NewClient(ntlm.ClientConfig{
			User: user, Domain: domain, Password: tg.creds.Password, Workstation: workstation(),
			NTHash:     ntHash(tg.creds),
			TargetName: t.spnFor(req, tg), ChannelBindings: bindings(resp),
		})
		neg, err := st.ntlm.Negotiate()
		if err != nil {
			return "", err
		}
		if st.conn == nil {
			st.conn = t.dedicated()
		}
		st.scheme, st.basic, st.digest = "", "", nil
		return scheme + " " + base64.StdEncoding.EncodeToString(neg), nil
	}
	if st.ntlm == nil {
		return "", nil
	}
	tok, err := base64.StdEncoding.DecodeString(ch.Token68)
	if err != nil {
		return "", fmt.Errorf("client: NTLM challenge is not base64: %w", err)
	}
	auth, err := st.ntlm.Authenticate(tok)
	st.ntlm = nil
	if err != nil {
		return "", fmt.Errorf("client: NTLM: %w", err)
	}
	st.scheme = NTLM
	return scheme + " " + base64.StdEncoding.EncodeToString(auth), nil
}

func workstation() string {
	h, _ := osHostname()
	h, _, _ = strings.Cut(h, ".")
	return strings.ToUpper(h)
}

// spnFor is the SPN for a target: the server's, or HTTP/<proxy host>.
func (t *Transport) spnFor(req *http.Request, tg *target) string {
	if tg.key != "proxy" || tg.proxyHost == "" {
		return t.SPNFor(req)
	}
	h := tg.proxyHost
	if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
		h = "localhost"
	}
	return "HTTP/" + h
}

// proxyHost is the host name of the proxy a request goes through, if the
// base transport has one.
func (t *Transport) proxyHost(req *http.Request) string {
	if t.ProxyFunc != nil {
		u, err := t.ProxyFunc(req)
		if err != nil || u == nil {
			return ""
		}
		return u.Hostname()
	}
	ht, ok := t.base().(*http.Transport)
	if !ok || ht.Proxy == nil {
		return ""
	}
	u, err := ht.Proxy(req)
	if err != nil || u == nil {
		return ""
	}
	return u.Hostname()
}

// answerSPNEGONTLM runs NTLM inside Negotiate (SPNEGO, RFC 4178) for
// servers that offer only Negotiate and no Kerberos can be had: the
// NEGOTIATE goes as the optimistic token of a NegTokenInit listing NTLM,
// the AUTHENTICATE in a NegTokenResp with the mechListMIC.
func (t *Transport) answerSPNEGONTLM(req *http.Request, resp *http.Response, tg *target, st *hostState, ch *authheader.Challenge) (string, error) {
	if ch.Token68 == "" {
		v, err := t.answerNTLM(req, resp, tg, st, ch, "Negotiate")
		if err != nil || v == "" {
			return v, err
		}
		neg, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(v, "Negotiate "))
		mechs, err := spnego.MarshalMechTypes([]spnego.OID{spnego.OIDNTLM})
		if err != nil {
			return "", err
		}
		tok, err := (&spnego.NegTokenInit{MechTypes: []spnego.OID{spnego.OIDNTLM}, MechToken: neg}).Marshal()
		if err != nil {
			return "", err
		}
		t.mu.Lock()
		st.mechTypes = mechs
		t.mu.Unlock()
		return "Negotiate " + base64.StdEncoding.EncodeToString(tok), nil
	}
	raw, err := base64.StdEncoding.DecodeString(ch.Token68)
	if err != nil {
		return "", fmt.Errorf("client: Negotiate token is not base64: %w", err)
	}
	r, err := spnego.ParseNegTokenResp(raw)
	if err != nil {
		return "", fmt.Errorf("client: %w", err)
	}
	inner := *ch
	inner.Token68 = base64.StdEncoding.EncodeToString(r.ResponseToken)
	t.mu.Lock()
	cl := st.ntlm
	t.mu.Unlock()
	if cl == nil || len(r.ResponseToken) == 0 {
		return "", nil
	}
	v, err := t.answerNTLM(req, resp, tg, st, &inner, "Negotiate")
	if err != nil || v == "" {
		return v, err
	}
	auth, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(v, "Negotiate "))
	t.mu.Lock()
	mic := cl.Session().Sign(st.mechTypes)
	t.mu.Unlock()
	tok, err := (&spnego.NegTokenResp{ResponseToken: auth, MechListMIC: mic}).Marshal()
	if err != nil {
		return "", err
	}
	return "Negotiate " + base64.StdEncoding.EncodeToString(tok), nil
}

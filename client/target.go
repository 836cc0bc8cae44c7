package client

import (
	"net/http"
	"strings"

	"github.com/gatehouse-auth/gatehouse/cbt"
	"github.com/gatehouse-auth/gatehouse/epa"
)

// What a request's target needs beyond its credentials: its service
// principal, its channel binding, a connection of its own for handshakes
// bound to one.

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
	return epa.HostSPN(host)
}

// spnFor is the SPN for a target: the server's, or HTTP/<proxy host>.
func (t *Transport) spnFor(req *http.Request, tg *target) string {
	if tg.key != "proxy" || tg.proxyHost == "" {
		return t.SPNFor(req)
	}
	return epa.HostSPN(tg.proxyHost)
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

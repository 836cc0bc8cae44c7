package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/netip"

	"github.com/gatehouse-auth/gatehouse/cbt"
	"github.com/gatehouse-auth/gatehouse/epa"
)

// guard applies Extended Protection to a successful Kerberos or NTLM
// authentication.
type guard struct {
	policy  epa.Policy
	proxies []netip.Prefix // trusted front ends (scenario trusted_proxy)
}

// emptyBindings is the MD5 of an all-empty bindings structure: clients
// that have no channel send it instead of zeros; it binds to nothing.
var emptyBindings = (&cbt.Bindings{}).Hash()

type bindingKey struct{}

// withBinding records, for a TLS listener, the channel-binding hash a
// client on it must send (RFC 5929 tls-server-end-point of cert).
func withBinding(ctx context.Context, cert *x509.Certificate) context.Context {
	h, err := cbt.ServerEndPoint(cert)
	if err != nil {
		return ctx
	}
	return context.WithValue(ctx, bindingKey{}, cbt.ForServerEndPoint(h).Hash())
}

// TLSConnContext is Gate.ConnContext for a TLS listener serving cert: it
// also records the channel binding (RFC 5929 tls-server-end-point) that
// Kerberos and NTLM clients on it must send under Extended Protection.
func (g *Gate) TLSConnContext(cert *x509.Certificate) func(context.Context, net.Conn) context.Context {
	return func(ctx context.Context, c net.Conn) context.Context {
		return withBinding(g.ConnContext(ctx, c), cert)
	}
}

// expectedBinding is the hash for the request's TLS channel, if any.
func expectedBinding(r *http.Request) ([16]byte, bool) {
	h, ok := r.Context().Value(bindingKey{}).([16]byte)
	return h, ok
}

// check returns the decision for a client whose token carried sent (its
// channel-binding hash, zero when none) and, if spnCapable, spn.
func (g *guard) check(r *http.Request, sent [16]byte, spnCapable bool, spn string) epa.Decision {
	ev := epa.Evidence{SPNCapable: spnCapable, SPN: spn}
	ev.BindingSent = sent != [16]byte{} && sent != emptyBindings
	if r.TLS != nil {
		ev.TLS = true
		if want, ok := expectedBinding(r); ok {
			ev.BindingMatch = ev.BindingSent && sent == want
		}
	}
	p := g.policy
	if p.Scenario == epa.TrustedProxy && !g.fromProxy(r) {
		// Only the configured front ends are trusted to have terminated
		// TLS; anyone else is checked as a direct client.
		p.Scenario = epa.TransportSelected
	}
	if p.Scenario == epa.TrustedProxy {
		ev.TLS = false
	}
	d := p.Check(ev)
	if p.Scenario == epa.TrustedProxy {
		d.ChannelBinding = "not_applicable"
	}
	return d
}

func (g *guard) fromProxy(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range g.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// leaf returns the parsed leaf certificate of a pair.
func leaf(c tls.Certificate) *x509.Certificate {
	if c.Leaf != nil {
		return c.Leaf
	}
	if len(c.Certificate) == 0 {
		return nil
	}
	l, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return nil
	}
	return l
}

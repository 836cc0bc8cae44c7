package server

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"

	"github.com/gatehouse-auth/gatehouse/cbt"
	"github.com/gatehouse-auth/gatehouse/epa"
)

// guard applies Extended Protection to a successful Kerberos or NTLM
// authentication.
type guard struct {
	policy  epa.Policy
	proxies []netip.Prefix // trusted front ends (scenario trusted_proxy)
	// frontEnds: the channel bindings of the certificates the trusted
	// front ends present to clients (front_end_certificates); empty: the
	// trusted_proxy scenario checks the service binding only.
	frontEnds []frontEnd
	log       *slog.Logger // decisions at debug level; nil: none
}

// frontEnd is one front-end certificate: the bindings hash a client that
// sees it sends, and its subject for the log.
type frontEnd struct {
	hash    [16]byte
	subject string
}

// newGuard builds the guard; frontEndCerts are the certificates the
// trusted proxies present to clients.
func newGuard(p epa.Policy, proxies []netip.Prefix, frontEndCerts []*x509.Certificate, log *slog.Logger) (*guard, error) {
	g := &guard{policy: p, proxies: proxies, log: log}
	for _, c := range frontEndCerts {
		h, err := cbt.ServerEndPoint(c)
		if err != nil {
			return nil, fmt.Errorf("%w: extended_protection.front_end_certificates: %s: %v", ErrConfig, c.Subject, err)
		}
		g.frontEnds = append(g.frontEnds, frontEnd{hash: cbt.ForServerEndPoint(h).Hash(), subject: c.Subject.String()})
	}
	return g, nil
}

// LoadFrontEndCertificates reads extended_protection.front_end_certificates:
// each file's first PEM certificate (the leaf; a chain or a key may
// follow, as in HAProxy's crt files).
func LoadFrontEndCertificates(paths []string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("server: extended_protection.front_end_certificates: %w", err)
		}
		var c *x509.Certificate
		for rest := b; c == nil; {
			var blk *pem.Block
			if blk, rest = pem.Decode(rest); blk == nil {
				return nil, fmt.Errorf("server: extended_protection.front_end_certificates: no PEM certificate in %s", p)
			}
			if blk.Type == "CERTIFICATE" {
				if c, err = x509.ParseCertificate(blk.Bytes); err != nil {
					return nil, fmt.Errorf("server: extended_protection.front_end_certificates: %s: %w", p, err)
				}
			}
		}
		if _, err := cbt.ServerEndPoint(c); err != nil {
			return nil, fmt.Errorf("server: extended_protection.front_end_certificates: %s: %w", p, err)
		}
		out = append(out, c)
	}
	return out, nil
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
	checked := "" // what the binding was compared with, for the log
	if p.Scenario == epa.TrustedProxy {
		// The client's channel, if any, was the front end's: the hop
		// from the front end to us (plain or re-encrypted) is not it.
		ev.TLS, ev.BindingMatch = false, false
		if len(g.frontEnds) > 0 {
			ev.FrontEnd = true
			subjects := make([]string, 0, len(g.frontEnds))
			for _, fe := range g.frontEnds {
				subjects = append(subjects, fe.subject)
				if ev.BindingSent && sent == fe.hash {
					ev.BindingMatch = true
					subjects = []string{fe.subject}
					break
				}
			}
			checked = "front end certificate " + strings.Join(subjects, " | ")
		}
	} else if ev.TLS {
		checked = "this listener's certificate"
	}
	d := p.Check(ev)
	if p.Scenario == epa.TrustedProxy && !ev.FrontEnd {
		d.ChannelBinding = "not_applicable"
	}
	if !d.Allow && ev.FrontEnd {
		d.Reason += " (compared with " + checked + ")"
	}
	if g.log != nil && g.log.Enabled(r.Context(), slog.LevelDebug) {
		g.log.Debug("extended protection", "allow", d.Allow, "channel_binding", d.ChannelBinding,
			"checked_against", checked, "service_name", spn, "remote", r.RemoteAddr)
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

package server

import (
	"net/http"

	"github.com/gatehouse-auth/gatehouse/authheader"
	"github.com/gatehouse-auth/gatehouse/ntlm"
	"github.com/gatehouse-auth/gatehouse/spnego"
)

// negotiateScheme is RFC 4559 HTTP Negotiate: an spnego.Acceptor per
// exchange, taking the configured mechanisms (Options.NegotiateMechanisms;
// never NTLM over HTTP/2, which multiplexes requests on one connection).
// A Kerberos exchange finishes within its request and its AP-REP goes back
// with the 200 (mutual authentication); one that needs more legs (NTLM, a
// counter-proposal) keeps its Acceptor on the connection.
type negotiateScheme struct {
	m       *mechanisms
	useNTLM bool
	// all are the mechanisms taken, Kerberos first; h2 those taken over
	// HTTP/2 (no NTLM). Built once: an Acceptor only reads them.
	all, h2 []spnego.Mechanism
}

func newNegotiateScheme(m *mechanisms, useKrb, useNTLM bool) *negotiateScheme {
	n := &negotiateScheme{m: m, useNTLM: useNTLM}
	if useKrb {
		n.all = append(n.all, m.kerberos())
	}
	n.h2 = n.all
	if useNTLM {
		n.all = append(n.all[:len(n.all):len(n.all)], m.ntlmMech())
	}
	return n
}

func (n *negotiateScheme) Name() string                            { return "Negotiate" }
func (n *negotiateScheme) Accepts(*http.Request) bool              { return true }
func (n *negotiateScheme) Challenges(*http.Request, bool) []string { return []string{"Negotiate"} }

// mechs are the mechanisms taken on r.
func (n *negotiateScheme) mechs(r *http.Request) []spnego.Mechanism {
	if r.ProtoMajor >= 2 {
		return n.h2
	}
	return n.all
}

func (n *negotiateScheme) Authenticate(_ http.ResponseWriter, r *http.Request, c *authheader.Credentials) outcome {
	tok, o, ok := decodeToken(c)
	if !ok {
		return o
	}
	ci := n.m.gate.connOf(r, false)
	var ac *spnego.Acceptor
	if ci != nil {
		if p, _ := n.m.gate.conns.take(ci, "Negotiate").(*spnego.Acceptor); p != nil && p.Continues(tok) {
			ac = p
		}
	}
	if ac == nil {
		ac = spnego.NewAcceptor(n.mechs(r)...)
	}
	out, done, err := ac.Step(tok)
	if err != nil {
		if !n.useNTLM || r.ProtoMajor >= 2 {
			if ntlm.IsMessage(tok) {
				return fail("a bare NTLM token under Negotiate, which does not take NTLM here", "")
			}
		}
		return mechErr(err, "")
	}
	if done {
		o := n.m.finish(r, ci, "Negotiate", ac.Context())
		if o.res == resSuccess && out != nil {
			o.header = tokenHeader("Negotiate", out)
		}
		return o
	}
	if ci == nil {
		if ci = n.m.gate.connOf(r, true); ci == nil {
			return noConnState
		}
	}
	if !n.m.gate.conns.start(ci, "Negotiate", ac) {
		return outcome{res: resBusy, reason: "too many half-finished handshakes"}
	}
	return outcome{res: resContinue, header: tokenHeader("Negotiate", out)}
}

package server

import (
	"net/http"

	"github.com/gatehouse-auth/gatehouse/authheader"
	"github.com/gatehouse-auth/gatehouse/ntlm"
)

// ntlmScheme is the NTLM scheme itself: one ntlm.Acceptor per connection.
type ntlmScheme struct{ m *mechanisms }

func (n *ntlmScheme) Name() string { return "NTLM" }

// Accepts: NTLM is connection-bound, so never over HTTP/2.
func (n *ntlmScheme) Accepts(r *http.Request) bool { return r.ProtoMajor < 2 }

func (n *ntlmScheme) Challenges(r *http.Request, _ bool) []string {
	if !n.Accepts(r) {
		return nil
	}
	return []string{"NTLM"}
}

func (n *ntlmScheme) Authenticate(_ http.ResponseWriter, r *http.Request, c *authheader.Credentials) outcome {
	tok, o, ok := decodeToken(c)
	if !ok {
		return o
	}
	ci := n.m.gate.connOf(r, true)
	if ci == nil {
		return noConnState
	}
	ac, _ := n.m.gate.conns.take(ci, "NTLM").(*ntlm.Acceptor)
	if !ntlm.Continues(tok) {
		ac = ntlm.NewAcceptor(*n.m.ntlm)
	} else if ac == nil {
		return fail("NTLM AUTHENTICATE without a handshake on this connection (replayed, expired or on another connection)", "")
	}
	out, done, err := ac.Step(tok)
	if err != nil {
		return mechErr(err, "")
	}
	if done {
		return n.m.finish(r, ci, "NTLM", ac)
	}
	if !n.m.gate.conns.start(ci, "NTLM", ac) {
		return outcome{res: resBusy, reason: "too many half-finished NTLM handshakes"}
	}
	return outcome{res: resContinue, header: tokenHeader("NTLM", out)}
}

// noConnState: the server gives no way to tell connections apart (a
// listener whose connections have neither TCP nor Unix addresses).
var noConnState = outcome{res: resError, reason: "connection-bound authentication needs per-connection state: set http.Server.ConnContext and ConnState to Gate.ConnContext and Gate.ConnState"}

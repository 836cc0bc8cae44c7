package server

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"

	"github.com/gatehouse-auth/gatehouse/accounts"
	"github.com/gatehouse-auth/gatehouse/authheader"
	"github.com/gatehouse-auth/gatehouse/ntlm"
	"github.com/gatehouse-auth/gatehouse/spnego"
)

// ntlmAcceptor runs NTLM handshakes bound to the connection (IIS's
// "Windows NT Challenge/Response"), for the NTLM scheme and for NTLM inside
// Negotiate.
type ntlmAcceptor struct {
	cfg    ntlm.ServerConfig
	domain string
	store  *accounts.Store
	gate   *Gate
	guard  *guard
}

// ntlmPending is a half-finished handshake kept on the connection.
type ntlmPending struct {
	srv    *ntlm.Server
	scheme string // "NTLM" or "Negotiate"
	// SPNEGO: the raw mechTypes the mechListMIC covers, and whether the
	// acceptor asked for the MIC (NTLM was not the initiator's first choice).
	spnego      bool
	mechTypes   []byte
	requiredMIC bool
	mechListMIC []byte // the MIC that came with this message, if any
}

func newNTLMAcceptor(store *accounts.Store, domain, computer string, g *Gate, grd *guard, verify func(string, string, [8]byte, []byte, []byte) ([]byte, error)) *ntlmAcceptor {
	a := &ntlmAcceptor{domain: domain, store: store, gate: g, guard: grd}
	if verify != nil {
		// pass-through: the domain controller knows the accounts
		a.store = nil
		a.cfg = ntlm.ServerConfig{NetBIOSComputer: computer, NetBIOSDomain: domain, Verify: verify}
		return a
	}
	a.cfg = ntlm.ServerConfig{
		NetBIOSComputer: computer, NetBIOSDomain: domain,
		Lookup: func(user, _ string) ([]byte, error) {
			c, err := store.Lookup(user)
			if errors.Is(err, accounts.ErrNotFound) {
				return nil, ntlm.ErrUnknownUser
			}
			if err != nil {
				return nil, err
			}
			return c.NTHash, nil
		},
	}
	return a
}

var ntlmSignature = []byte("NTLMSSP\x00")

// messageType of an NTLM message, 0 if it is not one.
func messageType(tok []byte) byte {
	if len(tok) < 12 || !bytes.Equal(tok[:8], ntlmSignature) {
		return 0
	}
	return tok[8]
}

// step feeds one NTLM message. header wraps a reply token for the scheme.
func (a *ntlmAcceptor) step(r *http.Request, tok []byte, p *ntlmPending, wrap func([]byte) string) outcome {
	ci := connFrom(r)
	if ci == nil {
		return outcome{res: resError, reason: "NTLM needs per-connection state: install Gate.ConnContext and Gate.ConnState on the http.Server"}
	}
	switch messageType(tok) {
	case 1:
		p.srv = ntlm.NewServer(a.cfg)
		ch, err := p.srv.Challenge(tok)
		if err != nil {
			return ntlmErr(err, "")
		}
		ci.mu.Lock()
		ok := a.gate.conns.startPending(ci, p)
		ci.mu.Unlock()
		if !ok {
			return outcome{res: resBusy, reason: "too many half-finished NTLM handshakes"}
		}
		return outcome{res: resContinue, header: []string{wrap(ch)}}
	case 3:
		ci.mu.Lock()
		pend, _ := a.gate.conns.takePending(ci).(*ntlmPending)
		ci.mu.Unlock()
		if pend == nil || pend.srv == nil {
			return fail("NTLM AUTHENTICATE without a handshake on this connection (replayed, expired or on another connection)", "")
		}
		if pend.scheme != p.scheme {
			return fail("NTLM handshake started under another scheme", "")
		}
		res, err := pend.srv.Authenticate(tok)
		if err != nil {
			return ntlmErr(err, "")
		}
		return a.finish(r, ci, res, pend, p)
	}
	return bad("not an NTLM NEGOTIATE or AUTHENTICATE message")
}

func ntlmErr(err error, user string) outcome {
	if errors.Is(err, ntlm.ErrMalformed) {
		return bad(err.Error())
	}
	if errors.Is(err, ntlm.ErrAuthFailed) {
		return fail(err.Error(), user)
	}
	return outcome{res: resError, reason: err.Error(), user: user}
}

// finish turns a verified AUTHENTICATE into an identity, checks Extended
// Protection and, inside SPNEGO, the mechListMIC.
func (a *ntlmAcceptor) finish(r *http.Request, ci *connInfo, res *ntlm.Result, pend, cur *ntlmPending) outcome {
	var id *Identity
	if a.store == nil {
		dom := strings.ToUpper(res.Domain)
		if dom == "" {
			dom = a.domain
		}
		id = &Identity{User: dom + `\` + res.User, Name: res.User, Domain: dom, Scheme: pend.scheme, Mechanism: "ntlm", dirAccount: dom + `\` + res.User}
	} else {
		cr, err := a.store.Lookup(res.User)
		if err != nil {
			return fail("account vanished during the handshake", res.User)
		}
		id = localIdentity(cr, a.domain, pend.scheme, "ntlm", r)
	}
	cr := &accounts.Credentials{Name: id.Name}
	d := a.guard.check(r, res.ChannelBindings, res.HasTargetName || res.HasChannelBindings, res.TargetName)
	if !d.Allow {
		return fail("extended protection: "+d.Reason, cr.Name)
	}
	id.ServiceName, id.ChannelBinding = d.ServiceName, d.ChannelBinding
	out := outcome{res: resSuccess, id: id, user: cr.Name}
	if pend.spnego {
		// RFC 4178 §5: verify the initiator's mechListMIC when it sent one
		// (and insist on it when NTLM was not its first choice), answer
		// with ours.
		var mic []byte
		switch {
		case cur.mechListMIC != nil:
			if !res.Session.Verify(pend.mechTypes, cur.mechListMIC) {
				return fail("SPNEGO mechListMIC does not verify (mechanism list tampered with?)", cr.Name)
			}
			mic = res.Session.Sign(pend.mechTypes)
		case pend.requiredMIC:
			return fail("SPNEGO mechListMIC missing after a mechanism other than the first was chosen", cr.Name)
		}
		b, err := spnego.AcceptCompleted("", nil, mic).Marshal()
		if err != nil {
			return outcome{res: resError, reason: err.Error()}
		}
		out.header = []string{"Negotiate " + base64.StdEncoding.EncodeToString(b)}
	}
	ci.mu.Lock()
	ci.id, ci.idScheme = id, pend.scheme
	ci.mu.Unlock()
	return out
}

// ntlmScheme is the NTLM scheme itself.
type ntlmScheme struct{ a *ntlmAcceptor }

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
	tok, err := base64.StdEncoding.DecodeString(c.Token68)
	if err != nil || c.Token68 == "" {
		return bad("NTLM token is not valid base64")
	}
	return n.a.step(r, tok, &ntlmPending{scheme: "NTLM"}, func(b []byte) string {
		return "NTLM " + base64.StdEncoding.EncodeToString(b)
	})
}

package server

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"

	"github.com/gatehouse-auth/gatehouse/authheader"
	"github.com/gatehouse-auth/gatehouse/krb"
	"github.com/gatehouse-auth/gatehouse/spnego"
)

// negotiateScheme is RFC 4559 HTTP Negotiate: SPNEGO (RFC 4178) carrying
// Kerberos, or a raw Kerberos GSS token as some clients send. With mutual
// authentication the AP-REP goes back in WWW-Authenticate with the 200.
type negotiateScheme struct {
	krb   *krb.Acceptor
	ntlm  *ntlmAcceptor // NTLM inside SPNEGO; nil when not available
	guard *guard
}

func (n *negotiateScheme) Name() string                            { return "Negotiate" }
func (n *negotiateScheme) Accepts(*http.Request) bool              { return true }
func (n *negotiateScheme) Challenges(*http.Request, bool) []string { return []string{"Negotiate"} }

func (n *negotiateScheme) Authenticate(_ http.ResponseWriter, r *http.Request, c *authheader.Credentials) outcome {
	if c.Token68 == "" {
		return bad("Negotiate credentials carry no token")
	}
	tok, err := base64.StdEncoding.DecodeString(c.Token68)
	if err != nil {
		return bad("Negotiate token is not valid base64")
	}
	if messageType(tok) != 0 {
		// a bare NTLM message, as some clients send under Negotiate
		if n.ntlm == nil || r.ProtoMajor >= 2 {
			return fail("NTLM token under Negotiate but NTLM is not available", "")
		}
		return n.ntlm.step(r, tok, &ntlmPending{scheme: "Negotiate"}, func(b []byte) string {
			return "Negotiate " + base64.StdEncoding.EncodeToString(b)
		})
	}
	if len(tok) > 0 && tok[0] == 0xa1 {
		return n.continuation(r, tok)
	}
	mech, _, err := spnego.ThisMech(tok)
	if err != nil {
		return bad(err.Error())
	}
	switch {
	case mech.IsKerberos():
		// raw GSS-API krb5 token (RFC 4121 framing), no SPNEGO
		return n.kerberos(r, tok, false, "")
	case mech == spnego.OIDSPNEGO:
	default:
		return fail("Negotiate token for unsupported mechanism "+mech.String(), "")
	}
	init, err := spnego.ParseNegTokenInit(tok)
	if err != nil {
		return bad(err.Error())
	}
	first := init.MechTypes[0]
	if first.IsKerberos() && init.MechToken != nil && n.krb != nil {
		return n.kerberos(r, init.MechToken, true, first)
	}
	if first == spnego.OIDNTLM && init.MechToken != nil && n.ntlm != nil && r.ProtoMajor < 2 {
		return n.ntlmLeg(r, init.MechToken, &ntlmPending{scheme: "Negotiate", spnego: true, mechTypes: init.RawMechTypes}, spnego.OIDNTLM)
	}
	// The optimistic token is for a mechanism we do not take: pick the
	// first we do and ask for its token (RFC 4178 §4.2.2), with the MIC
	// exchange required since it was not the initiator's first choice.
	for _, m := range init.MechTypes {
		if (m.IsKerberos() && n.krb != nil) || (m == spnego.OIDNTLM && n.ntlm != nil && r.ProtoMajor < 2) {
			if m == spnego.OIDNTLM {
				ci := connFrom(r)
				if ci == nil {
					return outcome{res: resError, reason: "Negotiate needs per-connection state (Gate.ConnContext)"}
				}
				ci.mu.Lock()
				ok := n.ntlm.gate.conns.startPending(ci, &ntlmPending{scheme: "Negotiate", spnego: true, mechTypes: init.RawMechTypes, requiredMIC: true})
				ci.mu.Unlock()
				if !ok {
					return outcome{res: resBusy, reason: "too many half-finished handshakes"}
				}
			}
			return n.reply(outcome{res: resContinue}, spnego.RequestMIC(m, nil))
		}
	}
	return fail("no supported mechanism offered (mechTypes "+mechList(init.MechTypes)+")", "")
}

// ntlmLeg runs an NTLM message carried in SPNEGO and wraps the reply.
func (n *negotiateScheme) ntlmLeg(r *http.Request, tok []byte, p *ntlmPending, mech spnego.OID) outcome {
	return n.ntlm.step(r, tok, p, func(b []byte) string {
		t, err := spnego.AcceptIncomplete(mech, b).Marshal()
		if err != nil {
			return "Negotiate"
		}
		return "Negotiate " + base64.StdEncoding.EncodeToString(t)
	})
}

// continuation handles a NegTokenResp: the next leg of an NTLM
// negotiation kept on this connection.
func (n *negotiateScheme) continuation(r *http.Request, tok []byte) outcome {
	resp, err := spnego.ParseNegTokenResp(tok)
	if err != nil {
		return bad(err.Error())
	}
	ci := connFrom(r)
	if n.ntlm == nil || ci == nil {
		return fail("SPNEGO continuation without a negotiation in progress", "")
	}
	ci.mu.Lock()
	pend, _ := ci.pending.(*ntlmPending)
	ci.mu.Unlock()
	if pend == nil || !pend.spnego {
		return fail("SPNEGO continuation without a negotiation in progress on this connection", "")
	}
	switch messageType(resp.ResponseToken) {
	case 1: // the NTLM NEGOTIATE after we asked for NTLM
		p := &ntlmPending{scheme: "Negotiate", spnego: true, mechTypes: pend.mechTypes, requiredMIC: pend.requiredMIC}
		return n.ntlmLeg(r, resp.ResponseToken, p, "")
	case 3:
		return n.ntlm.step(r, resp.ResponseToken, &ntlmPending{scheme: "Negotiate", spnego: true, mechListMIC: resp.MechListMIC}, nil)
	}
	return bad("SPNEGO continuation does not carry an NTLM message")
}

// kerberos accepts an AP-REQ; spnegoMech is the client's OID when it came
// inside SPNEGO.
func (n *negotiateScheme) kerberos(r *http.Request, tok []byte, inSPNEGO bool, spnegoMech spnego.OID) outcome {
	if n.krb == nil {
		return fail("Kerberos token but no keytab is configured", "")
	}
	res, err := n.krb.Accept(tok, nil)
	if err != nil {
		if errors.Is(err, krb.ErrMalformed) {
			return bad(err.Error())
		}
		if errors.Is(err, krb.ErrUnavailable) {
			return outcome{res: resUnavailable, reason: err.Error()}
		}
		return fail(err.Error(), "")
	}
	id := kerberosIdentity(res, r)
	var sent [16]byte
	if res.HasBindings {
		sent = res.Bindings
	}
	d := n.guard.check(r, sent, true, *id.ServiceName)
	if !d.Allow {
		return fail("extended protection: "+d.Reason, id.User)
	}
	id.ServiceName, id.ChannelBinding = d.ServiceName, d.ChannelBinding
	out := outcome{res: resSuccess, id: id, user: id.User}
	resp := res.ResponseToken
	if inSPNEGO {
		b, err := spnego.AcceptCompleted(spnegoMech, resp, nil).Marshal()
		if err != nil {
			return outcome{res: resError, reason: err.Error()}
		}
		resp = b
	}
	if resp != nil {
		out.header = []string{"Negotiate " + base64.StdEncoding.EncodeToString(resp)}
	}
	return out
}

func (n *negotiateScheme) reply(o outcome, t *spnego.NegTokenResp) outcome {
	b, err := t.Marshal()
	if err != nil {
		return outcome{res: resError, reason: err.Error()}
	}
	o.header = []string{"Negotiate " + base64.StdEncoding.EncodeToString(b)}
	return o
}

func kerberosIdentity(res *krb.Result, r *http.Request) *Identity {
	cb := "absent"
	if r.TLS == nil {
		cb = "not_applicable"
	}
	name := strings.Join(res.Client.NameString, "/")
	svc := strings.Join(res.Service.NameString, "/")
	id := &Identity{
		User: name + "@" + res.ClientRealm, Name: name, Domain: res.ClientRealm,
		Scheme: "Negotiate", Mechanism: "kerberos", ServiceName: &svc, ChannelBinding: cb,
		Delegated: res.Delegated != nil,
	}
	id.evidence = &evidenceTicket{ticket: res.Ticket, crealm: res.ClientRealm, cname: res.Client}
	for _, c := range res.DelegatedCreds {
		if len(c.SName.NameString) == 2 && c.SName.NameString[0] == "krbtgt" {
			id.delegatedTGT = &delegatedTGT{cred: c, crealm: res.ClientRealm, cname: res.Client}
			break
		}
	}
	if p := res.PAC; p != nil && p.Logon != nil {
		if p.Logon.UserSID != "" {
			id.SIDs = append(id.SIDs, p.Logon.UserSID)
		}
		id.SIDs = append(id.SIDs, p.Logon.GroupSIDs...)
		id.pacSIDs = len(id.SIDs) > 0
	}
	if !id.pacSIDs {
		// no PAC (MIT): the directory is asked by name, if the realm is its
		id.dirAccount = id.User
	}
	return id
}

func mechList(ms []spnego.OID) string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = m.String()
	}
	return strings.Join(s, ",")
}

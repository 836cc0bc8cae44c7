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
	if len(tok) > 0 && tok[0] == 0xa1 {
		// A NegTokenResp: the second leg of a negotiation. Kerberos needs
		// none, and nothing else is negotiated here.
		return fail("SPNEGO continuation without a negotiation in progress", "")
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
	if first.IsKerberos() && init.MechToken != nil {
		return n.kerberos(r, init.MechToken, true, first)
	}
	for _, m := range init.MechTypes {
		if m.IsKerberos() {
			// Kerberos offered but not optimistically: ask for it
			// (RFC 4178 §5: a mechanism other than the first needs the MIC
			// exchange, which this acceptor does not do; say so).
			return n.reply(outcome{res: resContinue, reason: "kerberos not sent optimistically"}, spnego.RequestMIC(m, nil))
		}
	}
	return fail("no supported mechanism offered (mechTypes "+mechList(init.MechTypes)+")", "")
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
	if p := res.PAC; p != nil && p.Logon != nil {
		if p.Logon.UserSID != "" {
			id.SIDs = append(id.SIDs, p.Logon.UserSID)
		}
		id.SIDs = append(id.SIDs, p.Logon.GroupSIDs...)
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

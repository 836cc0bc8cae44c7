package server

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"

	"github.com/gatehouse-auth/gatehouse/accounts"
	"github.com/gatehouse-auth/gatehouse/authheader"
	"github.com/gatehouse-auth/gatehouse/krb"
	"github.com/gatehouse-auth/gatehouse/ntlm"
	"github.com/gatehouse-auth/gatehouse/spnego"
)

// mechanisms is what the NTLM and Negotiate schemes share: how to start
// each mechanism's acceptor context, how to turn a finished one into an
// identity, and the connections handshakes are kept on. The schemes only
// move tokens between headers and contexts (the mechanisms and SPNEGO look
// inside them) and map the results to outcomes.
type mechanisms struct {
	krb      *krb.Acceptor      // nil: no keytab
	ntlm     *ntlm.ServerConfig // nil: no account store or verifier
	accounts Accounts           // nil with a pass-through verifier
	domain   string             // reported for local accounts
	guard    *guard
	gate     *Gate
}

// kerberos and ntlmMech are the mechanisms as SPNEGO composes them.
func (m *mechanisms) kerberos() spnego.Mechanism {
	return spnego.Mechanism{OID: spnego.OIDKerberos, Aliases: []spnego.OID{spnego.OIDMSKerberos},
		New: func() (spnego.Context, error) { return m.krb.NewContext(nil), nil }}
}

func (m *mechanisms) ntlmMech() spnego.Mechanism {
	return spnego.Mechanism{OID: spnego.OIDNTLM, Raw: ntlm.IsMessage, Continues: ntlm.Continues,
		New: func() (spnego.Context, error) { return ntlm.NewAcceptor(*m.ntlm), nil }}
}

// mechErr maps a mechanism's or SPNEGO's error to an outcome: a token that
// does not parse is a 400, a refused login a 401, anything else a 500.
func mechErr(err error, user string) outcome {
	switch {
	case errors.Is(err, krb.ErrMalformed), errors.Is(err, ntlm.ErrMalformed), errors.Is(err, spnego.ErrMalformed), errors.Is(err, spnego.ErrTooLarge):
		return bad(err.Error())
	case errors.Is(err, krb.ErrUnavailable):
		// the shared replay cache cannot be asked: fail closed with 503
		return outcome{res: resUnavailable, reason: err.Error(), user: user}
	case errors.Is(err, krb.ErrAuthFailed), errors.Is(err, ntlm.ErrAuthFailed),
		errors.Is(err, spnego.ErrNoMechanism), errors.Is(err, spnego.ErrNoContext), errors.Is(err, spnego.ErrBadMIC),
		errors.Is(err, spnego.ErrMICMissing), errors.Is(err, spnego.ErrRejected):
		return fail(err.Error(), user)
	}
	return outcome{res: resError, reason: err.Error(), user: user}
}

// finish turns a completed mechanism context into an identity after
// Extended Protection; an NTLM login also authenticates the connection.
func (m *mechanisms) finish(r *http.Request, ci *connInfo, scheme string, ctx any) outcome {
	var id *Identity
	var sent [16]byte
	var spnCapable bool
	var spn string
	switch c := ctx.(type) {
	case *krb.AcceptorContext:
		res := c.Result()
		id = kerberosIdentity(res, r)
		if res.HasBindings {
			sent = res.Bindings
		}
		spnCapable, spn = true, *id.ServiceName
	case *ntlm.Acceptor:
		res := c.Result()
		o := m.ntlmIdentity(r, res, scheme)
		if o.id == nil {
			return o
		}
		id = o.id
		sent, spnCapable, spn = res.ChannelBindings, res.HasTargetName || res.HasChannelBindings, res.TargetName
	default:
		return outcome{res: resError, reason: "server: no identity for a mechanism context"}
	}
	d := m.guard.check(r, sent, spnCapable, spn)
	if !d.Allow {
		return fail("extended protection: "+d.Reason, id.Name)
	}
	id.ServiceName, id.ChannelBinding = d.ServiceName, d.ChannelBinding
	if _, ok := ctx.(*ntlm.Acceptor); ok && ci != nil {
		ci.setIdentity(id, scheme)
	}
	return outcome{res: resSuccess, id: id, user: id.User}
}

// ntlmIdentity: a pass-through login names the domain the DC vouched for;
// a local one is the account (with its groups) as the store has it now.
func (m *mechanisms) ntlmIdentity(r *http.Request, res *ntlm.Result, scheme string) outcome {
	if m.accounts == nil {
		dom := strings.ToUpper(res.Domain)
		if dom == "" {
			dom = m.domain
		}
		return outcome{id: &Identity{User: dom + `\` + res.User, Name: res.User, Domain: dom, Scheme: scheme, Mechanism: "ntlm", dirAccount: dom + `\` + res.User}}
	}
	cr, err := m.accounts.Lookup(res.User)
	if err != nil {
		return fail("account vanished during the handshake", res.User)
	}
	return outcome{id: localIdentity(cr, m.domain, scheme, "ntlm", r)}
}

// ntlmLookup is ntlm.ServerConfig.Lookup over an account source.
func ntlmLookup(a Accounts) func(user, domain string) ([]byte, error) {
	return func(user, _ string) ([]byte, error) {
		c, err := a.Lookup(user)
		if errors.Is(err, accounts.ErrNotFound) {
			return nil, ntlm.ErrUnknownUser
		}
		if err != nil {
			return nil, err
		}
		return c.NTHash, nil
	}
}

// decodeToken is the one place the token of a Negotiate or NTLM header is
// decoded.
func decodeToken(c *authheader.Credentials) ([]byte, outcome, bool) {
	if c.Token68 == "" {
		return nil, bad(c.Scheme + " credentials carry no token"), false
	}
	tok, err := base64.StdEncoding.DecodeString(c.Token68)
	if err != nil {
		return nil, bad(c.Scheme + " token is not valid base64"), false
	}
	return tok, outcome{}, true
}

// tokenHeader is a WWW-Authenticate value carrying tok.
func tokenHeader(scheme string, tok []byte) []string {
	if tok == nil {
		return []string{scheme}
	}
	// one allocation for the value: the token encoded straight after the
	// scheme, 48 bytes (64 characters) at a time
	var sb strings.Builder
	sb.Grow(len(scheme) + 1 + base64.StdEncoding.EncodedLen(len(tok)))
	sb.WriteString(scheme)
	sb.WriteByte(' ')
	var chunk [64]byte
	for len(tok) > 0 {
		n := min(len(tok), 48)
		base64.StdEncoding.Encode(chunk[:], tok[:n])
		sb.Write(chunk[:base64.StdEncoding.EncodedLen(n)])
		tok = tok[n:]
	}
	return []string{sb.String()}
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

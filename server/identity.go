package server

import (
	"context"
	"encoding/json"

	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gatehouse-auth/gatehouse/krb"
)

// Identity is who made a request, as the application sees it.
type Identity struct {
	User      string   // full name: "alice" (local), "alice@EXAMPLE.TEST" (Kerberos)
	Name      string   // account name without domain
	Domain    string   // realm or NetBIOS domain
	Scheme    string   // Anonymous | Basic | Digest | NTLM | Negotiate | Certificate
	Mechanism string   // kerberos | ntlm | password | certificate | none
	Groups    []string // local groups; directory groups as DOMAIN\name
	SIDs      []string // from the PAC or the directory (tokenGroups)

	// ServiceName is nil where the client sent none it could (no
	// Extended Protection capable scheme), "" where it could but did not,
	// else the SPN the client bound to.
	ServiceName *string
	// ChannelBinding is verified | absent | not_applicable (no TLS).
	ChannelBinding string
	Delegated      bool
	Session        bool

	// delegatedTGT is the TGT the user delegated (Kerberos), for a proxy
	// that authenticates to its upstream as the user. Never shown, never
	// sealed into a session cookie.
	delegatedTGT *delegatedTGT
	// evidence is the Kerberos ticket the user presented, for constrained
	// delegation (S4U2Proxy) to an upstream.
	evidence *evidenceTicket
	// dirAccount is the account name a directory knows a domain user by
	// (NTLM verified by the DC, Basic verified by the KDC); pacSIDs marks
	// SIDs from a Kerberos PAC, which the directory names. Neither is
	// sealed into a session: a session's groups are those of its login.
	dirAccount string
	pacSIDs    bool
	// account names the AccountSource that can look this account up
	// again ("local": the account store), for session revalidation; ""
	// when there is none. Sealed into session cookies.
	account string
}

type evidenceTicket struct {
	ticket krb.Ticket
	crealm string
	cname  types.PrincipalName
}

type delegatedTGT struct {
	cred   krb.Credential
	crealm string
	cname  types.PrincipalName
}

// Anonymous reports whether this is the anonymous identity.
func (id *Identity) Anonymous() bool { return id.Scheme == "Anonymous" }

// identityJSON is the whoami JSON of docs/CONFIG.md.
type identityJSON struct {
	User           string   `json:"user"`
	Name           string   `json:"name"`
	Domain         string   `json:"domain"`
	Scheme         string   `json:"scheme"`
	Mechanism      string   `json:"mechanism"`
	Groups         []string `json:"groups"`
	SIDs           []string `json:"sids"`
	ServiceName    *string  `json:"service_name"`
	ChannelBinding string   `json:"channel_binding"`
	Delegated      bool     `json:"delegated"`
	Session        bool     `json:"session"`
}

// MarshalJSON writes the contract's whoami fields; lists are never null.
func (id *Identity) MarshalJSON() ([]byte, error) {
	j := identityJSON{
		User: id.User, Name: id.Name, Domain: id.Domain, Scheme: id.Scheme, Mechanism: id.Mechanism,
		Groups: id.Groups, SIDs: id.SIDs, ServiceName: id.ServiceName, ChannelBinding: id.ChannelBinding,
		Delegated: id.Delegated, Session: id.Session,
	}
	if j.Groups == nil {
		j.Groups = []string{}
	}
	if j.SIDs == nil {
		j.SIDs = []string{}
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (id *Identity) UnmarshalJSON(b []byte) error {
	var j identityJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*id = Identity{
		User: j.User, Name: j.Name, Domain: j.Domain, Scheme: j.Scheme, Mechanism: j.Mechanism,
		Groups: j.Groups, SIDs: j.SIDs, ServiceName: j.ServiceName, ChannelBinding: j.ChannelBinding,
		Delegated: j.Delegated, Session: j.Session,
	}
	return nil
}

type identityKey struct{}

// IdentityFrom returns the request's identity, or nil outside the middleware.
func IdentityFrom(ctx context.Context) *Identity {
	id, _ := ctx.Value(identityKey{}).(*Identity)
	return id
}

// WithIdentity returns ctx carrying id.
func WithIdentity(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

package client

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	krbclient "github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gatehouse-auth/gatehouse/krb"
)

// ServiceAccount is a service acting for its users with constrained
// delegation (MS-SFU S4U2Proxy): given the ticket a user presented to the
// service (the evidence ticket), the KDC issues the service a ticket to
// another service in the user's name, if the realm allows that pair
// (AD: msDS-AllowedToDelegateTo). The user delegates nothing. gokrb5 has
// no S4U: the TGS-REQ is gokrb5's with the additional ticket and the
// cname-in-addl-tkt option added and re-signed here.
type ServiceAccount struct {
	k *kerberos

	mu      sync.Mutex
	tgt     messages.Ticket
	tgtKey  types.EncryptionKey
	until   time.Time
	tickets map[string]*s4uTicket // by user and target SPN
}

type s4uTicket struct {
	tkt   messages.Ticket
	der   []byte
	key   types.EncryptionKey
	until time.Time
}

// kdcOptCNameInAddlTkt is KDC option 14 (MS-SFU §2.2.3).
const kdcOptCNameInAddlTkt = 14

// maxS4UTickets bounds ServiceAccount.tickets.
const maxS4UTickets = 4096

// NewServiceAccount logs in as name@realm with keys from kt (the account's
// own entries: AD's salt is the account's, whatever SPNs it has).
func NewServiceAccount(cfg *config.Config, kt *keytab.Keytab, name, realm string) (*ServiceAccount, error) {
	cl := krbclient.NewWithKeytab(name, realm, kt, cfg, krbclient.DisablePAFXFAST(true))
	s := &ServiceAccount{k: &kerberos{cl: cl}, tickets: map[string]*s4uTicket{}}
	if err := s.refreshTGT(); err != nil {
		return nil, err
	}
	return s, nil
}

// refreshTGT gets a TGT when the one held expires within a minute.
// Called with s.mu held, or before s is shared.
func (s *ServiceAccount) refreshTGT() error {
	if time.Now().Add(time.Minute).Before(s.until) {
		return nil
	}
	tgt, key, until, err := s.k.baseTGT() // an AS exchange: this client has no ccache
	if err != nil {
		return fmt.Errorf("client: service account: %w", err)
	}
	s.tgt, s.tgtKey, s.until = tgt, key, until
	return nil
}

// Authorization returns an "Authorization: Negotiate" value for spn in the
// name of cname@crealm, whose ticket to this service is evidence.
func (s *ServiceAccount) Authorization(evidence krb.Ticket, crealm string, cname types.PrincipalName, spn string) (string, func(*http.Response) error, error) {
	s.mu.Lock()
	id := cname.PrincipalNameString() + "@" + crealm + "\x00" + spn
	t := s.tickets[id]
	if t == nil || time.Now().Add(time.Minute).After(t.until) {
		var err error
		if t, err = s.proxy(evidence, cname, spn); err != nil {
			s.mu.Unlock()
			return "", nil, err
		}
		if len(s.tickets) >= maxS4UTickets {
			clear(s.tickets)
		}
		s.tickets[id] = t
	}
	s.mu.Unlock()
	tok, st, err := buildToken(&s.k.in, t.tkt, t.der, t.key, crealm, cname, nil, nil)
	if err != nil {
		return "", nil, err
	}
	return tokenValue("Negotiate", tok), st.check(true), nil
}

// proxy is the S4U2Proxy TGS exchange. Called with s.mu held.
func (s *ServiceAccount) proxy(evidence krb.Ticket, cname types.PrincipalName, spn string) (*s4uTicket, error) {
	if err := s.refreshTGT(); err != nil {
		return nil, err
	}
	der, err := krb.MarshalTicket(&evidence)
	if err != nil {
		return nil, err
	}
	var ev messages.Ticket
	if err := ev.Unmarshal(der); err != nil {
		return nil, fmt.Errorf("client: evidence ticket: %w", err)
	}
	realm := s.k.cl.Credentials.Domain()
	sname := types.NewPrincipalName(nametype.KRB_NT_SRV_INST, spn)
	req, err := messages.NewTGSReq(s.k.cl.Credentials.CName(), realm, s.k.forwardableConfig(), s.tgt, s.tgtKey, sname, false)
	if err != nil {
		return nil, err
	}
	req.ReqBody.AdditionalTickets = []messages.Ticket{ev}
	types.SetFlag(&req.ReqBody.KDCOptions, kdcOptCNameInAddlTkt)
	types.SetFlag(&req.ReqBody.KDCOptions, flags.Forwardable)
	// The reply names the user; gokrb5 checks it against the request's
	// cname, which KDCs ignore in a TGS-REQ (RFC 4120 §5.4.1: AS only).
	req.ReqBody.CName = cname
	if err := signTGSReq(&req, s.tgt, s.tgtKey, s.k.cl.Credentials.CName()); err != nil {
		return nil, err
	}
	_, rep, err := s.k.cl.TGSExchange(req, realm, s.tgt, s.tgtKey, 0)
	if err != nil {
		return nil, fmt.Errorf("client: constrained delegation to %s for %s: %w", spn, cname.PrincipalNameString(), err)
	}
	if !rep.CName.Equal(cname) || !strings.EqualFold(strings.Join(rep.Ticket.SName.NameString, "/"), spn) {
		return nil, fmt.Errorf("client: the KDC issued %s a ticket for %s, not %s for %s", rep.CName.PrincipalNameString(),
			rep.Ticket.SName.PrincipalNameString(), cname.PrincipalNameString(), spn)
	}
	tder, err := krb.MarshalTicket(&krb.Ticket{Realm: rep.Ticket.Realm, SName: rep.Ticket.SName, EncPart: rep.Ticket.EncPart})
	if err != nil {
		return nil, err
	}
	return &s4uTicket{tkt: rep.Ticket, der: tder, key: rep.DecryptedEncPart.Key, until: rep.DecryptedEncPart.EndTime}, nil
}

// Realm is the service account's realm.
func (s *ServiceAccount) Realm() string { return s.k.cl.Credentials.Domain() }

// AuthorizationForUser is Authorization for a user who did not
// authenticate with Kerberos (NTLM, a password, a certificate): S4U2Self
// first gets this service a ticket to itself in user@realm's name
// (protocol transition; AD: the account is trusted to authenticate for
// delegation), which then serves as the evidence ticket of S4U2Proxy.
func (s *ServiceAccount) AuthorizationForUser(user, realm, spn string) (string, func(*http.Response) error, error) {
	cname := types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, user)
	s.mu.Lock()
	id := cname.PrincipalNameString() + "@" + realm + "\x00" + spn
	t := s.tickets[id]
	s.mu.Unlock()
	if t == nil || time.Now().Add(time.Minute).After(t.until) {
		s.mu.Lock()
		ev, err := s.self(cname, realm)
		s.mu.Unlock()
		if err != nil {
			return "", nil, err
		}
		return s.Authorization(ev, realm, cname, spn)
	}
	return s.Authorization(krb.Ticket{}, realm, cname, spn) // cached: no evidence needed
}

// self is the S4U2Self TGS exchange. Called with s.mu held.
func (s *ServiceAccount) self(cname types.PrincipalName, realm string) (krb.Ticket, error) {
	if err := s.refreshTGT(); err != nil {
		return krb.Ticket{}, err
	}
	crealm := s.k.cl.Credentials.Domain()
	req, err := messages.NewTGSReq(s.k.cl.Credentials.CName(), crealm, s.k.forwardableConfig(), s.tgt, s.tgtKey, s.k.cl.Credentials.CName(), false)
	if err != nil {
		return krb.Ticket{}, err
	}
	types.SetFlag(&req.ReqBody.KDCOptions, flags.Forwardable)
	req.ReqBody.CName = cname // the reply names the user (see proxy)
	if err := signTGSReq(&req, s.tgt, s.tgtKey, s.k.cl.Credentials.CName()); err != nil {
		return krb.Ticket{}, err
	}
	pa, err := krb.MarshalPAForUser(cname, realm, s.tgtKey.KeyValue)
	if err != nil {
		return krb.Ticket{}, err
	}
	req.PAData = append(req.PAData, types.PAData{PADataType: krb.PADataForUser, PADataValue: pa})
	_, rep, err := s.k.cl.TGSExchange(req, crealm, s.tgt, s.tgtKey, 0)
	if err != nil {
		return krb.Ticket{}, fmt.Errorf("client: protocol transition (S4U2Self) for %s@%s: %w", cname.PrincipalNameString(), realm, err)
	}
	if !rep.CName.Equal(cname) {
		return krb.Ticket{}, fmt.Errorf("client: S4U2Self issued a ticket for %s, not %s", rep.CName.PrincipalNameString(), cname.PrincipalNameString())
	}
	return krb.Ticket{Realm: rep.Ticket.Realm, SName: rep.Ticket.SName, EncPart: rep.Ticket.EncPart}, nil
}

// OwnAuthorization returns an "Authorization: Negotiate" value for spn in
// the service account's own name: the fixed identity of ASP.NET's
// <identity impersonate="true" userName=…/>, whoever the user is. gokrb5
// logs in with the keytab when first asked, renews the TGT, and caches
// the service ticket per SPN; every call makes a fresh authenticator. The
// check verifies the upstream's AP-REP (mutual authentication required).
func (s *ServiceAccount) OwnAuthorization(spn string) (string, func(*http.Response) error, error) {
	tok, st, err := s.k.token(spn, nil, DelegateNone)
	if err != nil {
		return "", nil, fmt.Errorf("client: service account to %s: %w", spn, err)
	}
	return tokenValue("Negotiate", tok), st.check(false), nil
}

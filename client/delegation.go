package client

import (
	"encoding/binary"
	"fmt"
	"net/http"
	"time"

	krbclient "github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/iana/patype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gatehouse-auth/gatehouse/ccache"
	"github.com/gatehouse-auth/gatehouse/krb"
)

// Delegation says when the client hands the server a forwarded TGT, so
// that the server can act as the user (RFC 4121 §4.1.1, GSS_C_DELEG_FLAG);
// curl's --delegation levels.
type Delegation int

const (
	// DelegateNone never delegates (the default).
	DelegateNone Delegation = iota
	// DelegatePolicy delegates only to services whose tickets the KDC
	// marks ok-as-delegate (GSS_C_DELEG_POLICY_FLAG): the realm's
	// administrators decide, as with Windows' "trusted for delegation".
	DelegatePolicy
	// DelegateAlways delegates to every Kerberos server.
	DelegateAlways
)

// ParseDelegation reads "none", "policy" or "always".
func ParseDelegation(s string) (Delegation, error) {
	switch s {
	case "none", "":
		return DelegateNone, nil
	case "policy":
		return DelegatePolicy, nil
	case "always":
		return DelegateAlways, nil
	}
	return DelegateNone, fmt.Errorf("delegation %q: want none, policy or always", s)
}

// retryForwarding is how long a failed TGT forwarding is not retried.
const retryForwarding = time.Minute

// delegation returns the KRB-CRED for the server of spn, whose session key
// is key, or nil when the policy or the credentials do not allow it (the
// request then goes without, as GSS-API does, with a trace line).
// Called with k.mu held.
func (k *kerberos) delegation(spn string, key types.EncryptionKey, d Delegation) []byte {
	if d == DelegatePolicy {
		ok, err := k.okAsDelegate(spn)
		if err != nil {
			k.tracef("delegation: cannot read the flags of the ticket for %s: %v", spn, err)
			return nil
		}
		if !ok {
			k.tracef("delegation: the KDC does not mark %s ok-as-delegate; not delegating", spn)
			return nil
		}
	}
	fwd, err := k.forwardedTGT()
	if err != nil {
		k.tracef("delegation: %v; not delegating", err)
		return nil
	}
	cred, err := k.in.KRBCred([]krb.Credential{*fwd}, key)
	if err != nil {
		k.tracef("delegation: %v", err)
		return nil
	}
	return cred
}

func (k *kerberos) tracef(format string, a ...any) {
	if k.trace != nil {
		k.trace(format, a...)
	}
}

func (k *kerberos) krbtgt() types.PrincipalName {
	return types.PrincipalName{NameType: nametype.KRB_NT_SRV_INST, NameString: []string{"krbtgt", k.cl.Credentials.Domain()}}
}

// forwardableConfig is the client's krb5 config asking for forwardable
// tickets (delegation needs them; gokrb5 takes the option from config).
func (k *kerberos) forwardableConfig() *config.Config {
	cfg := *k.cl.Config
	cfg.LibDefaults.Forwardable = true
	return &cfg
}

// baseTGT returns the client's TGT, its session key and its end time: the
// ccache's, or a fresh forwardable one from an AS exchange (password or
// keytab; gokrb5 keeps its own TGT to itself).
func (k *kerberos) baseTGT() (messages.Ticket, types.EncryptionKey, time.Time, error) {
	realm := k.cl.Credentials.Domain()
	if k.cc != nil {
		e, ok := k.cc.GetEntry(k.krbtgt())
		if !ok || time.Now().After(e.EndTime) {
			return messages.Ticket{}, types.EncryptionKey{}, time.Time{}, fmt.Errorf("no valid TGT for %s in the ccache", realm)
		}
		var t messages.Ticket
		if err := t.Unmarshal(e.Ticket); err != nil {
			return messages.Ticket{}, types.EncryptionKey{}, time.Time{}, fmt.Errorf("ccache TGT: %v", err)
		}
		return t, e.Key, e.EndTime, nil
	}
	req, err := messages.NewASReqForTGT(realm, k.forwardableConfig(), k.cl.Credentials.CName())
	if err != nil {
		return messages.Ticket{}, types.EncryptionKey{}, time.Time{}, err
	}
	rep, err := k.cl.ASExchange(realm, req, 0)
	if err != nil {
		return messages.Ticket{}, types.EncryptionKey{}, time.Time{}, fmt.Errorf("TGT for %s: %v", k.cl.Credentials.CName().PrincipalNameString(), err)
	}
	return rep.Ticket, rep.DecryptedEncPart.Key, rep.DecryptedEncPart.EndTime, nil
}

// forwardedTGT returns a TGT marked forwarded (RFC 4120 §2.6): a TGS
// exchange for krbtgt/REALM with the FORWARDED option, from the base TGT,
// which must be forwardable. Cached until a minute before it expires.
func (k *kerberos) forwardedTGT() (*krb.Credential, error) {
	now := time.Now()
	if k.fwd != nil && now.Before(k.fwd.EndTime.Add(-time.Minute)) {
		return k.fwd, nil
	}
	if k.fwdErr != nil && now.Before(k.fwdRetry) {
		return nil, k.fwdErr
	}
	fwd, err := k.forwardTGT()
	if err != nil {
		k.fwdErr, k.fwdRetry = err, now.Add(retryForwarding)
		return nil, err
	}
	k.fwd, k.fwdErr = fwd, nil
	return fwd, nil
}

func (k *kerberos) forwardTGT() (*krb.Credential, error) {
	tgt, key, _, err := k.baseTGT()
	if err != nil {
		return nil, err
	}
	realm := k.cl.Credentials.Domain()
	req, err := messages.NewTGSReq(k.cl.Credentials.CName(), realm, k.forwardableConfig(), tgt, key, k.krbtgt(), false)
	if err != nil {
		return nil, err
	}
	types.SetFlag(&req.ReqBody.KDCOptions, flags.Forwarded)
	if err := signTGSReq(&req, tgt, key, req.ReqBody.CName); err != nil {
		return nil, err
	}
	_, rep, err := k.cl.TGSExchange(req, realm, tgt, key, 0)
	if err != nil {
		return nil, fmt.Errorf("forwarding the TGT (is it forwardable? kinit -f): %v", err)
	}
	ep := rep.DecryptedEncPart
	c := &krb.Credential{
		Ticket: krb.Ticket{Realm: rep.Ticket.Realm, SName: rep.Ticket.SName, EncPart: rep.Ticket.EncPart},
		Key:    ep.Key, PRealm: rep.CRealm, PName: rep.CName, Flags: kerberosFlags(ep.Flags.Bytes),
		AuthTime: ep.AuthTime, StartTime: ep.StartTime, EndTime: ep.EndTime, RenewTill: ep.RenewTill,
		SRealm: ep.SRealm, SName: ep.SName,
	}
	if !c.Forwarded() {
		return nil, fmt.Errorf("the KDC did not mark the TGT forwarded")
	}
	return c, nil
}

// okAsDelegate reports whether the KDC marks the tickets of spn
// ok-as-delegate. gokrb5's ticket cache drops the flags, so the first call
// per SPN does its own TGS exchange.
func (k *kerberos) okAsDelegate(spn string) (bool, error) {
	if ok, seen := k.okDeleg[spn]; seen {
		return ok, nil
	}
	tgt, key, _, err := k.baseTGT()
	if err != nil {
		return false, err
	}
	realm := k.cl.Credentials.Domain()
	req, err := messages.NewTGSReq(k.cl.Credentials.CName(), realm, k.cl.Config, tgt, key,
		types.NewPrincipalName(nametype.KRB_NT_SRV_INST, spn), false)
	if err != nil {
		return false, err
	}
	_, rep, err := k.cl.TGSExchange(req, realm, tgt, key, 0)
	if err != nil {
		return false, err
	}
	ok := kerberosFlags(rep.DecryptedEncPart.Flags.Bytes).Has(krb.TicketFlagOKAsDelegate)
	if k.okDeleg == nil {
		k.okDeleg = map[string]bool{}
	}
	k.okDeleg[spn] = ok
	return ok, nil
}

func kerberosFlags(b []byte) krb.KerberosFlags {
	var v [4]byte
	copy(v[:], b)
	return krb.KerberosFlags(binary.BigEndian.Uint32(v[:]))
}

// signTGSReq recomputes the PA-TGS-REQ of req after its body changed: an
// AP-REQ with the TGT whose authenticator checksums the body (RFC 4120
// §5.4.1, key usage 6). gokrb5's NewTGSReq signs before the caller can
// set options it has no setting for (FORWARDED).
func signTGSReq(req *messages.TGSReq, tgt messages.Ticket, key types.EncryptionKey, cname types.PrincipalName) error {
	body, err := req.ReqBody.Marshal()
	if err != nil {
		return err
	}
	et, err := crypto.GetEtype(key.KeyType)
	if err != nil {
		return err
	}
	sum, err := et.GetChecksumHash(key.KeyValue, body, keyusage.TGS_REQ_PA_TGS_REQ_AP_REQ_AUTHENTICATOR_CHKSUM)
	if err != nil {
		return err
	}
	auth, err := types.NewAuthenticator(tgt.Realm, cname) // the TGT's client
	if err != nil {
		return err
	}
	auth.Cksum = types.Checksum{CksumType: et.GetHashID(), Checksum: sum}
	ap, err := messages.NewAPReq(tgt, key, auth)
	if err != nil {
		return err
	}
	apb, err := ap.Marshal()
	if err != nil {
		return err
	}
	req.PAData = types.PADataSequence{{PADataType: patype.PA_TGS_REQ, PADataValue: apb}}
	return nil
}

// Delegated acts as a user who delegated a TGT to this service: the
// server's proxy uses it to authenticate to an upstream as that user
// (Kerberos unconstrained delegation, the "double hop"). gokrb5 does the
// TGS exchanges from the delegated TGT; the AP-REQs are ours. Safe for
// concurrent use.
type Delegated struct {
	k *kerberos
}

// NewDelegated makes a client from a delegated TGT of cname@crealm
// (krb.Result.DelegatedCreds); cfg (LoadKrb5Config) says where the KDCs
// are.
func NewDelegated(cfg *config.Config, tgt krb.Credential, crealm string, cname types.PrincipalName) (*Delegated, error) {
	if len(tgt.SName.NameString) != 2 || tgt.SName.NameString[0] != "krbtgt" {
		return nil, fmt.Errorf("client: delegated credential is for %s, not a TGT", tgt.SName.PrincipalNameString())
	}
	tkt, err := krb.MarshalTicket(&tgt.Ticket)
	if err != nil {
		return nil, err
	}
	// An in-memory ccache holding the TGT: gokrb5 builds a client from a
	// ccache or from long-term keys only.
	b := []byte{5, 4, 0, 0}
	b = ccache.AppendPrincipal(b, crealm, cname)
	b = ccache.AppendPrincipal(b, crealm, cname)
	var fl [4]byte
	binary.BigEndian.PutUint32(fl[:], uint32(tgt.Flags))
	srealm := tgt.SRealm
	if srealm == "" {
		srealm = tgt.Ticket.Realm
	}
	b = marshalCCCredential(b, 4, srealm, tgt.SName, tgt.Key,
		[4]time.Time{tgt.AuthTime, tgt.StartTime, tgt.EndTime, tgt.RenewTill}, fl[:], tkt)
	cc, err := parseCCache(b)
	if err != nil {
		return nil, fmt.Errorf("client: delegated TGT: %w", err)
	}
	cl, err := krbclient.NewFromCCache(cc, cfg, krbclient.DisablePAFXFAST(true))
	if err != nil {
		return nil, fmt.Errorf("client: delegated TGT: %w", err)
	}
	return &Delegated{k: &kerberos{cl: cl}}, nil
}

// Authorization returns an "Authorization: Negotiate" value for spn, with
// a fresh authenticator; the response's AP-REP may be checked with check.
func (d *Delegated) Authorization(spn string) (value string, check func(*http.Response) error, err error) {
	tok, st, err := d.k.token(spn, nil, DelegateNone)
	if err != nil {
		return "", nil, err
	}
	return tokenValue("Negotiate", tok), st.check(true), nil
}

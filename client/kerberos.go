package client

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	krbclient "github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gatehouse-auth/gatehouse/krb"
	"github.com/gatehouse-auth/gatehouse/spnego"
)

// ErrNoKerberos is returned when no Kerberos credentials can be had.
var ErrNoKerberos = errors.New("client: no Kerberos credentials")

// kerberos holds the Kerberos client: implicit (ccache or client keytab)
// or from explicit credentials. gokrb5 does the KDC exchanges and caches
// service tickets; the AP-REQ's GSS checksum (channel bindings, flags) and
// the AP-REP check are done here.
type kerberos struct {
	mu     sync.Mutex
	cl     *krbclient.Client
	cc     *credentials.CCache // the ccache cl came from, if any (its TGT is forwarded)
	ccPath string              // its file; service tickets are added to it
	in     krb.Initiator
	trace  func(format string, a ...any)

	fwd      *krb.Credential // forwarded TGT, until it expires
	fwdErr   error           // why forwarding failed, not retried before fwdRetry
	fwdRetry time.Time
	okDeleg  map[string]bool  // SPN: the KDC marked its tickets ok-as-delegate
	tickets  map[*byte][]byte // service tickets encoded, by their ciphertext
}

// krb5Config loads KRB5_CONFIG (or /etc/krb5.conf).
func krb5Config() (*config.Config, error) { return LoadKrb5Config("") }

// LoadKrb5Config loads a krb5.conf: path, else KRB5_CONFIG (its first
// file), else /etc/krb5.conf.
func LoadKrb5Config(path string) (*config.Config, error) {
	if path == "" {
		path = os.Getenv("KRB5_CONFIG")
	}
	if path == "" {
		path = "/etc/krb5.conf"
	}
	c, err := config.Load(strings.SplitN(path, ":", 2)[0])
	if err != nil {
		return nil, fmt.Errorf("client: krb5 config %s: %w", path, err)
	}
	return c, nil
}

// implicitKerberos logs in from KRB5CCNAME, else KRB5_CLIENT_KTNAME.
func implicitKerberos() (*krbclient.Client, *credentials.CCache, error) {
	cfg, err := krb5Config()
	if err != nil {
		return nil, nil, err
	}
	if cc := os.Getenv("KRB5CCNAME"); cc != "" {
		path := ccachePath(cc)
		if path == "" {
			return nil, nil, fmt.Errorf("%w: ccache type of %q is not supported (FILE only)", ErrNoKerberos, cc)
		}
		ccache, err := loadCCache(path)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrNoKerberos, err)
		}
		cl, err := krbclient.NewFromCCache(ccache, cfg, krbclient.DisablePAFXFAST(true))
		return cl, ccache, err
	}
	if kt := os.Getenv("KRB5_CLIENT_KTNAME"); kt != "" {
		k, err := keytab.Load(strings.TrimPrefix(kt, "FILE:"))
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrNoKerberos, err)
		}
		if len(k.Entries) == 0 {
			return nil, nil, fmt.Errorf("%w: keytab %s is empty", ErrNoKerberos, kt)
		}
		p := k.Entries[0].Principal
		cl := krbclient.NewWithKeytab(strings.Join(p.Components, "/"), p.Realm, k, cfg, krbclient.DisablePAFXFAST(true))
		return cl, nil, cl.Login()
	}
	return nil, nil, ErrNoKerberos
}

// explicitKerberos logs in with a password: "user@REALM" or the default
// realm.
func explicitKerberos(c *Credentials) (*krbclient.Client, error) {
	cfg, err := krb5Config()
	if err != nil {
		return nil, err
	}
	user, realm, ok := strings.Cut(c.User, "@")
	if !ok {
		realm = cfg.LibDefaults.DefaultRealm
	}
	if realm == "" {
		return nil, fmt.Errorf("%w: no realm for %q", ErrNoKerberos, c.User)
	}
	cl := krbclient.NewWithPassword(user, strings.ToUpper(realm), c.Password, cfg, krbclient.DisablePAFXFAST(true))
	if err := cl.Login(); err != nil {
		return nil, fmt.Errorf("client: kerberos login as %s: %w", c.User, err)
	}
	return cl, nil
}

// apReqState is what checking the AP-REP needs: the SPNEGO initiator
// that sent the AP-REQ.
type apReqState struct {
	ini *spnego.Initiator
}

// token builds a SPNEGO NegTokenInit with a fresh AP-REQ for spn, mutual
// authentication requested, the channel-bindings hash when given, and the
// forwarded TGT when the delegation policy allows it for spn.
func (k *kerberos) token(spn string, cb *[16]byte, d Delegation) ([]byte, *apReqState, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	tkt, key, err := k.serviceTicket(spn)
	if err != nil {
		return nil, nil, fmt.Errorf("client: service ticket for %s: %w", spn, err)
	}
	var deleg []byte
	if d != DelegateNone {
		deleg = k.delegation(spn, key, d)
	}
	return buildToken(&k.in, tkt, k.ticketDER(tkt), key, k.cl.Credentials.Domain(), k.cl.Credentials.CName(), cb, deleg)
}

// ticketDER returns the encoding of a cached service ticket, made once per
// ticket (gokrb5 hands back the same ciphertext for a cached ticket).
// Called with k.mu held.
func (k *kerberos) ticketDER(tkt messages.Ticket) []byte {
	if len(tkt.EncPart.Cipher) == 0 {
		return nil
	}
	id := &tkt.EncPart.Cipher[0]
	if der, ok := k.tickets[id]; ok {
		return der
	}
	der, err := krb.MarshalTicket(&krb.Ticket{Realm: tkt.Realm, SName: tkt.SName, EncPart: tkt.EncPart})
	if err != nil {
		return nil // buildToken encodes it and reports the error
	}
	if k.tickets == nil || len(k.tickets) >= maxCachedTickets {
		k.tickets = map[*byte][]byte{}
	}
	k.tickets[id] = der
	return der
}

// maxCachedTickets bounds kerberos.tickets (one per service in use).
const maxCachedTickets = 64

// buildToken makes the SPNEGO token for a service ticket: a fresh
// authenticator (new time, sequence number and confounder) with the
// RFC 4121 checksum, carrying deleg (a KRB-CRED) when not nil, as the
// optimistic token of an spnego.Initiator offering Kerberos.
func buildToken(in *krb.Initiator, tkt messages.Ticket, tktDER []byte, key types.EncryptionKey, realm string, cname types.PrincipalName, cb *[16]byte, deleg []byte) ([]byte, *apReqState, error) {
	ck := krb.GSSChecksum{Flags: krb.GSSMutual | krb.GSSInteg | krb.GSSConf | krb.GSSSequence}
	if cb != nil {
		ck.Bindings = *cb
	}
	if deleg != nil {
		ck.Flags |= krb.GSSDeleg
		ck.Delegation = deleg
	}
	p := &krb.APReqParams{
		Ticket:     krb.Ticket{Realm: tkt.Realm, SName: tkt.SName, EncPart: tkt.EncPart},
		TicketDER:  tktDER,
		SessionKey: key, CRealm: realm, CName: cname, Checksum: &ck, Mutual: true,
	}
	ini := spnego.NewInitiator(spnego.Mechanism{OID: spnego.OIDKerberos, Aliases: []spnego.OID{spnego.OIDMSKerberos},
		New: func() (spnego.Context, error) { return in.NewContext(p), nil }})
	tok, _, err := ini.Step(nil)
	if err != nil {
		return nil, nil, err
	}
	return tok, &apReqState{ini: ini}, nil
}

// checkAPRep verifies the server's mutual-authentication token: the AP-REP
// must decrypt with the session key and echo the authenticator's time.
func (s *apReqState) checkAPRep(header string) error { return finishNegotiate(s.ini, header) }

// check returns the response check for this AP-REQ.
func (s *apReqState) check(optional bool) func(*http.Response) error {
	return func(r *http.Response) error {
		h := r.Header.Get("WWW-Authenticate")
		if h == "" && optional {
			return nil
		}
		return s.checkAPRep(h)
	}
}

// allowedImplicit reports whether host may get implicit credentials.
func allowedImplicit(list []string, host string) bool {
	host = strings.ToLower(host)
	for _, a := range list {
		a = strings.ToLower(strings.TrimSpace(a))
		switch {
		case a == "*", a == host:
			return true
		case strings.HasPrefix(a, ".") && strings.HasSuffix(host, a):
			return true
		case strings.HasPrefix(a, "*.") && strings.HasSuffix(host, a[1:]): // client.yaml's "*.domain"
			return true
		}
	}
	return false
}

// kerberosFor returns the Kerberos client for a target: from explicit
// credentials, else implicit ones if the host is allowed them.
func (t *Transport) kerberosFor(req *http.Request, tg *target) (*kerberos, error) {
	t.krbMu.Lock()
	defer t.krbMu.Unlock()
	if tg.creds != nil {
		// Explicit credentials are tried for Kerberos when they name a
		// realm (user@REALM) or Negotiate was asked for by name; a
		// DOMAIN\user is for NTLM.
		if strings.Contains(tg.creds.User, `\`) || (!strings.Contains(tg.creds.User, "@") && !named(tg.allowed, Negotiate)) {
			return nil, fmt.Errorf("%w: explicit credentials %q are not a Kerberos principal", ErrNoKerberos, tg.creds.User)
		}
		if k := t.explicit[*tg.creds]; k != nil {
			return k, nil
		}
		cl, err := explicitKerberos(tg.creds)
		if err != nil {
			return nil, err
		}
		if t.explicit == nil {
			t.explicit = map[Credentials]*kerberos{}
		}
		k := &kerberos{cl: cl, trace: t.tracef}
		t.explicit[*tg.creds] = k
		return k, nil
	}
	if err := t.implicitAllowed(req, tg); err != nil {
		return nil, err
	}
	f := t.loadImplicit()
	t.krbMu.Unlock()
	<-f.done
	t.krbMu.Lock()
	if f.err != nil && t.implicit == f {
		t.implicit = nil // try again next time (a kinit may come)
	}
	return f.k, f.err
}

// implicitLoad is the implicit Kerberos client being loaded (krb5.conf and
// the ccache or keytab): RoundTrip starts it with the first request, so
// that it overlaps the round trip that brings the 401.
type implicitLoad struct {
	done chan struct{}
	k    *kerberos
	err  error
}

// loadImplicit returns the load in progress or done, starting it if
// needed. Called with t.krbMu held.
func (t *Transport) loadImplicit() *implicitLoad {
	if t.implicit == nil {
		f := &implicitLoad{done: make(chan struct{})}
		t.implicit = f
		go func() {
			defer close(f.done)
			var cl *krbclient.Client
			var cc *credentials.CCache
			var err error
			if t.Identity != nil {
				cl, cc, err = identityKerberos(t.Identity) // never the process's own
			} else {
				cl, cc, err = implicitKerberos()
			}
			if err != nil {
				f.err = err
				return
			}
			f.k = &kerberos{cl: cl, cc: cc, trace: t.tracef}
			if cc != nil && t.Identity == nil {
				f.k.ccPath = ccachePath(os.Getenv("KRB5CCNAME"))
			}
		}()
	}
	return t.implicit
}

// prefetchKerberos starts loading the implicit Kerberos client when the
// request may need it: Negotiate allowed, no explicit credentials, the host
// allowed implicit ones, and a ccache (a local file: nothing is sent
// anywhere before the server asks).
func (t *Transport) prefetchKerberos(req *http.Request, tg *target) {
	hasCC := os.Getenv("KRB5CCNAME") != ""
	if t.Identity != nil {
		hasCC = len(t.Identity.CCache) > 0
	}
	if tg.creds != nil || !allowed(tg.allowed, Negotiate) || !hasCC || t.implicitAllowed(req, tg) != nil {
		return
	}
	t.krbMu.Lock()
	t.loadImplicit()
	t.krbMu.Unlock()
}

// implicitAllowed says whether a target may receive implicit credentials:
// its host is in ImplicitAllow, or (BITS) implicit credentials were set for
// the proxy and none for the server, and the request goes through it.
func (t *Transport) implicitAllowed(req *http.Request, tg *target) error {
	if tg.implicitOK {
		return nil // --cred TARGET:SCHEME:implicit
	}
	host := req.URL.Hostname()
	if tg.key == "proxy" {
		host = tg.proxyHost
	}
	ph := t.proxyHost(req)
	viaProxy := tg.key != "proxy" && t.Proxy == nil && ph != "" &&
		(named(t.ProxySchemes, Negotiate) || named(t.ProxySchemes, NTLM) || named(t.ProxyImplicit, Negotiate) || named(t.ProxyImplicit, NTLM)) &&
		(allowedImplicit(t.ImplicitAllow, ph) || len(t.ProxyImplicit) > 0)
	if !viaProxy && !allowedImplicit(t.ImplicitAllow, host) {
		return fmt.Errorf("implicit credentials are not sent to %s (not in the implicit-allow list)", host)
	}
	return nil
}

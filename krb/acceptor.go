package krb

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/types"
)

// DefaultClockSkew is the largest difference allowed between the client's
// clock and ours, and how long a replay-cache entry lives (RFC 4120 §1.7
// suggests 5 minutes; MIT and Windows default to it).
const DefaultClockSkew = 5 * time.Minute

// Key usages (RFC 4120 §7.5.1; MS-PAC §2.8.1 for 17).
const (
	usageTicket        = 2
	usageAuthenticator = 11
	usageAPRepEncPart  = 12
	usagePACServerSig  = 17 // KERB_NON_KERB_CKSUM_SALT (MS-KILE §3.1.5.9)
)

// Config configures an Acceptor. Only Keytab is required.
type Config struct {
	// Keytab holds the service keys; several kvnos of one principal may
	// be present (key rotation), the ticket's kvno picks one.
	Keytab *keytab.Keytab
	// Principals restricts which service principals are accepted, as
	// "HTTP/host" (any realm) or "HTTP/host@REALM". Empty: every principal
	// in the keytab.
	Principals []string
	// ClockSkew: DefaultClockSkew when zero.
	ClockSkew time.Duration
	// AllowWeakEtypes admits RC4-HMAC and DES3 tickets and session keys.
	// Off: only AES-CTS-HMAC-SHA1 (RFC 3962) and AES-CTS-HMAC-SHA2
	// (RFC 8009).
	AllowWeakEtypes bool
	// AcceptorSubkey puts a fresh random subkey in the AP-REP
	// (RFC 4121 §2); later per-message tokens and mechListMIC then use it.
	AcceptorSubkey bool
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// ReplayCache: a new NewReplayCache(DefaultReplayCacheEntries) when
	// nil. Share one cache between acceptors serving the same keys (and
	// keep it across reloads: a new cache forgets what was seen).
	ReplayCache ReplayCache
}

// Acceptor verifies Kerberos AP-REQs for the services of one keytab. It is
// safe for concurrent use; its only mutable state is the replay cache.
type Acceptor struct {
	keys       map[keyID]*serviceKey
	newest     map[keyID]uint32 // kvno 0 in the key: highest kvno per principal and etype
	principals map[string]bool  // "name@realm" present in the keytab
	index      map[string]principalInfo
	allowed    []allowedPrincipal
	skew       time.Duration
	allowWeak  bool
	subkey     bool
	now        func() time.Time
	rcache     ReplayCache
	derived    derivedKeyCache            // keys derived from session keys
	hints      atomic.Pointer[apReqHints] // the last accepted ticket's service name
}

// serviceKey is a keytab key with, for the AES etypes, its derived keys
// for the two usages it serves, computed once in NewAcceptor.
type serviceKey struct {
	types.EncryptionKey
	ticket  *usageKeys // key usage 2; nil for RC4/DES3 (gokrb5 then)
	pacKc   *macKey    // Kc of key usage 17; nil likewise
	tickets ticketCache
}

type keyID struct {
	principal string // name components joined by "/", "@", realm
	etype     int32
	kvno      uint32
}

type allowedPrincipal struct{ name, realm string }

// principalInfo is what Accept needs of a keytab principal, looked up by
// "name@realm" without building that string (Go's map index with
// string(bytes) does not allocate): the string itself for the key
// lookups, and whether Config.Principals admits it.
type principalInfo struct {
	name    string
	allowed bool
}

// NewAcceptor indexes the keytab and validates cfg.
func NewAcceptor(cfg Config) (*Acceptor, error) {
	if cfg.Keytab == nil || len(cfg.Keytab.Entries) == 0 {
		return nil, fmt.Errorf("krb: Config.Keytab is empty")
	}
	a := &Acceptor{
		keys:       map[keyID]*serviceKey{},
		newest:     map[keyID]uint32{},
		principals: map[string]bool{},
		skew:       cfg.ClockSkew,
		allowWeak:  cfg.AllowWeakEtypes,
		subkey:     cfg.AcceptorSubkey,
		now:        cfg.Now,
		rcache:     cfg.ReplayCache,
	}
	if a.skew <= 0 {
		a.skew = DefaultClockSkew
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.rcache == nil {
		a.rcache = NewReplayCache(DefaultReplayCacheEntries)
	}
	for _, e := range cfg.Keytab.Entries {
		p := strings.Join(e.Principal.Components, "/") + "@" + e.Principal.Realm
		a.principals[p] = true
		id := keyID{principal: p, etype: e.Key.KeyType, kvno: e.KVNO}
		if old, ok := a.keys[id]; ok && string(old.KeyValue) != string(e.Key.KeyValue) {
			return nil, fmt.Errorf("krb: keytab has two different keys for %s kvno %d etype %d", p, e.KVNO, e.Key.KeyType)
		}
		if _, ok := a.keys[id]; !ok {
			a.keys[id] = newServiceKey(e.Key)
		}
		if latest := (keyID{principal: p, etype: e.Key.KeyType}); e.KVNO >= a.newest[latest] {
			a.newest[latest] = e.KVNO
		}
	}
	for _, s := range cfg.Principals {
		name, realm, _ := strings.Cut(s, "@")
		if name == "" {
			return nil, fmt.Errorf("krb: bad principal %q in Config.Principals", s)
		}
		found := false
		for p := range a.principals {
			pn, pr, _ := strings.Cut(p, "@")
			found = found || (pn == name && (realm == "" || realm == pr))
		}
		if !found {
			return nil, fmt.Errorf("krb: principal %q is not in the keytab", s)
		}
		a.allowed = append(a.allowed, allowedPrincipal{name, realm})
	}
	a.index = make(map[string]principalInfo, len(a.principals))
	for p := range a.principals {
		name, realm, _ := strings.Cut(p, "@")
		a.index[p] = principalInfo{name: p, allowed: a.allowedPrincipal(name, realm) && !strings.HasPrefix(name+"/", "krbtgt/")}
	}
	return a, nil
}

// newServiceKey derives the keys of an AES service key. A key of the wrong
// length gets none: decrypt then reports it when a ticket uses it.
func newServiceKey(k types.EncryptionKey) *serviceKey {
	sk := &serviceKey{EncryptionKey: k}
	if p := profileOf(k.KeyType); p != nil && len(k.KeyValue) == p.keyLen {
		ticket, err1 := p.usageKeys(k.KeyValue, usageTicket)
		pac, err2 := p.checksumKey(k.KeyValue, usagePACServerSig)
		if err1 == nil && err2 == nil {
			sk.ticket, sk.pacKc = ticket, pac
		}
	}
	return sk
}

// Result is an accepted security context.
type Result struct {
	// Client is the authenticated principal and ClientRealm its realm
	// (from the ticket, RFC 4120 §5.3).
	Client      types.PrincipalName
	ClientRealm string
	// Service and ServiceRealm name the principal the ticket was issued
	// for (the SPN the client asked for; Extended Protection's service
	// binding compares it with the expected one).
	Service      types.PrincipalName
	ServiceRealm string
	// Ticket is the client's ticket as it came (still encrypted): the
	// evidence ticket of constrained delegation (MS-SFU S4U2Proxy).
	Ticket Ticket
	// SessionKey is the ticket's session key; ClientSubkey the
	// authenticator's subkey and AcceptorSubkey the one sent in the AP-REP
	// (nil when absent). RFC 4121 §2: per-message tokens use the acceptor
	// subkey if any, else the client's, else the session key.
	SessionKey     types.EncryptionKey
	ClientSubkey   *types.EncryptionKey
	AcceptorSubkey *types.EncryptionKey
	// TicketFlags (RFC 4120 §5.3, TicketFlag… bits), AuthTime and EndTime
	// of the ticket.
	TicketFlags KerberosFlags
	AuthTime    time.Time
	EndTime     time.Time
	// Flags are the GSS context flags from the 0x8003 checksum
	// (RFC 4121 §4.1.1.1); zero for a bare AP-REQ without one.
	Flags GSSFlags
	// Bindings is the channel-bindings hash the client sent; all zero
	// when it sent none (HasBindings false). See VerifyChannelBindings.
	Bindings    [16]byte
	HasBindings bool
	// Delegated is the KRB-CRED (RFC 4120 §5.8) the client forwarded with
	// GSSDeleg, encrypted in the session key (or subkey); nil otherwise.
	Delegated []byte
	// DelegatedCreds are the credentials in Delegated, decrypted (usually
	// one forwarded TGT): what the service needs to act as the client.
	DelegatedCreds []Credential
	// PAC is the verified MS-PAC, nil when the ticket has none. It, and
	// the slices of Client, Service and SessionKey, are shared by the
	// results of every request that sends the same ticket: read-only.
	PAC *PAC
	// ClientSeq and AcceptorSeq are the initial sequence numbers
	// (RFC 4121 §4.2.2) of the two directions.
	ClientSeq   uint32
	AcceptorSeq uint32
	// Mutual reports that the client asked for mutual authentication
	// (ap-options mutual-required or GSSMutual).
	Mutual bool
	// APRep is the DER AP-REP, and ResponseToken the same in the krb5 GSS
	// framing (TOK_ID 0x0200) when the AP-REQ came framed, else the bare
	// AP-REP. Both nil when Mutual is false. Send ResponseToken back (inside
	// an SPNEGO accept-completed for Negotiate).
	APRep         []byte
	ResponseToken []byte
}

// ClientName returns "name@REALM".
func (r *Result) ClientName() string {
	return strings.Join(r.Client.NameString, "/") + "@" + r.ClientRealm
}

// ServiceName returns the ticket's service principal "HTTP/host@REALM".
func (r *Result) ServiceName() string {
	return strings.Join(r.Service.NameString, "/") + "@" + r.ServiceRealm
}

// strongEtype reports whether etype is one of the AES families
// (RFC 3962, RFC 8009).
func strongEtype(e int32) bool {
	switch e {
	case etypeID.AES128_CTS_HMAC_SHA1_96, etypeID.AES256_CTS_HMAC_SHA1_96,
		etypeID.AES128_CTS_HMAC_SHA256_128, etypeID.AES256_CTS_HMAC_SHA384_192:
		return true
	}
	return false
}

func (a *Acceptor) etypeOK(e int32) bool {
	if strongEtype(e) {
		return true
	}
	return a.allowWeak && (e == etypeID.RC4_HMAC || e == etypeID.DES3_CBC_SHA1_KD)
}

// keySize is the protocol key length of an etype (RFC 3962 §6, RFC 8009
// §5, RFC 4757, RFC 3961 §6.3). gokrb5's GetKeyByteSize says 24 for
// aes256-cts-hmac-sha384-192, whose keys are 32 bytes, so it is not used.
func keySize(etype int32) int {
	switch etype {
	case etypeID.AES128_CTS_HMAC_SHA1_96, etypeID.AES128_CTS_HMAC_SHA256_128, etypeID.RC4_HMAC:
		return 16
	case etypeID.AES256_CTS_HMAC_SHA1_96, etypeID.AES256_CTS_HMAC_SHA384_192:
		return 32
	case etypeID.DES3_CBC_SHA1_KD:
		return 24
	}
	return 0
}

// newRandomKey makes a random key of etype (for the AES etypes random-to-key
// is the identity; RFC 3962 §6, RFC 8009 §5).
func newRandomKey(etype int32) (types.EncryptionKey, error) {
	n := keySize(etype)
	if n == 0 || !strongEtype(etype) && etype != etypeID.RC4_HMAC {
		return types.EncryptionKey{}, fmt.Errorf("krb: cannot make a random key of etype %d", etype)
	}
	k := types.EncryptionKey{KeyType: etype, KeyValue: make([]byte, n)}
	if _, err := rand.Read(k.KeyValue); err != nil {
		return types.EncryptionKey{}, err
	}
	return k, nil
}

// sessionKeys returns the derived keys of an AES session key for usage
// (from a.derived), nil for other etypes.
func (a *Acceptor) sessionKeys(key types.EncryptionKey, usage uint32) *usageKeys {
	p := profileOf(key.KeyType)
	if p == nil {
		return nil
	}
	k, err := a.derived.keys(p, key.KeyValue, usage)
	if err != nil {
		return nil // wrong length: decrypt reports it
	}
	return k
}

// decrypt decrypts ed with key for usage: with uk, key's derived keys for
// usage, when not nil (AES etypes), else with gokrb5. It checks the etype
// policy and the ciphertext's minimum length first (gokrb5 slices without
// checking) and turns a panic into ErrBadIntegrity.
func (a *Acceptor) decrypt(ed types.EncryptedData, key types.EncryptionKey, uk *usageKeys, usage uint32) (plain []byte, err error) {
	if ed.EType != key.KeyType {
		return nil, fmt.Errorf("%w: etype %d with a key of etype %d", ErrBadIntegrity, ed.EType, key.KeyType)
	}
	if uk != nil && uk.p.etype == key.KeyType && len(key.KeyValue) == uk.p.keyLen {
		if plain, err = uk.decrypt(ed.Cipher); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadIntegrity, err)
		}
		return plain, nil
	}
	return decryptGokrb5(ed, key, usage)
}

// decryptGokrb5 decrypts with gokrb5 (the etypes without derived keys
// here: RC4, DES3), checking the key and ciphertext lengths first (gokrb5
// slices without checking) and turning a panic into ErrBadIntegrity.
func decryptGokrb5(ed types.EncryptedData, key types.EncryptionKey, usage uint32) (plain []byte, err error) {
	et, err := crypto.GetEtype(key.KeyType)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrWeakEtype, err)
	}
	if len(key.KeyValue) != keySize(key.KeyType) {
		return nil, fmt.Errorf("%w: key of %d bytes for etype %d", ErrBadIntegrity, len(key.KeyValue), key.KeyType)
	}
	if len(ed.Cipher) < et.GetConfounderByteSize()+et.GetHMACBitLength()/8 {
		return nil, fmt.Errorf("%w: ciphertext of %d bytes is too short", ErrBadIntegrity, len(ed.Cipher))
	}
	defer func() {
		if r := recover(); r != nil {
			plain, err = nil, fmt.Errorf("%w: decryption panicked: %v", ErrBadIntegrity, r)
		}
	}()
	plain, err = crypto.DecryptMessage(ed.Cipher, key, usage)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadIntegrity, err)
	}
	return plain, nil
}

// Accept verifies token, a GSS-API krb5 initial context token (RFC 4121
// §4.1: [APPLICATION 0], OID 1.2.840.113554.1.2.2, TOK_ID 0x0100, AP-REQ)
// or a bare AP-REQ, and returns the established context. cb, when not nil,
// are this connection's channel bindings: a client that sent bindings must
// match them; one that sent none is accepted (check Result.HasBindings or
// call VerifyChannelBindings with required=true for Extended Protection).
// The Result's ticket ciphertext is a slice of token: the caller hands
// token over and does not change it afterwards.
//
// Steps (RFC 4120 §3.2.3, RFC 4121 §4.1): parse; pick the service key by
// sname, realm, kvno and etype; decrypt the ticket and check its times;
// decrypt the authenticator (key usage 11); check its client against the
// ticket and its time against the clock; check the 0x8003 checksum
// (flags, channel bindings, delegation); verify the PAC if present;
// record the authenticator in the replay cache; build the AP-REP
// (key usage 12) when mutual authentication was asked for.
func (a *Acceptor) Accept(token []byte, cb *ChannelBindings) (*Result, error) {
	if len(token) > MaxTokenSize {
		return nil, errTooLarge(len(token))
	}
	framed := len(token) > 0 && token[0] == 0x60
	mechOID := oidKerberos
	der := token
	if framed {
		var err error
		if mechOID, der, err = unwrapGSS(token, TokIDAPReq); err != nil {
			return nil, err
		}
	}
	hints := a.hints.Load()
	if hints == nil {
		hints = &apReqHints{}
	}
	req, err := parseAPReq(der, hints)
	if err != nil {
		return nil, err
	}
	if req.Options.Has(APOptionUseSessionKey) {
		return nil, ErrUnsupported
	}
	tkt := &req.Ticket
	now := a.now()

	// Service principal and key (RFC 4120 §3.2.3: "the server's key is
	// selected by sname, realm and kvno").
	var pbuf [256]byte
	pi, ok := a.index[string(appendPrincipal(pbuf[:0], tkt.SName.NameString, tkt.Realm))]
	if !ok || !pi.allowed || tkt.SName.NameString[0] == "krbtgt" {
		return nil, fmt.Errorf("%w (%s)", ErrWrongPrincipal, strings.Join(tkt.SName.NameString, "/")+"@"+tkt.Realm)
	}
	principal := pi.name
	if !a.etypeOK(tkt.EncPart.EType) {
		return nil, fmt.Errorf("%w (ticket etype %d)", ErrWeakEtype, tkt.EncPart.EType)
	}
	kvno := uint32(tkt.EncPart.KVNO)
	if kvno == 0 { // kvno left out (RFC 4120 §5.2.9 makes it optional): newest key
		kvno = a.newest[keyID{principal: principal, etype: tkt.EncPart.EType}]
	}
	svcKey, ok := a.keys[keyID{principal, tkt.EncPart.EType, kvno}]
	if !ok {
		return nil, fmt.Errorf("%w (%s kvno %d etype %d)", ErrNoKey, principal, tkt.EncPart.KVNO, tkt.EncPart.EType)
	}

	// Ticket (key usage 2): decrypted, parsed and its PAC verified once
	// per ticket (see ticketCache); every check below runs per request.
	known := svcKey.tickets.get(tkt.EncPart.Cipher)
	var etp *encTicketPart
	if known != nil {
		etp = known.etp
	} else {
		plain, err := a.decrypt(tkt.EncPart, svcKey.EncryptionKey, svcKey.ticket, usageTicket)
		if err != nil {
			return nil, fmt.Errorf("ticket: %w", err)
		}
		if etp, err = parseEncTicketPart(plain, tkt.Realm); err != nil {
			return nil, err
		}
	}
	if !a.etypeOK(etp.Key.KeyType) {
		return nil, fmt.Errorf("%w (session key etype %d)", ErrWeakEtype, etp.Key.KeyType)
	}
	start := etp.StartTime
	if start.IsZero() {
		start = etp.AuthTime
	}
	if etp.Flags.Has(TicketFlagInvalid) || start.Sub(now) > a.skew {
		return nil, fmt.Errorf("%w (starts %s)", ErrTicketNotYetValid, start.UTC().Format(time.RFC3339))
	}
	if now.Sub(etp.EndTime) > a.skew {
		return nil, fmt.Errorf("%w (ended %s)", ErrTicketExpired, etp.EndTime.UTC().Format(time.RFC3339))
	}

	// Authenticator (key usage 11, in the session key).
	plain, err := a.decrypt(req.Authenticator, etp.Key, a.sessionKeys(etp.Key, usageAuthenticator), usageAuthenticator)
	if err != nil {
		return nil, fmt.Errorf("authenticator: %w", err)
	}
	auth, err := parseAuthenticator(plain, etp.CRealm, etp.CName.NameString)
	if err != nil {
		return nil, err
	}
	if auth.CRealm != etp.CRealm || !auth.CName.Equal(etp.CName) {
		return nil, ErrBadMatch
	}
	ctime := auth.CTime.Add(time.Duration(auth.Cusec) * time.Microsecond)
	if d := now.Sub(ctime); d > a.skew || d < -a.skew {
		return nil, fmt.Errorf("%w (authenticator %s, now %s)", ErrSkew, ctime.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if auth.SubKey != nil && !a.etypeOK(auth.SubKey.KeyType) {
		return nil, fmt.Errorf("%w (subkey etype %d)", ErrWeakEtype, auth.SubKey.KeyType)
	}

	res := &Result{
		Client:       etp.CName,
		ClientRealm:  etp.CRealm,
		Service:      tkt.SName,
		ServiceRealm: tkt.Realm,
		Ticket:       *tkt,
		SessionKey:   etp.Key,
		ClientSubkey: auth.SubKey,
		TicketFlags:  etp.Flags,
		AuthTime:     etp.AuthTime,
		EndTime:      etp.EndTime,
		ClientSeq:    auth.SeqNumber,
		Mutual:       req.Options.Has(APOptionMutualRequired),
	}

	// GSS-API checksum (RFC 4121 §4.1.1). Required in a framed token.
	switch {
	case auth.HasCksum && auth.Cksum.CksumType == ChecksumTypeGSS:
		c, err := ParseGSSChecksum(auth.Cksum.Checksum)
		if err != nil {
			return nil, err
		}
		res.Flags, res.Bindings, res.Delegated = c.Flags, c.Bindings, c.Delegation
		res.HasBindings = c.Bindings != [16]byte{}
		if c.Delegation != nil {
			// The KRB-CRED is in the ticket's session key (MIT makes it
			// before choosing its subkey), else in the authenticator's
			// subkey. A delegation that does not decode fails the
			// context, as it does in MIT's acceptor.
			res.DelegatedCreds, err = ParseKRBCred(c.Delegation, etp.Key)
			if err != nil && auth.SubKey != nil {
				res.DelegatedCreds, err = ParseKRBCred(c.Delegation, *auth.SubKey)
			}
			if err != nil {
				return nil, fmt.Errorf("%w: delegated credentials: %v", ErrBadChecksum, err)
			}
		}
		res.Mutual = res.Mutual || c.Flags&GSSMutual != 0
	case framed:
		return nil, fmt.Errorf("%w: GSS-API token without a 0x8003 checksum", ErrBadChecksum)
	}
	if cb != nil {
		if err := VerifyChannelBindings(res.Bindings, cb, false); err != nil {
			return nil, err
		}
	}

	// PAC (MS-PAC), verified with the service key.
	if known != nil {
		res.PAC = known.pac
	} else {
		pacBytes, err := findPAC(etp.AuthzData)
		if err != nil {
			return nil, err
		}
		if pacBytes != nil {
			if res.PAC, err = verifyPAC(pacBytes, svcKey.EncryptionKey, svcKey.pacKc, a.allowWeak); err != nil {
				return nil, err
			}
		}
	}

	// Replay cache last: only authenticators that passed every check are
	// recorded. The entry lives until the authenticator leaves the window.
	if err := a.rcache.Check(req.Authenticator.Cipher, now, ctime.Add(a.skew)); err != nil {
		if !errors.Is(err, ErrAuthFailed) {
			err = fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		return nil, err
	}

	if res.Mutual {
		if err := a.buildAPRep(res, auth, mechOID, framed); err != nil {
			return nil, err
		}
	}
	if known == nil {
		svcKey.tickets.put(tkt.EncPart.Cipher, &openedTicket{etp: etp, pac: res.PAC})
	}
	if tkt.Realm != hints.realm || !slices.Equal(tkt.SName.NameString, hints.sname) {
		a.hints.Store(&apReqHints{sname: tkt.SName.NameString, realm: tkt.Realm})
	}
	return res, nil
}

// appendPrincipal appends "name/…@realm" to b.
func appendPrincipal(b []byte, names []string, realm string) []byte {
	for i, n := range names {
		if i > 0 {
			b = append(b, '/')
		}
		b = append(b, n...)
	}
	b = append(b, '@')
	return append(b, realm...)
}

// ReplayWindow returns how far back from now an authenticator's ctime
// may be and still be accepted: the clock skew, or less while the replay
// cache, full, refuses authenticators as old as those it had to forget
// (never below zero).
func (a *Acceptor) ReplayWindow() time.Duration {
	w := a.rcache.Watermark()
	now := a.now()
	if w.IsZero() || !w.After(now) {
		return a.skew
	}
	// Accepted: ctime + skew > w, that is ctime > now - (skew - (w - now)).
	return max(a.skew-w.Sub(now), 0)
}

// ClockSkew returns the skew the acceptor allows (Config.ClockSkew or
// DefaultClockSkew).
func (a *Acceptor) ClockSkew() time.Duration { return a.skew }

func (a *Acceptor) allowedPrincipal(name, realm string) bool {
	if len(a.allowed) == 0 {
		return true
	}
	for _, p := range a.allowed {
		if p.name == name && (p.realm == "" || p.realm == realm) {
			return true
		}
	}
	return false
}

// buildAPRep makes the AP-REP (RFC 4120 §5.5.2): EncAPRepPart echoing the
// authenticator's ctime/cusec, with our initial sequence number and
// optionally a subkey, encrypted in the session key with key usage 12.
func (a *Acceptor) buildAPRep(res *Result, auth *authenticator, mechOID string, framed bool) error {
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return fmt.Errorf("krb: random: %w", err)
	}
	// 30 bits like MIT, so that naive peers never see a "negative" number.
	res.AcceptorSeq = binary.BigEndian.Uint32(rnd[:]) & 0x3fffffff
	part := EncAPRepPart{CTime: auth.CTime, Cusec: auth.Cusec, HasSeq: true, SeqNumber: res.AcceptorSeq}
	if a.subkey {
		kt := res.SessionKey.KeyType
		if res.ClientSubkey != nil {
			kt = res.ClientSubkey.KeyType
		}
		k, err := newRandomKey(kt)
		if err != nil {
			return fmt.Errorf("krb: acceptor subkey: %w", err)
		}
		res.AcceptorSubkey, part.Subkey = &k, &k
	}
	var pbuf [96]byte // EncAPRepPart: about 40 bytes, 80 with a subkey
	plain := part.appendDER(pbuf[:0])
	ed := types.EncryptedData{EType: res.SessionKey.KeyType}
	var err error
	if uk := a.sessionKeys(res.SessionKey, usageAPRepEncPart); uk != nil {
		ed.Cipher, err = uk.encrypt(plain)
	} else {
		ed, err = crypto.GetEncryptedData(plain, res.SessionKey, usageAPRepEncPart, 0)
	}
	clear(plain)
	if err != nil {
		return fmt.Errorf("krb: encrypting AP-REP: %w", err)
	}
	// The AP-REP, in the GSS framing when the AP-REQ came framed: one
	// buffer, APRep a slice of ResponseToken.
	w := derWriter{b: make([]byte, 0, len(ed.Cipher)+48)}
	if framed {
		w.gssBegin(mechOID, TokIDAPRep)
	}
	start := len(w.b)
	(&APRep{EncPart: ed}).marshal(&w)
	end := len(w.b)
	if framed {
		w.end()
		start, end = start+len(w.b)-end, len(w.b) // end moved the content when the length grew
	}
	res.ResponseToken, res.APRep = w.b, w.b[start:end:end]
	return nil
}

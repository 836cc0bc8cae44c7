package krb

import (
	"time"

	"github.com/jcmturner/gokrb5/v8/types"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// Protocol constants (RFC 4120 §5.5, §7.5.7).
const (
	pvno            = 5
	msgTypeAPReq    = 14
	msgTypeAPRep    = 15
	tagTicket       = 1
	tagAuthenticatr = 2
	tagEncTktPart   = 3
	tagAPReq        = 14
	tagAPRep        = 15
	tagEncAPRepPart = 27
)

// AP-REQ ap-options bits (RFC 4120 §5.5.1).
const (
	APOptionUseSessionKey  = 1 // user-to-user: ticket encrypted in a TGT session key
	APOptionMutualRequired = 2 // the client wants an AP-REP
)

// APReq is KRB_AP_REQ (RFC 4120 §5.5.1):
//
//	AP-REQ ::= [APPLICATION 14] SEQUENCE {
//	    pvno            [0] INTEGER (5),
//	    msg-type        [1] INTEGER (14),
//	    ap-options      [2] APOptions,
//	    ticket          [3] Ticket,
//	    authenticator   [4] EncryptedData -- Authenticator
//	}
type APReq struct {
	Options       KerberosFlags       // [2], APOption… bits
	Ticket        Ticket              // [3]
	Authenticator types.EncryptedData // [4], key usage 11 (RFC 4120 §7.5.1)
}

// Ticket is the cleartext of a ticket (RFC 4120 §5.3):
//
//	Ticket ::= [APPLICATION 1] SEQUENCE {
//	    tkt-vno         [0] INTEGER (5),
//	    realm           [1] Realm,
//	    sname           [2] PrincipalName,
//	    enc-part        [3] EncryptedData -- EncTicketPart, key usage 2
//	}
type Ticket struct {
	Realm   string              // [1] the service's realm
	SName   types.PrincipalName // [2] the service principal
	EncPart types.EncryptedData // [3]
}

// ParseAPReq decodes a bare AP-REQ (no GSS-API framing). It checks syntax
// only: pvno, msg-type, tkt-vno, sizes, trailing bytes.
func ParseAPReq(der []byte) (*APReq, error) {
	return parseAPReq(der, nil)
}

// apReqHints are what Accept lets parseAPReq share instead of copy: the
// ciphertexts stay slices of der (Accept's caller hands der over), and a
// service name and realm equal to the last accepted ones are that
// string data again.
type apReqHints struct {
	sname []string
	realm string
}

func parseAPReq(der []byte, h *apReqHints) (*APReq, error) {
	if len(der) > MaxTokenSize {
		return nil, errTooLarge(len(der))
	}
	s := cryptobyte.String(der)
	var body, seq cryptobyte.String
	if !s.ReadASN1(&body, appTag(tagAPReq)) || !s.Empty() || !body.ReadASN1(&seq, asn1.SEQUENCE) || !body.Empty() {
		return nil, derErr("not an AP-REQ ([APPLICATION 14] SEQUENCE)")
	}
	var v, mt int32
	if !readInt32(&seq, 0, &v) || v != pvno || !readInt32(&seq, 1, &mt) || mt != msgTypeAPReq {
		return nil, derErr("AP-REQ pvno/msg-type is not 5/14")
	}
	r := &APReq{}
	if !readFlags(&seq, 2, &r.Options) {
		return nil, derErr("AP-REQ ap-options")
	}
	var f cryptobyte.String
	if !seq.ReadASN1(&f, ctx(3)) || !parseTicketHints(&f, &r.Ticket, h) || !f.Empty() {
		return nil, derErr("AP-REQ ticket")
	}
	if !readEncryptedDataShared(&seq, 4, &r.Authenticator, h != nil) || !seq.Empty() {
		return nil, derErr("AP-REQ authenticator")
	}
	return r, nil
}

func parseTicket(s *cryptobyte.String, t *Ticket) bool { return parseTicketHints(s, t, nil) }

func parseTicketHints(s *cryptobyte.String, t *Ticket, h *apReqHints) bool {
	var body, seq cryptobyte.String
	var v int32
	var hint apReqHints
	if h != nil {
		hint = *h
	}
	return s.ReadASN1(&body, appTag(tagTicket)) && body.ReadASN1(&seq, asn1.SEQUENCE) && body.Empty() &&
		readInt32(&seq, 0, &v) && v == pvno &&
		readStringLike(&seq, 1, &t.Realm, hint.realm) &&
		readPrincipalLike(&seq, 2, &t.SName, hint.sname) &&
		readEncryptedDataShared(&seq, 3, &t.EncPart, h != nil) && seq.Empty()
}

// Marshal encodes r as DER.
func (r *APReq) Marshal() ([]byte, error) {
	var b cryptobyte.Builder
	b.AddASN1(appTag(tagAPReq), func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			addInt(b, 0, pvno)
			addInt(b, 1, msgTypeAPReq)
			addFlags(b, 2, r.Options)
			b.AddASN1(ctx(3), func(b *cryptobyte.Builder) { r.Ticket.marshal(b) })
			addEncryptedData(b, 4, r.Authenticator)
		})
	})
	return b.Bytes()
}

func (t *Ticket) marshal(b *cryptobyte.Builder) {
	b.AddASN1(appTag(tagTicket), func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			addInt(b, 0, pvno)
			addString(b, 1, t.Realm)
			addPrincipal(b, 2, t.SName)
			addEncryptedData(b, 3, t.EncPart)
		})
	})
}

// encTicketPart is the decrypted part of a ticket (RFC 4120 §5.3):
//
//	EncTicketPart ::= [APPLICATION 3] SEQUENCE {
//	    flags                   [0] TicketFlags,
//	    key                     [1] EncryptionKey,
//	    crealm                  [2] Realm,
//	    cname                   [3] PrincipalName,
//	    transited               [4] TransitedEncoding,
//	    authtime                [5] KerberosTime,
//	    starttime               [6] KerberosTime OPTIONAL,
//	    endtime                 [7] KerberosTime,
//	    renew-till              [8] KerberosTime OPTIONAL,
//	    caddr                   [9] HostAddresses OPTIONAL,
//	    authorization-data      [10] AuthorizationData OPTIONAL
//	}
type encTicketPart struct {
	Flags     KerberosFlags
	Key       types.EncryptionKey
	CRealm    string
	CName     types.PrincipalName
	AuthTime  time.Time
	StartTime time.Time // zero when absent: authtime applies
	EndTime   time.Time
	RenewTill time.Time
	HasCAddr  bool
	AuthzData types.AuthorizationData
}

// Ticket flag bits (RFC 4120 §5.3).
const (
	TicketFlagForwardable   = 1
	TicketFlagForwarded     = 2
	TicketFlagProxiable     = 3
	TicketFlagProxy         = 4
	TicketFlagMayPostdate   = 5
	TicketFlagPostdated     = 6
	TicketFlagInvalid       = 7
	TicketFlagRenewable     = 8
	TicketFlagInitial       = 9
	TicketFlagPreAuthent    = 10
	TicketFlagHWAuthent     = 11
	TicketFlagTransitPolicy = 12
	TicketFlagOKAsDelegate  = 13
)

// openApp reads [APPLICATION n] SEQUENCE from a decrypted plaintext. Only
// zero bytes may follow: block-cipher etypes pad the plaintext.
func openApp(plain []byte, n uint8) (cryptobyte.String, bool) {
	s := cryptobyte.String(plain)
	var body, seq cryptobyte.String
	if !s.ReadASN1(&body, appTag(n)) || !body.ReadASN1(&seq, asn1.SEQUENCE) || !body.Empty() || len(s) > 16 {
		return nil, false
	}
	for _, c := range s {
		if c != 0 {
			return nil, false
		}
	}
	return seq, true
}

// parseEncTicketPart decodes a ticket's plaintext; realm is the ticket's
// (the client's realm is usually the same string).
func parseEncTicketPart(plain []byte, realm string) (*encTicketPart, error) {
	seq, ok := openApp(plain, tagEncTktPart)
	if !ok {
		return nil, derErr("EncTicketPart")
	}
	t := &encTicketPart{}
	var tr cryptobyte.String
	if !readFlags(&seq, 0, &t.Flags) || !readKey(&seq, 1, &t.Key) || !readStringLike(&seq, 2, &t.CRealm, realm) ||
		!readPrincipal(&seq, 3, &t.CName) || !seq.ReadASN1(&tr, ctx(4)) ||
		!readTime(&seq, 5, &t.AuthTime) || !readOptionalTime(&seq, 6, &t.StartTime) ||
		!readTime(&seq, 7, &t.EndTime) || !readOptionalTime(&seq, 8, &t.RenewTill) {
		return nil, derErr("EncTicketPart fields")
	}
	if seq.PeekASN1Tag(ctx(9)) {
		t.HasCAddr = seq.SkipASN1(ctx(9))
	}
	if !readOptionalAuthData(&seq, 10, &t.AuthzData) || !seq.Empty() {
		return nil, derErr("EncTicketPart authorization-data")
	}
	return t, nil
}

// authenticator is the decrypted Authenticator (RFC 4120 §5.5.1):
//
//	Authenticator ::= [APPLICATION 2] SEQUENCE  {
//	    authenticator-vno       [0] INTEGER (5),
//	    crealm                  [1] Realm,
//	    cname                   [2] PrincipalName,
//	    cksum                   [3] Checksum OPTIONAL,
//	    cusec                   [4] Microseconds,
//	    ctime                   [5] KerberosTime,
//	    subkey                  [6] EncryptionKey OPTIONAL,
//	    seq-number              [7] UInt32 OPTIONAL,
//	    authorization-data      [8] AuthorizationData OPTIONAL
//	}
type authenticator struct {
	CRealm    string
	CName     types.PrincipalName
	HasCksum  bool
	Cksum     types.Checksum
	Cusec     int
	CTime     time.Time
	SubKey    *types.EncryptionKey
	HasSeq    bool
	SeqNumber uint32
	AuthzData types.AuthorizationData
}

// parseAuthenticator decodes an Authenticator's plaintext. crealm and
// cname, the ticket's client, are shared when the authenticator names the
// same one (it must, the acceptor checks).
func parseAuthenticator(plain []byte, crealm string, cname []string) (*authenticator, error) {
	seq, ok := openApp(plain, tagAuthenticatr)
	if !ok {
		return nil, derErr("Authenticator")
	}
	a := &authenticator{}
	var v int32
	if !readInt32(&seq, 0, &v) || v != pvno || !readStringLike(&seq, 1, &a.CRealm, crealm) || !readPrincipalLike(&seq, 2, &a.CName, cname) {
		return nil, derErr("Authenticator vno/crealm/cname")
	}
	if seq.PeekASN1Tag(ctx(3)) {
		if !readChecksum(&seq, 3, &a.Cksum) {
			return nil, derErr("Authenticator cksum")
		}
		a.HasCksum = true
	}
	var us int32
	if !readInt32(&seq, 4, &us) || us < 0 || us > 999999 || !readTime(&seq, 5, &a.CTime) {
		return nil, derErr("Authenticator cusec/ctime")
	}
	a.Cusec = int(us)
	if seq.PeekASN1Tag(ctx(6)) {
		var k types.EncryptionKey
		if !readKey(&seq, 6, &k) {
			return nil, derErr("Authenticator subkey")
		}
		a.SubKey = &k
	}
	if seq.PeekASN1Tag(ctx(7)) {
		// UInt32, but old Windows and Heimdal sent it signed: accept both.
		var f cryptobyte.String
		var n int64
		if !seq.ReadASN1(&f, ctx(7)) || !f.ReadASN1Integer(&n) || !f.Empty() || n < -1<<31 || n >= 1<<32 {
			return nil, derErr("Authenticator seq-number")
		}
		a.HasSeq, a.SeqNumber = true, uint32(n)
	}
	if !readOptionalAuthData(&seq, 8, &a.AuthzData) || !seq.Empty() {
		return nil, derErr("Authenticator authorization-data")
	}
	return a, nil
}

// APRep is KRB_AP_REP (RFC 4120 §5.5.2):
//
//	AP-REP ::= [APPLICATION 15] SEQUENCE {
//	    pvno            [0] INTEGER (5),
//	    msg-type        [1] INTEGER (15),
//	    enc-part        [2] EncryptedData -- EncAPRepPart, key usage 12
//	}
type APRep struct {
	EncPart types.EncryptedData // [2], encrypted in the ticket's session key
}

// EncAPRepPart is the decrypted part of an AP-REP (RFC 4120 §5.5.2):
//
//	EncAPRepPart ::= [APPLICATION 27] SEQUENCE {
//	    ctime           [0] KerberosTime,
//	    cusec           [1] Microseconds,
//	    subkey          [2] EncryptionKey OPTIONAL,
//	    seq-number      [3] UInt32 OPTIONAL
//	}
type EncAPRepPart struct {
	CTime     time.Time            // [0] the authenticator's ctime, echoed
	Cusec     int                  // [1] the authenticator's cusec, echoed
	Subkey    *types.EncryptionKey // [2] acceptor subkey (RFC 4121 §2), nil when absent
	HasSeq    bool                 // [3] present?
	SeqNumber uint32               // [3] acceptor's initial sequence number
}

// Marshal encodes r as DER.
func (r *APRep) Marshal() ([]byte, error) {
	w := derWriter{b: make([]byte, 0, len(r.EncPart.Cipher)+32)}
	r.marshal(&w)
	return w.b, nil
}

func (r *APRep) marshal(w *derWriter) {
	w.begin(appByte(tagAPRep))
	w.begin(derSequence)
	w.ctxInt(0, pvno)
	w.ctxInt(1, msgTypeAPRep)
	w.ctxEncryptedData(2, r.EncPart.EType, r.EncPart.KVNO, r.EncPart.Cipher)
	w.end()
	w.end()
}

// ParseAPRep decodes a bare AP-REP.
func ParseAPRep(der []byte) (*APRep, error) {
	s := cryptobyte.String(der)
	var body, seq cryptobyte.String
	var v, mt int32
	r := &APRep{}
	if len(der) > MaxTokenSize || !s.ReadASN1(&body, appTag(tagAPRep)) || !s.Empty() ||
		!body.ReadASN1(&seq, asn1.SEQUENCE) || !body.Empty() ||
		!readInt32(&seq, 0, &v) || v != pvno || !readInt32(&seq, 1, &mt) || mt != msgTypeAPRep ||
		!readEncryptedData(&seq, 2, &r.EncPart) || !seq.Empty() {
		return nil, derErr("not an AP-REP")
	}
	return r, nil
}

// Marshal encodes p as DER (the plaintext of APRep.EncPart).
func (p *EncAPRepPart) Marshal() ([]byte, error) {
	return p.appendDER(make([]byte, 0, 64)), nil
}

// appendDER appends p's DER to b.
func (p *EncAPRepPart) appendDER(b []byte) []byte {
	w := derWriter{b: b}
	w.begin(appByte(tagEncAPRepPart))
	w.begin(derSequence)
	w.ctxTime(0, p.CTime)
	w.ctxInt(1, int64(p.Cusec))
	if p.Subkey != nil {
		w.ctxKey(2, *p.Subkey)
	}
	if p.HasSeq {
		w.ctxInt(3, int64(p.SeqNumber))
	}
	w.end()
	w.end()
	return w.b
}

// ParseEncAPRepPart decodes the decrypted enc-part of an AP-REP.
func ParseEncAPRepPart(plain []byte) (*EncAPRepPart, error) {
	seq, ok := openApp(plain, tagEncAPRepPart)
	if !ok {
		return nil, derErr("EncAPRepPart")
	}
	p := &EncAPRepPart{}
	var us int32
	if !readTime(&seq, 0, &p.CTime) || !readInt32(&seq, 1, &us) || us < 0 || us > 999999 {
		return nil, derErr("EncAPRepPart ctime/cusec")
	}
	p.Cusec = int(us)
	if seq.PeekASN1Tag(ctx(2)) {
		var k types.EncryptionKey
		if !readKey(&seq, 2, &k) {
			return nil, derErr("EncAPRepPart subkey")
		}
		p.Subkey = &k
	}
	if seq.PeekASN1Tag(ctx(3)) {
		var f cryptobyte.String
		if !seq.ReadASN1(&f, ctx(3)) || !readUint32(&f, &p.SeqNumber) || !f.Empty() {
			return nil, derErr("EncAPRepPart seq-number")
		}
		p.HasSeq = true
	}
	if !seq.Empty() {
		return nil, derErr("EncAPRepPart trailing fields")
	}
	return p, nil
}

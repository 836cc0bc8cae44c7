package krb

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/types"
	"golang.org/x/crypto/cryptobyte"
)

// Key usages of the initiator side (RFC 4120 §7.5.1).
const usageKRBCred = 14 // EncKrbCredPart

// Initiator is the client side of the AP exchange for service tickets the
// caller already holds (gokrb5 does the AS and TGS exchanges): it builds
// AP-REQs with a fresh authenticator each time, checks AP-REPs, and packs
// delegated credentials as KRB-CRED. The derived keys of each session key
// are computed once and cached (as the Acceptor does), so a client sending
// many requests on one ticket pays the key derivation once. Safe for
// concurrent use; the zero value is ready.
type Initiator struct {
	derived derivedKeyCache
}

// APReqParams are the inputs of one AP-REQ.
type APReqParams struct {
	Ticket Ticket // the service ticket, as the KDC sent it
	// TicketDER, when not nil, is Ticket already encoded (MarshalTicket):
	// callers sending many AP-REQs on one ticket encode it once.
	TicketDER  []byte
	SessionKey types.EncryptionKey // the ticket's session key
	CRealm     string              // the client's realm
	CName      types.PrincipalName // the client's name
	// Checksum is the RFC 4121 0x8003 checksum (flags, channel bindings,
	// delegation) for a GSS-API context; nil for a raw Kerberos AP-REQ.
	Checksum *GSSChecksum
	Mutual   bool // ask for an AP-REP (ap-options mutual-required)
}

// APReqState is what checking the AP-REP of one AP-REQ needs.
type APReqState struct {
	in    *Initiator
	key   types.EncryptionKey
	ctime time.Time
	cusec int
	// Seq is the initiator's initial sequence number (RFC 4121 §4.2.2).
	Seq uint32
}

// APReq returns a DER AP-REQ for p (wrap it with WrapAPReq for GSS-API)
// and the state for VerifyAPRep.
func (in *Initiator) APReq(p *APReqParams) ([]byte, *APReqState, error) {
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, nil, fmt.Errorf("krb: random: %w", err)
	}
	now := time.Now().UTC()
	a := authenticator{
		CRealm: p.CRealm, CName: p.CName,
		Cusec: now.Nanosecond() / 1000, CTime: now.Truncate(time.Second),
		// 30 bits like MIT, so that naive peers never see a negative number.
		HasSeq: true, SeqNumber: binary.BigEndian.Uint32(rnd[:]) & 0x3fffffff,
	}
	if p.Checksum != nil {
		ck, err := p.Checksum.Marshal()
		if err != nil {
			return nil, nil, err
		}
		a.HasCksum, a.Cksum = true, types.Checksum{CksumType: ChecksumTypeGSS, Checksum: ck}
	}
	plain, err := a.marshal()
	if err != nil {
		return nil, nil, fmt.Errorf("krb: authenticator: %w", err)
	}
	ed, err := in.seal(p.SessionKey, usageAuthenticator, plain)
	if err != nil {
		return nil, nil, fmt.Errorf("krb: encrypting the authenticator: %w", err)
	}
	var opts KerberosFlags
	if p.Mutual {
		opts |= 1 << (31 - APOptionMutualRequired)
	}
	tkt := p.TicketDER
	if tkt == nil {
		if tkt, err = MarshalTicket(&p.Ticket); err != nil {
			return nil, nil, fmt.Errorf("krb: ticket: %w", err)
		}
	}
	w := derWriter{b: make([]byte, 0, len(tkt)+len(ed.Cipher)+64)}
	w.begin(appByte(tagAPReq))
	w.begin(derSequence)
	w.ctxInt(0, pvno)
	w.ctxInt(1, msgTypeAPReq)
	w.ctxFlags(2, opts)
	w.begin(ctxByte(3))
	w.b = append(w.b, tkt...)
	w.end()
	w.ctxEncryptedData(4, ed.EType, ed.KVNO, ed.Cipher)
	w.end()
	w.end()
	der := w.b
	return der, &APReqState{in: in, key: p.SessionKey, ctime: a.CTime, cusec: a.Cusec, Seq: a.SeqNumber}, nil
}

// VerifyAPRep checks an AP-REP (DER, no GSS framing) against the AP-REQ
// it answers: it must decrypt with the session key (key usage 12) and
// echo the authenticator's ctime and cusec (RFC 4120 §3.2.5).
func (s *APReqState) VerifyAPRep(der []byte) (*EncAPRepPart, error) {
	rep, err := ParseAPRep(der)
	if err != nil {
		return nil, err
	}
	plain, err := s.in.open(rep.EncPart, s.key, usageAPRepEncPart)
	if err != nil {
		return nil, fmt.Errorf("AP-REP: %w", err)
	}
	part, err := ParseEncAPRepPart(plain)
	if err != nil {
		return nil, err
	}
	if !part.CTime.Equal(s.ctime) || part.Cusec != s.cusec {
		return nil, fmt.Errorf("%w: AP-REP does not echo the authenticator's time", ErrBadMatch)
	}
	return part, nil
}

// seal encrypts plain with key for usage: AES through the derived-key
// cache, other etypes through gokrb5.
func (in *Initiator) seal(key types.EncryptionKey, usage uint32, plain []byte) (types.EncryptedData, error) {
	if p := profileOf(key.KeyType); p != nil {
		uk, err := in.derived.keys(p, key.KeyValue, usage)
		if err != nil {
			return types.EncryptedData{}, err
		}
		ct, err := uk.encrypt(plain)
		return types.EncryptedData{EType: key.KeyType, Cipher: ct}, err
	}
	return crypto.GetEncryptedData(plain, key, usage, 0)
}

// open decrypts ed with key for usage.
func (in *Initiator) open(ed types.EncryptedData, key types.EncryptionKey, usage uint32) ([]byte, error) {
	return openWith(&in.derived, ed, key, usage)
}

// MarshalTicket encodes a ticket as DER (for APReqParams.TicketDER).
func MarshalTicket(t *Ticket) ([]byte, error) {
	b := cryptobyte.NewBuilder(make([]byte, 0, len(t.EncPart.Cipher)+128))
	t.marshal(b)
	return b.Bytes()
}

// marshal encodes the Authenticator (RFC 4120 §5.5.1) as DER.
func (a *authenticator) marshal() ([]byte, error) {
	w := derWriter{b: make([]byte, 0, 160+len(a.Cksum.Checksum))}
	w.begin(appByte(tagAuthenticatr))
	w.begin(derSequence)
	w.ctxInt(0, pvno)
	w.ctxString(1, a.CRealm)
	w.ctxPrincipal(2, a.CName)
	if a.HasCksum {
		w.begin(ctxByte(3))
		w.begin(derSequence)
		w.ctxInt(0, int64(a.Cksum.CksumType))
		w.ctxOctets(1, a.Cksum.Checksum)
		w.end()
		w.end()
	}
	w.ctxInt(4, int64(a.Cusec))
	w.ctxTime(5, a.CTime)
	if a.SubKey != nil {
		w.ctxKey(6, *a.SubKey)
	}
	if a.HasSeq {
		w.ctxInt(7, int64(a.SeqNumber))
	}
	if len(a.AuthzData) > 0 {
		w.begin(ctxByte(8))
		w.begin(derSequence)
		for _, e := range a.AuthzData {
			w.begin(derSequence)
			w.ctxInt(0, int64(e.ADType))
			w.ctxOctets(1, e.ADData)
			w.end()
		}
		w.end()
		w.end()
	}
	w.end()
	w.end()
	return w.b, nil
}

package spnego

import (
	encasn1 "encoding/asn1"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// Size limits. Every one bounds work done on unauthenticated input.
const (
	// MaxTokenSize bounds a whole token (framing included). Windows lets
	// administrators raise the Kerberos MaxTokenSize to 65535 bytes (tickets
	// with large PACs); the SPNEGO wrapper adds well under 2 KiB to that.
	MaxTokenSize = 65535 + 2048
	// MaxMechTypes bounds the initiator's mechanism list. Real clients
	// offer 1 to 4 (Windows: MS-Kerberos, Kerberos, NEGOEX, NTLM); a long
	// list only costs the acceptor time.
	MaxMechTypes = 16
	// MaxOIDLen bounds one OID's content octets. The mechanism OIDs in use
	// are 6 to 10 bytes; 32 leaves room for any registered arc.
	MaxOIDLen = 32
	// MaxExtensions bounds the unknown fields skipped after the known ones
	// (the "..." of RFC 4178 §4.2). None are defined today.
	MaxExtensions = 4

	// maxOIDArcs bounds ParseOID's input; follows from MaxOIDLen.
	maxOIDArcs = MaxOIDLen + 1
)

// Errors. Every parse failure wraps ErrMalformed or ErrTooLarge, so a caller
// can tell "not a valid token" from other failures with errors.Is.
var (
	// ErrMalformed: the bytes are not a valid token of the expected kind.
	ErrMalformed = errors.New("spnego: malformed token")
	// ErrTooLarge: a size limit (MaxTokenSize, MaxMechTypes, …) was hit.
	ErrTooLarge = errors.New("spnego: token exceeds a size limit")
	// ErrNotSPNEGO: a GSS-API initial token for another mechanism (for
	// example a raw Kerberos token, see ThisMech). Wraps ErrMalformed too.
	ErrNotSPNEGO = fmt.Errorf("%w: initial token is not for SPNEGO", ErrMalformed)
)

func malformed(what string) error { return fmt.Errorf("%w: %s", ErrMalformed, what) }

// ASN.1 tags used on the wire.
const (
	// tagInitialContext is [APPLICATION 0] constructed (RFC 2743 §3.1).
	tagInitialContext = asn1.Tag(0x60)
	tagNegTokenInit   = asn1.Tag(0xa0) // [0] constructed: negTokenInit
	tagNegTokenResp   = asn1.Tag(0xa1) // [1] constructed: negTokenResp
)

func field(n uint8) asn1.Tag { return asn1.Tag(n).ContextSpecific().Constructed() }

// ContextFlags is the reqFlags bit set of RFC 4178 §4.2.1. Bit n of the
// ASN.1 BIT STRING is Flag… = 1<<n.
type ContextFlags uint8

// ContextFlags bits (RFC 4178 §4.2.1).
const (
	FlagDeleg ContextFlags = 1 << iota
	FlagMutual
	FlagReplay
	FlagSequence
	FlagAnon
	FlagConf
	FlagInteg
)

// NegState is negState of NegTokenResp (RFC 4178 §4.2.2).
type NegState int

// NegState values. NegStateAbsent is not on the wire: it means the optional
// field is left out (allowed in any reply but the first, RFC 4178 §4.2.2).
const (
	NegStateAbsent           NegState = -1
	NegStateAcceptCompleted  NegState = 0 // accept-completed: done, authenticated
	NegStateAcceptIncomplete NegState = 1 // accept-incomplete: more tokens follow
	NegStateReject           NegState = 2 // reject: negotiation failed
	NegStateRequestMIC       NegState = 3 // request-mic: initiator must send a mechListMIC
)

func (s NegState) String() string {
	switch s {
	case NegStateAbsent:
		return "absent"
	case NegStateAcceptCompleted:
		return "accept-completed"
	case NegStateAcceptIncomplete:
		return "accept-incomplete"
	case NegStateReject:
		return "reject"
	case NegStateRequestMIC:
		return "request-mic"
	}
	return fmt.Sprintf("NegState(%d)", int(s))
}

// NegotiationToken is what Parse returns: *NegTokenInit or *NegTokenResp.
type NegotiationToken interface {
	Marshal() ([]byte, error)
	negotiationToken()
}

// NegTokenInit is the initiator's first token (RFC 4178 §4.2.1). On the
// wire it is framed as a GSS-API InitialContextToken for OIDSPNEGO
// (RFC 2743 §3.1); Marshal and ParseNegTokenInit handle the framing.
type NegTokenInit struct {
	// MechTypes [0]: mechanisms in the initiator's order of preference;
	// at least one, at most MaxMechTypes, no repeats.
	MechTypes []OID
	// RawMechTypes is the DER of the MechTypeList (SEQUENCE header
	// included) exactly as received: the mechListMIC is computed over these
	// bytes (RFC 4178 §5). Set by ParseNegTokenInit; Marshal ignores it.
	RawMechTypes []byte
	// HasReqFlags and ReqFlags [1]: the optional, deprecated context flags.
	HasReqFlags bool
	ReqFlags    ContextFlags
	// MechToken [2]: the optimistic token for MechTypes[0] (for Kerberos a
	// GSS-API krb5 token holding an AP-REQ). nil when absent.
	MechToken []byte
	// MechListMIC [3]: nil when absent.
	MechListMIC []byte
}

// NegTokenResp is every later token, in both directions (RFC 4178 §4.2.2).
// It is sent bare, without the GSS-API framing.
type NegTokenResp struct {
	// NegState [0]: NegStateAbsent when the field is left out.
	NegState NegState
	// SupportedMech [1]: the acceptor's choice, in its first reply only.
	// "" when absent.
	SupportedMech OID
	// ResponseToken [2]: the mechanism's token (for Kerberos the AP-REP
	// token). nil when absent.
	ResponseToken []byte
	// MechListMIC [3]: nil when absent.
	MechListMIC []byte
}

func (*NegTokenInit) negotiationToken() {}
func (*NegTokenResp) negotiationToken() {}

// Parse decodes one Negotiate token: a framed NegTokenInit (first byte
// 0x60) or a bare NegTokenResp (first byte 0xa1).
func Parse(token []byte) (NegotiationToken, error) {
	if len(token) > 0 && token[0] == byte(tagNegTokenResp) {
		return ParseNegTokenResp(token)
	}
	return ParseNegTokenInit(token)
}

// ThisMech returns the mechanism OID of a GSS-API InitialContextToken
// (RFC 2743 §3.1) and the inner token, without decoding the latter. The
// HTTP layer uses it to route a raw Kerberos token (OIDKerberos) that some
// clients send instead of SPNEGO.
func ThisMech(token []byte) (OID, []byte, error) {
	if len(token) > MaxTokenSize {
		return "", nil, fmt.Errorf("%w: %d bytes > MaxTokenSize", ErrTooLarge, len(token))
	}
	s := cryptobyte.String(token)
	var body, oid cryptobyte.String
	if !s.ReadASN1(&body, tagInitialContext) || !s.Empty() {
		return "", nil, malformed("not a GSS-API InitialContextToken ([APPLICATION 0], RFC 2743 §3.1)")
	}
	if !body.ReadASN1(&oid, asn1.OBJECT_IDENTIFIER) || len(oid) == 0 || len(oid) > MaxOIDLen {
		return "", nil, malformed("GSS-API thisMech is not an OID")
	}
	return OID(oid), body, nil
}

// ParseNegTokenInit decodes a framed NegTokenInit.
func ParseNegTokenInit(token []byte) (*NegTokenInit, error) {
	mech, inner, err := ThisMech(token)
	if err != nil {
		return nil, err
	}
	if mech != OIDSPNEGO {
		return nil, fmt.Errorf("%w (thisMech %s)", ErrNotSPNEGO, mech)
	}
	s := cryptobyte.String(inner)
	var choice, seq cryptobyte.String
	if !s.ReadASN1(&choice, tagNegTokenInit) || !s.Empty() {
		return nil, malformed("innerContextToken is not negTokenInit [0]")
	}
	if !choice.ReadASN1(&seq, asn1.SEQUENCE) || !choice.Empty() {
		return nil, malformed("NegTokenInit is not a SEQUENCE")
	}
	t := &NegTokenInit{}

	// mechTypes [0] MechTypeList (required)
	var f, list cryptobyte.String
	if !seq.ReadASN1(&f, field(0)) || !f.ReadASN1Element(&list, asn1.SEQUENCE) || !f.Empty() {
		return nil, malformed("NegTokenInit.mechTypes [0] missing or not a SEQUENCE")
	}
	t.RawMechTypes = []byte(list)
	if t.MechTypes, err = parseMechTypes(list); err != nil {
		return nil, err
	}

	// reqFlags [1] ContextFlags OPTIONAL
	var present bool
	if !seq.ReadOptionalASN1(&f, &present, field(1)) {
		return nil, malformed("NegTokenInit.reqFlags [1]")
	}
	if present {
		var bits encasn1.BitString
		if !f.ReadASN1BitString(&bits) || !f.Empty() || bits.BitLength > 32 {
			return nil, malformed("NegTokenInit.reqFlags is not a BIT STRING of at most 32 bits")
		}
		t.HasReqFlags = true
		for i := 0; i < 7; i++ {
			if bits.At(i) == 1 {
				t.ReqFlags |= 1 << i
			}
		}
	}

	// mechToken [2] OCTET STRING OPTIONAL, mechListMIC [3] OCTET STRING OPTIONAL
	if t.MechToken, err = readOptionalOctets(&seq, 2, "NegTokenInit.mechToken"); err != nil {
		return nil, err
	}
	if t.MechListMIC, err = readOptionalOctets(&seq, 3, "NegTokenInit.mechListMIC"); err != nil {
		return nil, err
	}
	if err := skipExtensions(seq, 3, "NegTokenInit"); err != nil {
		return nil, err
	}
	return t, nil
}

// ParseNegTokenResp decodes a bare NegTokenResp ([1] NegTokenResp).
func ParseNegTokenResp(token []byte) (*NegTokenResp, error) {
	if len(token) > MaxTokenSize {
		return nil, fmt.Errorf("%w: %d bytes > MaxTokenSize", ErrTooLarge, len(token))
	}
	s := cryptobyte.String(token)
	var choice, seq, f cryptobyte.String
	if !s.ReadASN1(&choice, tagNegTokenResp) || !s.Empty() {
		return nil, malformed("not a negTokenResp [1]")
	}
	if !choice.ReadASN1(&seq, asn1.SEQUENCE) || !choice.Empty() {
		return nil, malformed("NegTokenResp is not a SEQUENCE")
	}
	t := &NegTokenResp{NegState: NegStateAbsent}

	// negState [0] ENUMERATED OPTIONAL
	var present bool
	if !seq.ReadOptionalASN1(&f, &present, field(0)) {
		return nil, malformed("NegTokenResp.negState [0]")
	}
	if present {
		var v int
		if !f.ReadASN1Enum(&v) || !f.Empty() || v < 0 || v > int(NegStateRequestMIC) {
			return nil, malformed("NegTokenResp.negState is not accept-completed, accept-incomplete, reject or request-mic")
		}
		t.NegState = NegState(v)
	}

	// supportedMech [1] MechType OPTIONAL
	if !seq.ReadOptionalASN1(&f, &present, field(1)) {
		return nil, malformed("NegTokenResp.supportedMech [1]")
	}
	if present {
		var oid cryptobyte.String
		if !f.ReadASN1(&oid, asn1.OBJECT_IDENTIFIER) || !f.Empty() || !OID(oid).valid() {
			return nil, malformed("NegTokenResp.supportedMech is not an OID")
		}
		t.SupportedMech = OID(oid)
	}

	var err error
	if t.ResponseToken, err = readOptionalOctets(&seq, 2, "NegTokenResp.responseToken"); err != nil {
		return nil, err
	}
	if t.MechListMIC, err = readOptionalOctets(&seq, 3, "NegTokenResp.mechListMIC"); err != nil {
		return nil, err
	}
	if err := skipExtensions(seq, 3, "NegTokenResp"); err != nil {
		return nil, err
	}
	return t, nil
}

// parseMechTypes decodes the DER element of a MechTypeList.
func parseMechTypes(list cryptobyte.String) ([]OID, error) {
	var body cryptobyte.String
	if !list.ReadASN1(&body, asn1.SEQUENCE) {
		return nil, malformed("MechTypeList is not a SEQUENCE")
	}
	var out []OID
	for !body.Empty() {
		var oid cryptobyte.String
		if !body.ReadASN1(&oid, asn1.OBJECT_IDENTIFIER) || !OID(oid).valid() {
			return nil, malformed("MechTypeList holds something that is not an OID")
		}
		if len(out) == MaxMechTypes {
			return nil, fmt.Errorf("%w: more than MaxMechTypes (%d) mechanisms", ErrTooLarge, MaxMechTypes)
		}
		for _, o := range out {
			if o == OID(oid) {
				return nil, malformed("MechTypeList repeats " + o.String())
			}
		}
		out = append(out, OID(oid))
	}
	if len(out) == 0 {
		return nil, malformed("MechTypeList is empty")
	}
	return out, nil
}

// readOptionalOctets reads "[n] OCTET STRING OPTIONAL". A present but empty
// OCTET STRING comes back as a non-nil empty slice.
func readOptionalOctets(seq *cryptobyte.String, n uint8, name string) ([]byte, error) {
	var f cryptobyte.String
	var present bool
	if !seq.ReadOptionalASN1(&f, &present, field(n)) {
		return nil, malformed(name)
	}
	if !present {
		return nil, nil
	}
	var b cryptobyte.String
	if !f.ReadASN1(&b, asn1.OCTET_STRING) || !f.Empty() {
		return nil, malformed(name + " is not an OCTET STRING")
	}
	if b == nil {
		return []byte{}, nil
	}
	return []byte(b), nil
}

// skipExtensions checks what is left of a SEQUENCE after its known fields:
// only context-tagged constructed fields with increasing tag numbers above
// last, at most MaxExtensions. Anything else (a repeated or out-of-order
// field, a universal tag, trailing garbage) is an error.
func skipExtensions(seq cryptobyte.String, last uint8, name string) error {
	n := 0
	for !seq.Empty() {
		var tag asn1.Tag
		var f cryptobyte.String
		if !seq.ReadAnyASN1(&f, &tag) {
			return malformed(name + ": trailing bytes")
		}
		num := uint8(tag) & 0x1f
		if uint8(tag)&0xe0 != 0xa0 || num <= last {
			return malformed(fmt.Sprintf("%s: unexpected, repeated or out-of-order field (tag 0x%02x)", name, uint8(tag)))
		}
		if n++; n > MaxExtensions {
			return fmt.Errorf("%w: %s has more than MaxExtensions (%d) unknown fields", ErrTooLarge, name, MaxExtensions)
		}
		last = num
	}
	return nil
}

// MarshalMechTypes returns the DER of a MechTypeList: the bytes a
// mechListMIC covers (RFC 4178 §5) when the list was built locally.
func MarshalMechTypes(mechs []OID) ([]byte, error) {
	if len(mechs) == 0 || len(mechs) > MaxMechTypes {
		return nil, fmt.Errorf("spnego: need 1 to MaxMechTypes (%d) mechanisms, have %d", MaxMechTypes, len(mechs))
	}
	for i, m := range mechs {
		if !m.valid() {
			return nil, fmt.Errorf("spnego: mechanism %d is not a valid OID", i)
		}
		for _, o := range mechs[:i] {
			if o == m {
				return nil, fmt.Errorf("spnego: mechanism %s listed twice", m)
			}
		}
	}
	n := 0
	for _, m := range mechs {
		n += tlvLen(len(m))
	}
	b := appendHdr(make([]byte, 0, tlvLen(n)), 0x30, n)
	for _, m := range mechs {
		b = appendHdr(b, 0x06, len(m))
		b = append(b, m...)
	}
	return b, nil
}

func addOID(b *cryptobyte.Builder, o OID) {
	b.AddASN1(asn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes([]byte(o)) })
}

func addOctets(b *cryptobyte.Builder, n uint8, v []byte) {
	if v == nil {
		return
	}
	b.AddASN1(field(n), func(b *cryptobyte.Builder) { b.AddASN1OctetString(v) })
}

// Marshal encodes t framed as a GSS-API InitialContextToken, ready for
// base64. RawMechTypes is not used: the list is encoded from MechTypes.
func (t *NegTokenInit) Marshal() ([]byte, error) {
	mechs, err := MarshalMechTypes(t.MechTypes)
	if err != nil {
		return nil, err
	}
	var flags []byte
	if t.HasReqFlags {
		var fb cryptobyte.Builder
		addContextFlags(&fb, t.ReqFlags)
		flags = fb.BytesOrPanic()
	}
	seq := tlvLen(len(mechs)) + octetsField(t.MechToken) + octetsField(t.MechListMIC)
	if flags != nil {
		seq += tlvLen(len(flags))
	}
	body := tlvLen(len(OIDSPNEGO)) + tlvLen(tlvLen(seq))
	n := tlvLen(body)
	if n > MaxTokenSize {
		return nil, fmt.Errorf("%w: encoded token of %d bytes > MaxTokenSize", ErrTooLarge, n)
	}
	b := make([]byte, 0, n)
	b = appendHdr(b, byte(tagInitialContext), body)
	b = appendHdr(b, 0x06, len(OIDSPNEGO))
	b = append(b, OIDSPNEGO...)
	b = appendHdr(b, byte(tagNegTokenInit), tlvLen(seq))
	b = appendHdr(b, 0x30, seq)
	b = appendHdr(b, byte(field(0)), len(mechs))
	b = append(b, mechs...)
	if flags != nil {
		b = appendHdr(b, byte(field(1)), len(flags))
		b = append(b, flags...)
	}
	b = appendOctetsField(b, 2, t.MechToken)
	b = appendOctetsField(b, 3, t.MechListMIC)
	return b, nil
}

// addContextFlags writes the flags as a DER named-bit BIT STRING: trailing
// zero bits dropped (X.690 §11.2.2).
func addContextFlags(b *cryptobyte.Builder, f ContextFlags) {
	var v byte // bit 0 of the BIT STRING is the most significant bit
	n := 0
	for i := 0; i < 7; i++ {
		if f&(1<<i) != 0 {
			v |= 0x80 >> i
			n = i + 1
		}
	}
	b.AddASN1(asn1.BIT_STRING, func(b *cryptobyte.Builder) {
		if n == 0 {
			b.AddUint8(0)
			return
		}
		b.AddUint8(uint8(8 - n))
		b.AddUint8(v)
	})
}

// Marshal encodes t as a bare [1] NegTokenResp, ready for base64.
func (t *NegTokenResp) Marshal() ([]byte, error) {
	if t.NegState < NegStateAbsent || t.NegState > NegStateRequestMIC {
		return nil, fmt.Errorf("spnego: invalid %v", t.NegState)
	}
	if t.SupportedMech != "" && !t.SupportedMech.valid() {
		return nil, errors.New("spnego: SupportedMech is not a valid OID")
	}
	seq := octetsField(t.ResponseToken) + octetsField(t.MechListMIC)
	if t.NegState != NegStateAbsent {
		seq += 5 // [0] { ENUMERATED, one byte }
	}
	if t.SupportedMech != "" {
		seq += tlvLen(tlvLen(len(t.SupportedMech)))
	}
	n := tlvLen(tlvLen(seq))
	if n > MaxTokenSize {
		return nil, fmt.Errorf("%w: encoded token of %d bytes > MaxTokenSize", ErrTooLarge, n)
	}
	b := make([]byte, 0, n)
	b = appendHdr(b, byte(tagNegTokenResp), tlvLen(seq))
	b = appendHdr(b, 0x30, seq)
	if t.NegState != NegStateAbsent {
		b = append(b, byte(field(0)), 3, 0x0a, 1, byte(t.NegState))
	}
	if t.SupportedMech != "" {
		b = appendHdr(b, byte(field(1)), tlvLen(len(t.SupportedMech)))
		b = appendHdr(b, 0x06, len(t.SupportedMech))
		b = append(b, t.SupportedMech...)
	}
	b = appendOctetsField(b, 2, t.ResponseToken)
	b = appendOctetsField(b, 3, t.MechListMIC)
	return b, nil
}

func finish(b *cryptobyte.Builder) ([]byte, error) {
	out, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("spnego: encoding: %w", err)
	}
	if len(out) > MaxTokenSize {
		return nil, fmt.Errorf("%w: encoded token of %d bytes > MaxTokenSize", ErrTooLarge, len(out))
	}
	return out, nil
}

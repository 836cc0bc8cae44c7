package ntlm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf16"
)

// Errors. ErrMalformed is input that is not a valid message;
// ErrAuthFailed a well-formed message that does not authenticate.
var (
	ErrMalformed  = errors.New("ntlm: malformed message")
	ErrAuthFailed = errors.New("ntlm: authentication failed")
)

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, a...))
}

// Limits on attacker-controlled input. MaxMessageSize bounds a whole
// message: real AUTHENTICATE messages are a few hundred bytes to ~2 KiB;
// maxAVPairs bounds the AV pairs parsed from one list (Windows sends ~10).
const (
	MaxMessageSize = 64 << 10
	maxAVPairs     = 64
)

// signature opens every message (§2.2.1).
var signature = []byte("NTLMSSP\x00")

// Message types (§2.2.1.1-3).
const (
	typeNegotiate    = 1
	typeChallenge    = 2
	typeAuthenticate = 3
)

// Negotiate flags (§2.2.2.5).
const (
	FlagUnicode                 uint32 = 0x00000001
	FlagOEM                     uint32 = 0x00000002
	FlagRequestTarget           uint32 = 0x00000004
	FlagSign                    uint32 = 0x00000010
	FlagSeal                    uint32 = 0x00000020
	FlagLMKey                   uint32 = 0x00000080
	FlagNTLM                    uint32 = 0x00000200
	FlagAnonymous               uint32 = 0x00000800
	FlagOEMDomainSupplied       uint32 = 0x00001000
	FlagOEMWorkstationSupplied  uint32 = 0x00002000
	FlagAlwaysSign              uint32 = 0x00008000
	FlagTargetTypeDomain        uint32 = 0x00010000
	FlagTargetTypeServer        uint32 = 0x00020000
	FlagExtendedSessionSecurity uint32 = 0x00080000
	FlagIdentify                uint32 = 0x00100000
	FlagRequestNonNTSessionKey  uint32 = 0x00400000
	FlagTargetInfo              uint32 = 0x00800000
	FlagVersion                 uint32 = 0x02000000
	Flag128                     uint32 = 0x20000000
	FlagKeyExch                 uint32 = 0x40000000
	Flag56                      uint32 = 0x80000000
)

// Version is the VERSION structure (§2.2.2.10).
type Version struct {
	Major, Minor uint8
	Build        uint16
	Revision     uint8 // NTLMSSP_REVISION_W2K3 = 15
}

// DefaultVersion is what Gatehouse sends: 10.0, revision 15.
var DefaultVersion = Version{Major: 10, Minor: 0, Build: 20348, Revision: 15}

func (v Version) bytes() []byte {
	b := make([]byte, 8)
	b[0], b[1] = v.Major, v.Minor
	binary.LittleEndian.PutUint16(b[2:], v.Build)
	b[7] = v.Revision
	return b
}

func parseVersion(b []byte) Version {
	return Version{Major: b[0], Minor: b[1], Build: binary.LittleEndian.Uint16(b[2:]), Revision: b[7]}
}

// field reads a (Len, MaxLen, Offset) descriptor at off (§2.2.1.1) and
// returns the bytes it points to, checking that they lie inside msg and
// after the fixed header (headerLen).
func field(msg []byte, off, headerLen int) ([]byte, error) {
	if off+8 > len(msg) {
		return nil, malformed("field descriptor at %d beyond the message", off)
	}
	l := int(binary.LittleEndian.Uint16(msg[off:]))
	o := int(binary.LittleEndian.Uint32(msg[off+4:]))
	if l == 0 {
		return nil, nil
	}
	// o and l come from the wire: compare without overflow.
	if o < headerLen || o > len(msg) || l > len(msg)-o {
		return nil, malformed("field at %d: offset %d length %d outside the %d-byte message", off, o, l, len(msg))
	}
	return msg[o : o+l], nil
}

// header checks signature and type.
func header(msg []byte, typ uint32, min int) error {
	if len(msg) > MaxMessageSize {
		return malformed("%d bytes exceeds %d", len(msg), MaxMessageSize)
	}
	if len(msg) < min {
		return malformed("%d bytes is shorter than the %d-byte header", len(msg), min)
	}
	if !bytes.Equal(msg[:8], signature) {
		return malformed("bad signature")
	}
	if t := binary.LittleEndian.Uint32(msg[8:]); t != typ {
		return malformed("message type %d, want %d", t, typ)
	}
	return nil
}

// payload builds a message: fixed header plus variable fields.
type payload struct {
	fixed []byte
	data  []byte
}

func newPayload(headerLen int, typ uint32) *payload {
	p := &payload{fixed: make([]byte, headerLen)}
	copy(p.fixed, signature)
	binary.LittleEndian.PutUint32(p.fixed[8:], typ)
	return p
}

// put writes field v's descriptor at off and appends v.
func (p *payload) put(off int, v []byte) {
	binary.LittleEndian.PutUint16(p.fixed[off:], uint16(len(v)))
	binary.LittleEndian.PutUint16(p.fixed[off+2:], uint16(len(v)))
	binary.LittleEndian.PutUint32(p.fixed[off+4:], uint32(len(p.fixed)+len(p.data)))
	p.data = append(p.data, v...)
}

func (p *payload) bytes() []byte { return append(p.fixed, p.data...) }

// utf16le encodes s as UTF-16LE (§2.2: Unicode strings).
func utf16le(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}

// fromUTF16le decodes UTF-16LE.
func fromUTF16le(b []byte) (string, error) {
	if len(b)%2 != 0 {
		return "", malformed("odd-length UTF-16 string")
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u)), nil
}

// str decodes a string field as Unicode or OEM per flags.
func str(b []byte, flags uint32) (string, error) {
	if flags&FlagUnicode != 0 {
		return fromUTF16le(b)
	}
	return string(b), nil
}

// NegotiateMessage is NEGOTIATE_MESSAGE (§2.2.1.1).
type NegotiateMessage struct {
	Flags       uint32
	Domain      string // OEM, when FlagOEMDomainSupplied
	Workstation string // OEM, when FlagOEMWorkstationSupplied
	Version     *Version
	Raw         []byte // the bytes as received (for the MIC)
}

const negotiateHeader = 32 // without Version; 40 with

// Marshal encodes the message, with the Version field (40-byte header):
// gss-ntlmssp refuses the 32-byte form.
func (m *NegotiateMessage) Marshal() ([]byte, error) {
	p := newPayload(40, typeNegotiate)
	flags := m.Flags | FlagVersion
	if m.Domain != "" {
		flags |= FlagOEMDomainSupplied
	}
	if m.Workstation != "" {
		flags |= FlagOEMWorkstationSupplied
	}
	binary.LittleEndian.PutUint32(p.fixed[12:], flags)
	p.put(16, []byte(m.Domain))
	p.put(24, []byte(m.Workstation))
	v := DefaultVersion
	if m.Version != nil {
		v = *m.Version
	}
	copy(p.fixed[32:], v.bytes())
	return p.bytes(), nil
}

// ParseNegotiate decodes NEGOTIATE_MESSAGE.
func ParseNegotiate(b []byte) (*NegotiateMessage, error) {
	if err := header(b, typeNegotiate, negotiateHeader); err != nil {
		return nil, err
	}
	m := &NegotiateMessage{Flags: binary.LittleEndian.Uint32(b[12:]), Raw: append([]byte(nil), b...)}
	hl := negotiateHeader
	if m.Flags&FlagVersion != 0 && len(b) >= 40 {
		v := parseVersion(b[32:40])
		m.Version = &v
		hl = 40
	}
	d, err := field(b, 16, hl)
	if err != nil {
		return nil, err
	}
	w, err := field(b, 24, hl)
	if err != nil {
		return nil, err
	}
	m.Domain, m.Workstation = string(d), string(w)
	return m, nil
}

// ChallengeMessage is CHALLENGE_MESSAGE (§2.2.1.2).
type ChallengeMessage struct {
	Flags      uint32
	TargetName string
	Challenge  [8]byte
	TargetInfo AVPairs
	Version    *Version
	Raw        []byte
}

const challengeHeader = 48 // without Version; 56 with

// Marshal encodes the message (Unicode target name, Version included).
func (m *ChallengeMessage) Marshal() ([]byte, error) {
	p := newPayload(56, typeChallenge)
	p.put(12, utf16le(m.TargetName))
	binary.LittleEndian.PutUint32(p.fixed[20:], m.Flags|FlagVersion)
	copy(p.fixed[24:], m.Challenge[:])
	p.put(40, m.TargetInfo.Marshal())
	v := DefaultVersion
	if m.Version != nil {
		v = *m.Version
	}
	copy(p.fixed[48:], v.bytes())
	return p.bytes(), nil
}

// ParseChallenge decodes CHALLENGE_MESSAGE.
func ParseChallenge(b []byte) (*ChallengeMessage, error) {
	if err := header(b, typeChallenge, challengeHeader); err != nil {
		return nil, err
	}
	m := &ChallengeMessage{Flags: binary.LittleEndian.Uint32(b[20:]), Raw: append([]byte(nil), b...)}
	copy(m.Challenge[:], b[24:32])
	hl := challengeHeader
	if m.Flags&FlagVersion != 0 && len(b) >= 56 {
		v := parseVersion(b[48:56])
		m.Version = &v
		hl = 56
	}
	tn, err := field(b, 12, hl)
	if err != nil {
		return nil, err
	}
	if m.TargetName, err = str(tn, m.Flags); err != nil {
		return nil, err
	}
	ti, err := field(b, 40, hl)
	if err != nil {
		return nil, err
	}
	if len(ti) > 0 {
		if m.TargetInfo, err = ParseAVPairs(ti); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// AuthenticateMessage is AUTHENTICATE_MESSAGE (§2.2.1.3).
type AuthenticateMessage struct {
	LmResponse          []byte
	NtResponse          []byte
	Domain              string
	User                string
	Workstation         string
	EncryptedSessionKey []byte
	Flags               uint32
	Version             *Version
	MIC                 []byte // 16 bytes when present
	Raw                 []byte
	micOffset           int // where the MIC is in Raw; 0 when the header has none
}

const (
	authenticateHeader = 64 // without Version and MIC
	micOffset          = 72
	authWithMICHeader  = 88
)

// Marshal encodes the message with Version and a MIC field (the MIC bytes
// given, or zeros to be filled in later with SetMIC).
func (m *AuthenticateMessage) Marshal() ([]byte, error) {
	p := newPayload(authWithMICHeader, typeAuthenticate)
	p.put(12, m.LmResponse)
	p.put(20, m.NtResponse)
	p.put(28, utf16le(m.Domain))
	p.put(36, utf16le(m.User))
	p.put(44, utf16le(m.Workstation))
	p.put(52, m.EncryptedSessionKey)
	binary.LittleEndian.PutUint32(p.fixed[60:], m.Flags|FlagVersion|FlagUnicode)
	v := DefaultVersion
	if m.Version != nil {
		v = *m.Version
	}
	copy(p.fixed[64:], v.bytes())
	copy(p.fixed[micOffset:], m.MIC)
	return p.bytes(), nil
}

// ParseAuthenticate decodes AUTHENTICATE_MESSAGE. Whether a MIC is there
// is told by the NTLMv2 response's MsvAvFlags (§2.2.1.3); the field is
// read when the payload leaves room for it.
func ParseAuthenticate(b []byte) (*AuthenticateMessage, error) {
	if err := header(b, typeAuthenticate, authenticateHeader); err != nil {
		return nil, err
	}
	m := &AuthenticateMessage{Flags: binary.LittleEndian.Uint32(b[60:]), Raw: append([]byte(nil), b...)}
	// The fixed part ends where the first payload field starts.
	first := len(b)
	for _, off := range []int{12, 20, 28, 36, 44, 52} {
		if binary.LittleEndian.Uint16(b[off:]) != 0 {
			if o := int(binary.LittleEndian.Uint32(b[off+4:])); o < first {
				first = o
			}
		}
	}
	hl := authenticateHeader
	if m.Flags&FlagVersion != 0 && first >= 72 && len(b) >= 72 {
		v := parseVersion(b[64:72])
		m.Version = &v
		hl = 72
	}
	if first >= authWithMICHeader && len(b) >= authWithMICHeader {
		m.MIC = append([]byte(nil), b[micOffset:micOffset+16]...)
		m.micOffset = micOffset
		hl = authWithMICHeader
	}
	var err error
	get := func(off int) []byte {
		if err != nil {
			return nil
		}
		var v []byte
		v, err = field(b, off, hl)
		return v
	}
	m.LmResponse, m.NtResponse = get(12), get(20)
	dom, usr, ws := get(28), get(36), get(44)
	m.EncryptedSessionKey = get(52)
	if err != nil {
		return nil, err
	}
	if m.Domain, err = str(dom, m.Flags); err != nil {
		return nil, err
	}
	if m.User, err = str(usr, m.Flags); err != nil {
		return nil, err
	}
	if m.Workstation, err = str(ws, m.Flags); err != nil {
		return nil, err
	}
	return m, nil
}

// withZeroMIC returns the raw message with the MIC field zeroed (§3.1.5.1.2).
func (m *AuthenticateMessage) withZeroMIC() []byte {
	c := append([]byte(nil), m.Raw...)
	if m.micOffset > 0 {
		clear(c[m.micOffset : m.micOffset+16])
	}
	return c
}

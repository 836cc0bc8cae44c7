package directory

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// SID is a Windows security identifier (MS-DTYP §2.4.2).
type SID struct {
	Authority uint64   // IdentifierAuthority, 48 bits
	Sub       []uint32 // SubAuthority, at most maxSubAuthorities
}

// maxSubAuthorities is MS-DTYP §2.4.2.2's limit (SubAuthorityCount ≤ 15).
const maxSubAuthorities = 15

// ErrBadSID is returned for a SID that does not parse.
var ErrBadSID = errors.New("directory: malformed SID")

// DecodeSID reads the binary form (MS-DTYP §2.4.2.2), as LDAP's objectSid
// and tokenGroups hold it: Revision (1), SubAuthorityCount (1),
// IdentifierAuthority (6, big-endian), SubAuthority (4 each,
// little-endian). Trailing bytes are refused.
func DecodeSID(b []byte) (SID, error) {
	if len(b) < 8 {
		return SID{}, fmt.Errorf("%w: %d bytes", ErrBadSID, len(b))
	}
	if b[0] != 1 {
		return SID{}, fmt.Errorf("%w: revision %d", ErrBadSID, b[0])
	}
	n := int(b[1])
	if n > maxSubAuthorities {
		return SID{}, fmt.Errorf("%w: %d sub-authorities", ErrBadSID, n)
	}
	if len(b) != 8+4*n {
		return SID{}, fmt.Errorf("%w: %d bytes for %d sub-authorities", ErrBadSID, len(b), n)
	}
	var s SID
	for _, c := range b[2:8] {
		s.Authority = s.Authority<<8 | uint64(c)
	}
	s.Sub = make([]uint32, n)
	for i := range s.Sub {
		s.Sub[i] = binary.LittleEndian.Uint32(b[8+4*i:])
	}
	return s, nil
}

// ParseSID reads the string form "S-1-5-21-…" (MS-DTYP §2.4.2.1); the
// authority is read in decimal whatever its size (the 0x form MS-DTYP
// gives authorities ≥ 2^32 is refused: no SID in use has one).
func ParseSID(str string) (SID, error) {
	parts := strings.Split(str, "-")
	if len(parts) < 3 || !strings.EqualFold(parts[0], "S") || parts[1] != "1" {
		return SID{}, fmt.Errorf("%w: %q", ErrBadSID, str)
	}
	if len(parts)-3 > maxSubAuthorities {
		return SID{}, fmt.Errorf("%w: too many sub-authorities", ErrBadSID)
	}
	a, err := parseDecimal(parts[2], 48)
	if err != nil {
		return SID{}, fmt.Errorf("%w: authority %q", ErrBadSID, parts[2])
	}
	s := SID{Authority: a, Sub: make([]uint32, 0, len(parts)-3)}
	for _, p := range parts[3:] {
		v, err := parseDecimal(p, 32)
		if err != nil {
			return SID{}, fmt.Errorf("%w: sub-authority %q", ErrBadSID, p)
		}
		s.Sub = append(s.Sub, uint32(v))
	}
	return s, nil
}

// parseDecimal is strconv.ParseUint without signs, spaces or leading zeros
// (so that a SID has one spelling).
func parseDecimal(s string, bits int) (uint64, error) {
	if s == "" || len(s) > 1 && s[0] == '0' {
		return 0, ErrBadSID
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, ErrBadSID
		}
	}
	return strconv.ParseUint(s, 10, bits)
}

// IsSID reports whether s is a SID in string form.
func IsSID(s string) bool {
	_, err := ParseSID(s)
	return err == nil
}

// String is the "S-1-…" form.
func (s SID) String() string {
	var b strings.Builder
	b.WriteString("S-1-")
	b.WriteString(strconv.FormatUint(s.Authority, 10))
	for _, v := range s.Sub {
		b.WriteByte('-')
		b.WriteString(strconv.FormatUint(uint64(v), 10))
	}
	return b.String()
}

// Bytes is the binary form.
func (s SID) Bytes() []byte {
	b := make([]byte, 8+4*len(s.Sub))
	b[0], b[1] = 1, byte(len(s.Sub))
	for i := 0; i < 6; i++ {
		b[2+i] = byte(s.Authority >> (8 * (5 - i)))
	}
	for i, v := range s.Sub {
		binary.LittleEndian.PutUint32(b[8+4*i:], v)
	}
	return b
}

// ldapEscapeBytes writes every byte as \xx, for an LDAP filter on a binary
// attribute (RFC 4515 §3).
func ldapEscapeBytes(b []byte) string {
	const hex = "0123456789abcdef"
	out := make([]byte, 0, 3*len(b))
	for _, c := range b {
		out = append(out, '\\', hex[c>>4], hex[c&15])
	}
	return string(out)
}

package krb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
)

// A small NDR (DCE RPC 1.1 §14, MS-RPCE §2.2.6 type serialization v1)
// reader for the one structure the acceptor needs: KERB_VALIDATION_INFO,
// the PAC's LOGON_INFO buffer (MS-PAC §2.5). gokrb5's pac package would do
// it by reflection but needs a module go.sum does not list.

// Limits for the LOGON_INFO decoder.
const (
	// MaxLogonGroups bounds each of the group lists. Windows caps an
	// access token at 1,015 groups; 4,096 leaves room for resource groups.
	MaxLogonGroups = 4096
	// maxSubAuthorities is SID_MAX_SUB_AUTHORITIES (MS-DTYP §2.4.2).
	maxSubAuthorities = 15
)

var errNDR = errors.New("NDR data truncated or inconsistent")

type ndrReader struct {
	b   []byte
	off int
	err error
}

func (r *ndrReader) align(n int) {
	if r.err == nil && r.off%n != 0 {
		r.skip(n - r.off%n)
	}
}

func (r *ndrReader) skip(n int) {
	if r.err == nil && (n < 0 || n > len(r.b)-r.off) {
		r.err = errNDR
	}
	if r.err == nil {
		r.off += n
	}
}

func (r *ndrReader) bytes(n int) []byte {
	start := r.off
	r.skip(n)
	if r.err != nil {
		return nil
	}
	return r.b[start:r.off]
}

func (r *ndrReader) u8() uint8 {
	if b := r.bytes(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *ndrReader) u16() uint16 {
	r.align(2)
	if b := r.bytes(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (r *ndrReader) u32() uint32 {
	r.align(4)
	if b := r.bytes(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

// unicodeString is RPC_UNICODE_STRING's inline part (MS-DTYP §2.3.10).
type unicodeString struct {
	length uint16
	ptr    uint32
}

func (r *ndrReader) unicodeString() unicodeString {
	l := r.u16()
	r.u16() // MaximumLength
	return unicodeString{l, r.u32()}
}

// deferredString reads the conformant varying WCHAR array of a non-null
// RPC_UNICODE_STRING.
func (r *ndrReader) deferredString(s unicodeString) string {
	if s.ptr == 0 {
		return ""
	}
	max, offset, actual := r.u32(), r.u32(), r.u32()
	if r.err != nil || offset != 0 || actual > max || int(actual)*2 < int(s.length) {
		r.err = errNDR
		return ""
	}
	raw := r.bytes(int(actual) * 2)
	if r.err != nil {
		return ""
	}
	u := make([]uint16, len(raw)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(raw[2*i:])
	}
	return string(utf16.Decode(u[:s.length/2]))
}

// sid reads an RPC_SID (MS-DTYP §2.4.2.3), conformant on SubAuthority.
func (r *ndrReader) sid() string {
	n := r.u32()
	rev, count := r.u8(), r.u8()
	auth := r.bytes(6)
	if r.err != nil || uint32(count) != n || count > maxSubAuthorities {
		r.err = errNDR
		return ""
	}
	var a uint64
	for _, c := range auth {
		a = a<<8 | uint64(c)
	}
	var sb strings.Builder
	sb.WriteString("S-" + strconv.Itoa(int(rev)) + "-" + strconv.FormatUint(a, 10))
	for i := 0; i < int(count); i++ {
		sb.WriteString("-" + strconv.FormatUint(uint64(r.u32()), 10))
	}
	return sb.String()
}

// rids reads a conformant array of GROUP_MEMBERSHIP (MS-PAC §2.2.2).
func (r *ndrReader) rids(count uint32) []uint32 {
	n := r.u32()
	if r.err != nil || n != count || n > MaxLogonGroups {
		r.err = errNDR
		return nil
	}
	out := make([]uint32, 0, n)
	for i := uint32(0); i < n && r.err == nil; i++ {
		out = append(out, r.u32())
		r.u32() // Attributes
	}
	return out
}

// decodeLogonInfo decodes KERB_VALIDATION_INFO (MS-PAC §2.5) from a
// LOGON_INFO buffer.
func decodeLogonInfo(b []byte) (*LogonInfo, error) {
	// Type serialization header (MS-RPCE §2.2.6): common header
	// (version 1, little-endian 0x10, length 8), private header.
	if len(b) < 20 || b[0] != 1 || b[1] != 0x10 || binary.LittleEndian.Uint16(b[2:]) != 8 {
		return nil, errors.New("not an NDR type-serialization v1 stream (little-endian)")
	}
	// Private header: ObjectBufferLength, a multiple of 8, then filler.
	n := binary.LittleEndian.Uint32(b[8:])
	if uint64(n) > uint64(len(b)-16) || n%8 != 0 {
		return nil, errors.New("NDR private header length does not match the buffer")
	}
	r := &ndrReader{b: b[16 : 16+n]}
	if r.u32() == 0 { // top-level referent of the KERB_VALIDATION_INFO pointer
		return nil, errors.New("null KERB_VALIDATION_INFO")
	}
	r.skip(6 * 8) // LogonTime … PasswordMustChange (FILETIME)
	var names [6]unicodeString
	for i := range names {
		names[i] = r.unicodeString() // EffectiveName, FullName, LogonScript, ProfilePath, HomeDirectory, HomeDirectoryDrive
	}
	r.u16() // LogonCount
	r.u16() // BadPasswordCount
	userID := r.u32()
	r.u32() // PrimaryGroupId
	groupCount, groupPtr := r.u32(), r.u32()
	r.u32()    // UserFlags
	r.skip(16) // UserSessionKey
	server, domain := r.unicodeString(), r.unicodeString()
	domainSIDPtr := r.u32()
	r.skip(8) // Reserved1
	uac := r.u32()
	r.u32()       // SubAuthStatus
	r.skip(2 * 8) // LastSuccessfulILogon, LastFailedILogon
	r.u32()       // FailedILogonCount
	r.u32()       // Reserved3
	sidCount, extraPtr := r.u32(), r.u32()
	resDomainPtr, resCount, resPtr := r.u32(), r.u32(), r.u32()
	if r.err != nil {
		return nil, r.err
	}

	// Deferred referents, in the order of their pointers.
	var str [6]string
	for i, s := range names {
		str[i] = r.deferredString(s)
	}
	var groups []uint32
	if groupPtr != 0 {
		groups = r.rids(groupCount)
	}
	r.deferredString(server)
	domainName := r.deferredString(domain)
	var domainSID string
	if domainSIDPtr != 0 {
		domainSID = r.sid()
	}
	var extra []string
	if extraPtr != 0 {
		n := r.u32()
		if n != sidCount || n > MaxLogonGroups {
			return nil, errNDR
		}
		ptrs := make([]uint32, n)
		for i := range ptrs {
			ptrs[i] = r.u32()
			r.u32() // Attributes
		}
		for _, p := range ptrs {
			if p != 0 && r.err == nil {
				extra = append(extra, r.sid())
			}
		}
	}
	var resDomain string
	if resDomainPtr != 0 {
		resDomain = r.sid()
	}
	var resRIDs []uint32
	if resPtr != 0 {
		resRIDs = r.rids(resCount)
	}
	if r.err != nil {
		return nil, r.err
	}
	if domainSID == "" {
		return nil, fmt.Errorf("%w: no LogonDomainId", errNDR)
	}

	li := &LogonInfo{
		EffectiveName:      str[0],
		FullName:           str[1],
		LogonDomainName:    domainName,
		UserSID:            domainSID + "-" + strconv.FormatUint(uint64(userID), 10),
		UserAccountControl: uac,
	}
	for _, rid := range groups {
		li.GroupSIDs = append(li.GroupSIDs, domainSID+"-"+strconv.FormatUint(uint64(rid), 10))
	}
	li.GroupSIDs = append(li.GroupSIDs, extra...)
	if resDomain != "" {
		for _, rid := range resRIDs {
			li.GroupSIDs = append(li.GroupSIDs, resDomain+"-"+strconv.FormatUint(uint64(rid), 10))
		}
	}
	return li, nil
}

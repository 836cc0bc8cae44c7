package krb

import (
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"unicode/utf16"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/chksumtype"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/types"
)

// MS-PAC (Privilege Attribute Certificate) support. Active Directory puts a
// PAC with the user's groups in every ticket; MIT krb5 1.20+ puts one
// without LOGON_INFO (client info, UPN, signatures). Both authenticate; a
// ticket without a PAC does too.

// Authorization data types (RFC 4120 §7.5.4, MS-PAC §2.4).
const (
	adIfRelevant = 1
	adWin2KPAC   = 128
)

// PAC_INFO_BUFFER ulType values (MS-PAC §2.4).
const (
	pacLogonInfo       = 1
	pacServerChecksum  = 6
	pacPrivSvrChecksum = 7
	pacClientInfo      = 10
	pacUPNDNSInfo      = 12
)

// MaxPACBuffers bounds PACTYPE.cBuffers. Windows DCs emit 5 to 10 buffers
// (MS-PAC §2.4 defines 19 types); 64 leaves room without letting a bogus
// count drive the loop.
const MaxPACBuffers = 64

// PAC is what the acceptor took from a verified PAC.
type PAC struct {
	// ClientName is PAC_CLIENT_INFO.Name (MS-PAC §2.7), "" if absent.
	ClientName string
	// UPN and DNSDomain come from UPN_DNS_INFO (MS-PAC §2.10), "" if absent.
	UPN       string
	DNSDomain string
	// Logon is KERB_VALIDATION_INFO (MS-PAC §2.5); nil when the PAC has
	// no LOGON_INFO buffer (MIT KDC).
	Logon *LogonInfo
}

// LogonInfo is the part of KERB_VALIDATION_INFO (MS-PAC §2.5) an
// authorisation layer uses.
type LogonInfo struct {
	EffectiveName      string   // sAMAccountName
	FullName           string   // display name
	LogonDomainName    string   // NetBIOS domain
	UserSID            string   // LogonDomainId + UserId
	GroupSIDs          []string // GroupIds, ExtraSids and resource groups
	UserAccountControl uint32
}

type pacBuffer struct {
	typ       uint32
	off, size int
}

// findPAC returns the AD-WIN2K-PAC bytes inside AD-IF-RELEVANT elements of
// the ticket's authorization data, nil if there is none.
func findPAC(ad types.AuthorizationData) ([]byte, error) {
	var found []byte
	for _, e := range ad {
		if e.ADType != adIfRelevant {
			continue
		}
		inner, ok := parseAuthorizationData(e.ADData)
		if !ok {
			return nil, fmt.Errorf("%w: AD-IF-RELEVANT does not decode", ErrBadPAC)
		}
		for _, i := range inner {
			if i.ADType == adWin2KPAC {
				if found != nil {
					return nil, fmt.Errorf("%w: more than one PAC", ErrBadPAC)
				}
				found = i.ADData
			}
		}
	}
	return found, nil
}

// verifyPAC checks the server signature (MS-PAC §2.8.1) with the service
// key and decodes the buffers the acceptor reports. kc, when not nil, is
// the key's Kc for usage 17 (AES keys); allowWeak admits the HMAC-MD5
// signature of RC4 keys.
func verifyPAC(b []byte, key types.EncryptionKey, kc *macKey, allowWeak bool) (*PAC, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrBadPAC}, args...)...)
	}
	if len(b) < 8 {
		return nil, bad("PACTYPE truncated")
	}
	n := binary.LittleEndian.Uint32(b)
	if n > MaxPACBuffers || binary.LittleEndian.Uint32(b[4:]) != 0 || len(b) < 8+16*int(n) {
		return nil, bad("PACTYPE header (cBuffers %d)", n)
	}
	var bufArr [MaxPACBuffers]pacBuffer
	bufs := bufArr[:n]
	var seen uint32 // bit t: a buffer of type t < 32 was seen
	for i := range bufs {
		e := b[8+16*i:]
		typ, size, off := binary.LittleEndian.Uint32(e), binary.LittleEndian.Uint32(e[4:]), binary.LittleEndian.Uint64(e[8:])
		if off > uint64(len(b)) || uint64(size) > uint64(len(b))-off {
			return nil, bad("buffer %d (type %d) outside the PAC", i, typ)
		}
		if typ == pacServerChecksum || typ == pacPrivSvrChecksum || typ == pacLogonInfo ||
			typ == pacClientInfo || typ == pacUPNDNSInfo {
			if seen&(1<<typ) != 0 {
				return nil, bad("buffer type %d repeated", typ)
			}
			seen |= 1 << typ
		}
		bufs[i] = pacBuffer{typ: typ, off: int(off), size: int(size)}
	}
	find := func(typ uint32) (pacBuffer, bool) {
		for _, x := range bufs {
			if x.typ == typ {
				return x, true
			}
		}
		return pacBuffer{}, false
	}
	get := func(typ uint32) []byte {
		if x, ok := find(typ); ok {
			return b[x.off : x.off+x.size]
		}
		return nil
	}

	// Server signature: PAC_SIGNATURE_DATA { SignatureType u32; Signature }
	// over the whole PAC with both signatures zeroed, key usage 17.
	srv, kdc := get(pacServerChecksum), get(pacPrivSvrChecksum)
	if srv == nil || kdc == nil {
		return nil, bad("server or KDC signature missing")
	}
	ctype := int32(binary.LittleEndian.Uint32(srv))
	et, err := crypto.GetChksumEtype(ctype)
	if err != nil {
		return nil, bad("server signature type %d: %v", ctype, err)
	}
	if ctype == chksumtype.KERB_CHECKSUM_HMAC_MD5 && !allowWeak {
		return nil, fmt.Errorf("%w: PAC signed with HMAC-MD5", ErrWeakEtype)
	}
	if et.GetETypeID() != key.KeyType && !(ctype == chksumtype.KERB_CHECKSUM_HMAC_MD5 && key.KeyType == etypeID.RC4_HMAC) {
		return nil, bad("server signature type %d does not match the key's etype %d", ctype, key.KeyType)
	}
	sigLen := sigSize(ctype, et.GetHMACBitLength()/8)
	kdcLen := 0
	if len(kdc) >= 4 {
		if ket, err := crypto.GetChksumEtype(int32(binary.LittleEndian.Uint32(kdc))); err == nil {
			kdcLen = sigSize(int32(binary.LittleEndian.Uint32(kdc)), ket.GetHMACBitLength()/8)
		} else {
			kdcLen = len(kdc) - 4 // unknown KDC checksum type: zero all of it
		}
	}
	if len(srv) < 4+sigLen || len(kdc) < 4+kdcLen {
		return nil, bad("signature buffer too short")
	}
	zeroed := make([]byte, len(b))
	copy(zeroed, b)
	for _, z := range []struct {
		typ uint32
		n   int
	}{{pacServerChecksum, sigLen}, {pacPrivSvrChecksum, kdcLen}} {
		x, _ := find(z.typ)
		clear(zeroed[x.off+4 : x.off+4+z.n]) // the Signature after SignatureType
	}
	var want []byte
	if p := profileOf(key.KeyType); kc != nil && p != nil {
		var buf [sha512.Size]byte
		want = p.checksumTo(buf[:0], kc, zeroed) // the signature type is the key's etype's, checked above
	} else if want, err = et.GetChecksumHash(key.KeyValue, zeroed, usagePACServerSig); err != nil {
		return nil, bad("computing server signature: %v", err)
	}
	if len(want) > sigLen {
		want = want[:sigLen]
	}
	if subtle.ConstantTimeCompare(want, srv[4:4+sigLen]) != 1 {
		return nil, bad("server signature does not verify")
	}

	out := &PAC{}
	if ci := get(pacClientInfo); ci != nil {
		// PAC_CLIENT_INFO { ClientId FILETIME; NameLength u16; Name UTF-16LE }
		if len(ci) < 10 || len(ci) < 10+int(binary.LittleEndian.Uint16(ci[8:])) {
			return nil, bad("PAC_CLIENT_INFO truncated")
		}
		out.ClientName = utf16le(ci[10 : 10+int(binary.LittleEndian.Uint16(ci[8:]))])
	}
	if u := get(pacUPNDNSInfo); u != nil {
		// UPN_DNS_INFO { UpnLength, UpnOffset, DnsDomainNameLength,
		// DnsDomainNameOffset u16; Flags u32; … } offsets from its start.
		if len(u) < 12 {
			return nil, bad("UPN_DNS_INFO truncated")
		}
		str := func(l, o uint16) (string, bool) {
			if int(o)+int(l) > len(u) {
				return "", false
			}
			return utf16le(u[o : o+l]), true
		}
		var ok1, ok2 bool
		out.UPN, ok1 = str(binary.LittleEndian.Uint16(u), binary.LittleEndian.Uint16(u[2:]))
		out.DNSDomain, ok2 = str(binary.LittleEndian.Uint16(u[4:]), binary.LittleEndian.Uint16(u[6:]))
		if !ok1 || !ok2 {
			return nil, bad("UPN_DNS_INFO string outside the buffer")
		}
	}
	if li := get(pacLogonInfo); li != nil {
		logon, err := decodeLogonInfo(li)
		if err != nil {
			return nil, bad("LOGON_INFO: %v", err)
		}
		out.Logon = logon
	}
	return out, nil
}

// sigSize is the signature length of a PAC checksum type: HMAC-MD5 is 16,
// the AES ones their truncated HMAC length (12, 16 or 24).
func sigSize(ctype int32, hmacLen int) int {
	if ctype == chksumtype.KERB_CHECKSUM_HMAC_MD5 {
		return 16
	}
	return hmacLen
}

func utf16le(b []byte) string {
	var ascii [128]byte
	if len(b)/2 <= len(ascii) {
		n := 0
		for ; n < len(b)/2 && b[2*n+1] == 0 && b[2*n] < 0x80; n++ {
			ascii[n] = b[2*n]
		}
		if n == len(b)/2 { // ASCII, the usual name: one allocation
			return string(ascii[:n])
		}
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

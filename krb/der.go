package krb

// DER helpers for the RFC 4120 §5 types, on golang.org/x/crypto/cryptobyte.
// The acceptor parses every message itself: no reflection, bounded sizes,
// trailing bytes and out-of-order fields rejected.

import (
	"fmt"
	"time"

	"github.com/jcmturner/gokrb5/v8/types"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// Size limits for unauthenticated input.
const (
	// MaxTokenSize bounds a whole AP-REQ token. Windows caps its Kerberos
	// MaxTokenSize at 65535 bytes (tickets with large PACs); the GSS-API
	// framing adds 17.
	MaxTokenSize = 65535 + 1024
	// MaxNameComponents bounds PrincipalName.name-string. Service names
	// have 2 or 3 components; 10 is ample.
	MaxNameComponents = 10
	// MaxStringLen bounds one KerberosString or Realm. DNS names are at
	// most 253 bytes; MIT limits principal components to about that.
	MaxStringLen = 1024
	// MaxAuthData bounds the AuthorizationData entries in one sequence
	// (a ticket from AD carries one or two).
	MaxAuthData = 64
)

// GeneralString: KerberosString and Realm (RFC 4120 §5.2.1, §5.2.2).
const tagGeneralString = asn1.Tag(27)

func ctx(n uint8) asn1.Tag { return asn1.Tag(n).ContextSpecific().Constructed() }

// appTag is [APPLICATION n] constructed.
func appTag(n uint8) asn1.Tag { return asn1.Tag(0x60 | n) }

// derErr is the error of a failed read: always ErrMalformed.
func derErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

func readInt32(s *cryptobyte.String, tag uint8, out *int32) bool {
	var f cryptobyte.String
	var v int64
	if !s.ReadASN1(&f, ctx(tag)) || !f.ReadASN1Integer(&v) || !f.Empty() || v < -1<<31 || v >= 1<<31 {
		return false
	}
	*out = int32(v)
	return true
}

func readUint32(f *cryptobyte.String, out *uint32) bool {
	var v int64
	if !f.ReadASN1Integer(&v) || v < 0 || v >= 1<<32 {
		return false
	}
	*out = uint32(v)
	return true
}

func readString(s *cryptobyte.String, tag uint8, out *string) bool {
	var f, v cryptobyte.String
	if !s.ReadASN1(&f, ctx(tag)) || !f.ReadASN1(&v, tagGeneralString) || !f.Empty() || len(v) > MaxStringLen {
		return false
	}
	*out = string(v)
	return true
}

// readStringLike is readString that reuses like when the value equals it
// (no allocation for a realm seen already).
func readStringLike(s *cryptobyte.String, tag uint8, out *string, like string) bool {
	var f, v cryptobyte.String
	if !s.ReadASN1(&f, ctx(tag)) || !f.ReadASN1(&v, tagGeneralString) || !f.Empty() || len(v) > MaxStringLen {
		return false
	}
	if string(v) == like {
		*out = like
	} else {
		*out = string(v)
	}
	return true
}

// KerberosTime ::= GeneralizedTime, "YYYYMMDDHHMMSSZ" (RFC 4120 §5.2.3).
func readTime(s *cryptobyte.String, tag uint8, out *time.Time) bool {
	var f, v cryptobyte.String
	if !s.ReadASN1(&f, ctx(tag)) {
		return false
	}
	if g := f; g.ReadASN1(&v, asn1.GeneralizedTime) && g.Empty() && kerberosTime(v, out) {
		return true
	}
	// any other form: cryptobyte's parser (time.Parse) accepts or refuses it
	return f.ReadASN1GeneralizedTime(out) && f.Empty()
}

// kerberosTime decodes the one form RFC 4120 §5.2.3 allows,
// "YYYYMMDDHHMMSSZ", without time.Parse; false for anything else, and for
// values time.Parse refuses (month 13, 31 April, second 60).
func kerberosTime(v []byte, out *time.Time) bool {
	if len(v) != 15 || v[14] != 'Z' {
		return false
	}
	for _, c := range v[:14] {
		if c < '0' || c > '9' {
			return false
		}
	}
	num := func(i, w int) int {
		n := 0
		for _, c := range v[i : i+w] {
			n = n*10 + int(c-'0')
		}
		return n
	}
	y, mo, d, h, mi, sec := num(0, 4), num(4, 2), num(6, 2), num(8, 2), num(10, 2), num(12, 2)
	if mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59 {
		return false
	}
	t := time.Date(y, time.Month(mo), d, h, mi, sec, 0, time.UTC)
	if t.Day() != d { // 31 April, 29 February of a common year
		return false
	}
	*out = t
	return true
}

func readOptionalTime(s *cryptobyte.String, tag uint8, out *time.Time) bool {
	if !s.PeekASN1Tag(ctx(tag)) {
		return true
	}
	return readTime(s, tag, out)
}

// PrincipalName ::= SEQUENCE { name-type [0] Int32,
//
//	name-string [1] SEQUENCE OF KerberosString }  (RFC 4120 §5.2.2)
func readPrincipal(s *cryptobyte.String, tag uint8, out *types.PrincipalName) bool {
	return readPrincipalLike(s, tag, out, nil)
}

// readPrincipalLike is readPrincipal that shares like's name strings (a
// slice nobody writes to) when the components equal them: the
// authenticator's cname is the ticket's, and needs no allocation then.
func readPrincipalLike(s *cryptobyte.String, tag uint8, out *types.PrincipalName, like []string) bool {
	var f, seq, names cryptobyte.String
	if !s.ReadASN1(&f, ctx(tag)) || !f.ReadASN1(&seq, asn1.SEQUENCE) || !f.Empty() {
		return false
	}
	if !readInt32(&seq, 0, &out.NameType) {
		return false
	}
	var g cryptobyte.String
	if !seq.ReadASN1(&g, ctx(1)) || !g.ReadASN1(&names, asn1.SEQUENCE) || !g.Empty() || !seq.Empty() {
		return false
	}
	if len(like) > 0 {
		same, rest := true, names
		for _, want := range like {
			var v cryptobyte.String
			if !rest.ReadASN1(&v, tagGeneralString) || string(v) != want {
				same = false
				break
			}
		}
		if same && rest.Empty() {
			out.NameString = like
			return true
		}
	}
	out.NameString = nil
	for !names.Empty() {
		var v cryptobyte.String
		if !names.ReadASN1(&v, tagGeneralString) || len(v) > MaxStringLen || len(out.NameString) == MaxNameComponents {
			return false
		}
		out.NameString = append(out.NameString, string(v))
	}
	return len(out.NameString) > 0
}

// EncryptedData ::= SEQUENCE { etype [0] Int32, kvno [1] UInt32 OPTIONAL,
//
//	cipher [2] OCTET STRING }  (RFC 4120 §5.2.9)
func readEncryptedData(s *cryptobyte.String, tag uint8, out *types.EncryptedData) bool {
	return readEncryptedDataShared(s, tag, out, false)
}

// readEncryptedDataShared is readEncryptedData whose Cipher, when shared
// is set, is a slice of the input instead of a copy.
func readEncryptedDataShared(s *cryptobyte.String, tag uint8, out *types.EncryptedData, shared bool) bool {
	var f, seq cryptobyte.String
	if !s.ReadASN1(&f, ctx(tag)) || !f.ReadASN1(&seq, asn1.SEQUENCE) || !f.Empty() {
		return false
	}
	if !readInt32(&seq, 0, &out.EType) {
		return false
	}
	if seq.PeekASN1Tag(ctx(1)) {
		var g cryptobyte.String
		var kvno uint32
		if !seq.ReadASN1(&g, ctx(1)) || !readUint32(&g, &kvno) || !g.Empty() {
			return false
		}
		out.KVNO = int(kvno)
	}
	var g, c cryptobyte.String
	if !seq.ReadASN1(&g, ctx(2)) || !g.ReadASN1(&c, asn1.OCTET_STRING) || !g.Empty() || !seq.Empty() {
		return false
	}
	if shared {
		out.Cipher = c[:len(c):len(c)]
	} else {
		out.Cipher = []byte(c)
	}
	return true
}

// EncryptionKey ::= SEQUENCE { keytype [0] Int32, keyvalue [1] OCTET STRING }
func readKey(s *cryptobyte.String, tag uint8, out *types.EncryptionKey) bool {
	var f, seq, g, v cryptobyte.String
	if !s.ReadASN1(&f, ctx(tag)) || !f.ReadASN1(&seq, asn1.SEQUENCE) || !f.Empty() {
		return false
	}
	if !readInt32(&seq, 0, &out.KeyType) || !seq.ReadASN1(&g, ctx(1)) ||
		!g.ReadASN1(&v, asn1.OCTET_STRING) || !g.Empty() || !seq.Empty() || len(v) > 64 {
		return false
	}
	out.KeyValue = []byte(v)
	return true
}

// Checksum ::= SEQUENCE { cksumtype [0] Int32, checksum [1] OCTET STRING }
func readChecksum(s *cryptobyte.String, tag uint8, out *types.Checksum) bool {
	var f, seq, g, v cryptobyte.String
	if !s.ReadASN1(&f, ctx(tag)) || !f.ReadASN1(&seq, asn1.SEQUENCE) || !f.Empty() {
		return false
	}
	if !readInt32(&seq, 0, &out.CksumType) || !seq.ReadASN1(&g, ctx(1)) ||
		!g.ReadASN1(&v, asn1.OCTET_STRING) || !g.Empty() || !seq.Empty() {
		return false
	}
	out.Checksum = []byte(v)
	return true
}

// AuthorizationData ::= SEQUENCE OF SEQUENCE { ad-type [0] Int32,
//
//	ad-data [1] OCTET STRING }  (RFC 4120 §5.2.6)
func parseAuthorizationData(der []byte) (types.AuthorizationData, bool) {
	s := cryptobyte.String(der)
	var seq cryptobyte.String
	if !s.ReadASN1(&seq, asn1.SEQUENCE) || !s.Empty() {
		return nil, false
	}
	var out types.AuthorizationData
	for !seq.Empty() {
		var e, g, v cryptobyte.String
		var ad types.AuthorizationDataEntry
		if len(out) == MaxAuthData || !seq.ReadASN1(&e, asn1.SEQUENCE) || !readInt32(&e, 0, &ad.ADType) ||
			!e.ReadASN1(&g, ctx(1)) || !g.ReadASN1(&v, asn1.OCTET_STRING) || !g.Empty() || !e.Empty() {
			return nil, false
		}
		ad.ADData = []byte(v)
		out = append(out, ad)
	}
	return out, true
}

func readOptionalAuthData(s *cryptobyte.String, tag uint8, out *types.AuthorizationData) bool {
	if !s.PeekASN1Tag(ctx(tag)) {
		return true
	}
	var f cryptobyte.String
	if !s.ReadASN1(&f, ctx(tag)) {
		return false
	}
	ad, ok := parseAuthorizationData(f)
	*out = ad
	return ok
}

// KerberosFlags ::= BIT STRING (SIZE (32..MAX)) (RFC 4120 §5.2.8). Bit n
// of the BIT STRING is Flags&(1<<(31-n)): the first 32 bits read as a
// big-endian number, which is how RFC 4120 numbers them.
type KerberosFlags uint32

// Has reports whether bit n (RFC 4120 numbering, 0 = first) is set.
func (f KerberosFlags) Has(n int) bool { return n >= 0 && n < 32 && f&(1<<(31-n)) != 0 }

func readFlags(s *cryptobyte.String, tag uint8, out *KerberosFlags) bool {
	var f, b cryptobyte.String
	if !s.ReadASN1(&f, ctx(tag)) || !f.ReadASN1(&b, asn1.BIT_STRING) || !f.Empty() || len(b) < 1 || b[0] > 7 {
		return false
	}
	// Kerberos sends at least 32 bits (RFC 4120 §5.2.8) but some encoders
	// trim; accept any length, read the first 32 bits.
	var v uint32
	for i := 0; i < 4 && i+1 < len(b); i++ {
		v |= uint32(b[i+1]) << (24 - 8*i)
	}
	*out = KerberosFlags(v)
	return true
}

// Builder helpers (used by Marshal methods).

func addInt(b *cryptobyte.Builder, tag uint8, v int64) {
	b.AddASN1(ctx(tag), func(b *cryptobyte.Builder) { b.AddASN1Int64(v) })
}

func addString(b *cryptobyte.Builder, tag uint8, v string) {
	b.AddASN1(ctx(tag), func(b *cryptobyte.Builder) {
		b.AddASN1(tagGeneralString, func(b *cryptobyte.Builder) { b.AddBytes([]byte(v)) })
	})
}

func addTime(b *cryptobyte.Builder, tag uint8, t time.Time) {
	b.AddASN1(ctx(tag), func(b *cryptobyte.Builder) { b.AddASN1GeneralizedTime(t.UTC().Truncate(time.Second)) })
}

func addPrincipal(b *cryptobyte.Builder, tag uint8, p types.PrincipalName) {
	b.AddASN1(ctx(tag), func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			addInt(b, 0, int64(p.NameType))
			b.AddASN1(ctx(1), func(b *cryptobyte.Builder) {
				b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
					for _, n := range p.NameString {
						b.AddASN1(tagGeneralString, func(b *cryptobyte.Builder) { b.AddBytes([]byte(n)) })
					}
				})
			})
		})
	})
}

func addEncryptedData(b *cryptobyte.Builder, tag uint8, ed types.EncryptedData) {
	b.AddASN1(ctx(tag), func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			addInt(b, 0, int64(ed.EType))
			if ed.KVNO != 0 {
				addInt(b, 1, int64(uint32(ed.KVNO)))
			}
			b.AddASN1(ctx(2), func(b *cryptobyte.Builder) { b.AddASN1OctetString(ed.Cipher) })
		})
	})
}

func addKey(b *cryptobyte.Builder, tag uint8, k types.EncryptionKey) {
	b.AddASN1(ctx(tag), func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			addInt(b, 0, int64(k.KeyType))
			b.AddASN1(ctx(1), func(b *cryptobyte.Builder) { b.AddASN1OctetString(k.KeyValue) })
		})
	})
}

func addFlags(b *cryptobyte.Builder, tag uint8, f KerberosFlags) {
	b.AddASN1(ctx(tag), func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.BIT_STRING, func(b *cryptobyte.Builder) {
			b.AddUint8(0) // 32 bits, no padding (RFC 4120 §5.2.8)
			b.AddUint32(uint32(f))
		})
	})
}

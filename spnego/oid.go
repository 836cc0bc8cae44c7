package spnego

import (
	"encoding/asn1"
	"strconv"
	"strings"

	"golang.org/x/crypto/cryptobyte"
)

// OID is an ASN.1 OBJECT IDENTIFIER held as its DER content octets (the
// bytes after tag 0x06 and the length). Keeping the encoded form makes the
// well-known OIDs true constants, comparable with == and usable as map keys.
// The zero value "" means "absent".
type OID string

// Mechanism OIDs a Negotiate peer may offer or select.
const (
	// OIDSPNEGO is 1.3.6.1.5.5.2, SPNEGO itself (RFC 4178 §3).
	OIDSPNEGO OID = "\x2b\x06\x01\x05\x05\x02"
	// OIDKerberos is 1.2.840.113554.1.2.2, the Kerberos v5 GSS-API
	// mechanism (RFC 1964 §1, RFC 4121 §4.1).
	OIDKerberos OID = "\x2a\x86\x48\x86\xf7\x12\x01\x02\x02"
	// OIDMSKerberos is 1.2.840.48018.1.2.2, the OID Windows sends first for
	// Kerberos (a historical mis-encoding of OIDKerberos, MS-KILE §3.1.5.2);
	// it names the same mechanism and the same token format.
	OIDMSKerberos OID = "\x2a\x86\x48\x82\xf7\x12\x01\x02\x02"
	// OIDNTLM is 1.3.6.1.4.1.311.2.2.10, NTLMSSP (MS-NLMP §1.9).
	OIDNTLM OID = "\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x0a"
)

// ParseOID converts dotted-decimal text ("1.2.840.113554.1.2.2") to an OID.
func ParseOID(dotted string) (OID, bool) {
	parts := strings.Split(dotted, ".")
	if len(parts) < 2 || len(parts) > maxOIDArcs {
		return "", false
	}
	ids := make(asn1.ObjectIdentifier, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || (len(p) > 1 && p[0] == '0') {
			return "", false
		}
		ids[i] = n
	}
	var b cryptobyte.Builder
	b.AddASN1ObjectIdentifier(ids)
	der, err := b.Bytes()
	if err != nil {
		return "", false
	}
	var s, content cryptobyte.String = der, nil
	if !s.ReadASN1(&content, 0x06) {
		return "", false
	}
	return OID(content), true
}

// String returns the dotted-decimal form, or "" for the zero OID and
// "invalid" for bytes that do not decode.
func (o OID) String() string {
	if o == "" {
		return ""
	}
	ids, ok := o.arcs()
	if !ok {
		return "invalid"
	}
	return ids.String()
}

func (o OID) arcs() (asn1.ObjectIdentifier, bool) {
	var b cryptobyte.Builder
	b.AddASN1(0x06, func(b *cryptobyte.Builder) { b.AddBytes([]byte(o)) })
	der, err := b.Bytes()
	if err != nil {
		return nil, false
	}
	var ids asn1.ObjectIdentifier
	s := cryptobyte.String(der)
	if !s.ReadASN1ObjectIdentifier(&ids) || !s.Empty() {
		return nil, false
	}
	return ids, true
}

// IsKerberos reports whether o names the Kerberos v5 mechanism under either
// of its OIDs (OIDKerberos, OIDMSKerberos).
func (o OID) IsKerberos() bool { return o == OIDKerberos || o == OIDMSKerberos }

// valid reports whether o is a well-formed OID encoding (used by Marshal so
// it never writes bytes it would refuse to parse).
func (o OID) valid() bool {
	switch o {
	case OIDKerberos, OIDMSKerberos, OIDNTLM, OIDSPNEGO: // every request's: no decoding
		return true
	}
	_, ok := o.arcs()
	return ok && len(o) <= MaxOIDLen
}

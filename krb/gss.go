package krb

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/gatehouse-auth/gatehouse/cbt"
)

// GSS-API Kerberos mechanism token framing (RFC 1964 §1.1, RFC 4121 §4.1):
//
//	[APPLICATION 0] IMPLICIT SEQUENCE { thisMech OID, TOK_ID (2 bytes), AP-REQ | AP-REP | KRB-ERROR }

// Mechanism OIDs (DER content octets) accepted in the framing.
const (
	oidKerberos   = "\x2a\x86\x48\x86\xf7\x12\x01\x02\x02" // 1.2.840.113554.1.2.2
	oidMSKerberos = "\x2a\x86\x48\x82\xf7\x12\x01\x02\x02" // 1.2.840.48018.1.2.2 (MS-KILE §3.1.5.2)
)

// TOK_ID values (RFC 4121 §4.1).
const (
	TokIDAPReq    = 0x0100
	TokIDAPRep    = 0x0200
	TokIDKRBError = 0x0300
)

// unwrapGSS returns the mechanism OID and the inner message of a framed
// krb5 token with the given TOK_ID.
func unwrapGSS(token []byte, tokID uint16) (oid string, inner []byte, err error) {
	s := cryptobyte.String(token)
	var body, o cryptobyte.String
	var id uint16
	if !s.ReadASN1(&body, asn1.Tag(0x60)) || !s.Empty() || !body.ReadASN1(&o, asn1.OBJECT_IDENTIFIER) {
		return "", nil, derErr("not a GSS-API InitialContextToken (RFC 2743 §3.1)")
	}
	if string(o) != oidKerberos && string(o) != oidMSKerberos {
		return "", nil, derErr("GSS-API token is not for the Kerberos mechanism")
	}
	if !body.ReadUint16(&id) || id != tokID {
		return "", nil, derErr("TOK_ID 0x%04x, want 0x%04x", id, tokID)
	}
	return string(o), body, nil
}

// wrapGSS frames msg as a krb5 mechanism token with TOK_ID tokID.
func wrapGSS(oid string, tokID uint16, msg []byte) ([]byte, error) {
	var b cryptobyte.Builder
	b.AddASN1(asn1.Tag(0x60), func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes([]byte(oid)) })
		b.AddUint16(tokID)
		b.AddBytes(msg)
	})
	return b.Bytes()
}

// WrapAPReq frames a DER AP-REQ as a GSS-API krb5 initial token (TOK_ID
// 0x0100) with the standard Kerberos OID. Clients and tests use it.
func WrapAPReq(apreq []byte) ([]byte, error) { return wrapGSS(oidKerberos, TokIDAPReq, apreq) }

// UnwrapAPRep returns the DER AP-REP inside a GSS-API krb5 token (TOK_ID
// 0x0200). Clients and tests use it.
func UnwrapAPRep(token []byte) ([]byte, error) {
	_, inner, err := unwrapGSS(token, TokIDAPRep)
	return inner, err
}

// GSSFlags are the context flags of the authenticator checksum
// (RFC 4121 §4.1.1.1, RFC 2744 §3.9.1).
type GSSFlags uint32

// GSSFlags bits.
const (
	GSSDeleg         GSSFlags = 1
	GSSMutual        GSSFlags = 2
	GSSReplay        GSSFlags = 4
	GSSSequence      GSSFlags = 8
	GSSConf          GSSFlags = 16
	GSSInteg         GSSFlags = 32
	GSSAnon          GSSFlags = 64
	GSSDCEStyle      GSSFlags = 0x1000
	GSSIdentify      GSSFlags = 0x2000
	GSSExtendedError GSSFlags = 0x4000
)

// ChecksumTypeGSS is the authenticator checksum type of GSS-API Kerberos
// (RFC 4121 §4.1.1).
const ChecksumTypeGSS = 0x8003

// MaxDelegationSize bounds the KRB-CRED a client may delegate. A KRB-CRED
// holds one TGT (1-2 KiB, more with a large PAC); it must fit in the token.
const MaxDelegationSize = MaxTokenSize

// GSSChecksum is the value of a 0x8003 authenticator checksum
// (RFC 4121 §4.1.1), little-endian:
//
//	Lgth   4 bytes   always 16 (length of Bnd)
//	Bnd    16 bytes  MD5 of the channel bindings, or zeros (§4.1.1.2)
//	Flags  4 bytes   GSSFlags
//	DlgOpt 2 bytes   1, only when GSSDeleg is set
//	Dlgth  2 bytes   length of Deleg, only when GSSDeleg is set
//	Deleg  n bytes   KRB-CRED (RFC 4120 §5.8), only when GSSDeleg is set
//	Exts   rest      extensions (§4.1.1), kept raw
type GSSChecksum struct {
	Bindings   [16]byte
	Flags      GSSFlags
	Delegation []byte // KRB-CRED, nil when not delegated
	Exts       []byte
}

// ParseGSSChecksum decodes the checksum bytes of a 0x8003 checksum.
func ParseGSSChecksum(b []byte) (*GSSChecksum, error) {
	if len(b) < 24 || binary.LittleEndian.Uint32(b) != 16 {
		return nil, fmt.Errorf("%w: %d bytes, Lgth not 16", ErrBadChecksum, len(b))
	}
	c := &GSSChecksum{Flags: GSSFlags(binary.LittleEndian.Uint32(b[20:]))}
	copy(c.Bindings[:], b[4:20])
	rest := b[24:]
	if c.Flags&GSSDeleg != 0 && len(rest) > 0 {
		if len(rest) < 4 || binary.LittleEndian.Uint16(rest) != 1 {
			return nil, fmt.Errorf("%w: DlgOpt is not 1", ErrBadChecksum)
		}
		n := int(binary.LittleEndian.Uint16(rest[2:]))
		if len(rest) < 4+n || n > MaxDelegationSize {
			return nil, fmt.Errorf("%w: Dlgth %d beyond the checksum", ErrBadChecksum, n)
		}
		c.Delegation = rest[4 : 4+n]
		rest = rest[4+n:]
	} else if c.Flags&GSSDeleg != 0 {
		c.Flags &^= GSSDeleg // flag without credentials: nothing was delegated
	}
	if len(rest) > 0 {
		c.Exts = rest
	}
	return c, nil
}

// Marshal encodes c as the checksum bytes of a 0x8003 checksum.
func (c *GSSChecksum) Marshal() ([]byte, error) {
	out := binary.LittleEndian.AppendUint32(nil, 16)
	out = append(out, c.Bindings[:]...)
	out = binary.LittleEndian.AppendUint32(out, uint32(c.Flags))
	if c.Flags&GSSDeleg != 0 {
		if len(c.Delegation) > 0xffff {
			return nil, fmt.Errorf("krb: delegation of %d bytes does not fit Dlgth", len(c.Delegation))
		}
		out = binary.LittleEndian.AppendUint16(out, 1)
		out = binary.LittleEndian.AppendUint16(out, uint16(len(c.Delegation)))
		out = append(out, c.Delegation...)
	}
	return append(out, c.Exts...), nil
}

// ChannelBindings is gss_channel_bindings_struct (RFC 2744 §3.11), shared
// with NTLM: package cbt computes it and its MD5 (RFC 4121 §4.1.1.2).
type ChannelBindings = cbt.Bindings

// TLSServerEndPoint returns the bindings for RFC 5929 tls-server-end-point,
// given the hash of the server certificate (hash per RFC 5929 §4.1).
func TLSServerEndPoint(certHash []byte) *ChannelBindings { return cbt.ForServerEndPoint(certHash) }

// VerifyChannelBindings compares what the client sent (Result.Bindings)
// with the bindings of this connection. A client that sent none (all zero)
// passes unless required is set (Extended Protection "required"); a client
// that sent a value must match expected, or expected must be nil.
func VerifyChannelBindings(sent [16]byte, expected *ChannelBindings, required bool) error {
	absent := sent == [16]byte{}
	switch {
	case absent && required:
		return fmt.Errorf("%w: client sent none and they are required", ErrChannelBindings)
	case absent || expected == nil:
		return nil
	}
	want := expected.Hash()
	if !bytes.Equal(sent[:], want[:]) {
		return ErrChannelBindings
	}
	return nil
}

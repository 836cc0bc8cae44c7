// Package cbt computes channel-binding tokens: RFC 5929 tls-server-end-point
// (the hash of the server's certificate), and the GSS-API channel-bindings
// structure and its MD5 that Kerberos (RFC 4121 §4.1.1.2) and NTLM
// (MS-NLMP MsvAvChannelBindings) carry. Both sides of Gatehouse use it: the
// server to know what to expect, the client to send it.
//
// It is not the policy (package epa decides what a mismatch means).
package cbt

import (
	"crypto"
	"crypto/md5"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"

	_ "crypto/sha256" // SHA-256 for tls-server-end-point
	_ "crypto/sha512" // SHA-384, SHA-512
)

// Prefix is the application-data prefix of RFC 5929 §4.
const Prefix = "tls-server-end-point:"

// ErrUnsupportedSignature is returned for a certificate whose signature
// hash cannot be determined (RFC 5929 §4.1 then defines no binding).
var ErrUnsupportedSignature = errors.New("cbt: certificate signature algorithm has no tls-server-end-point hash")

// ServerEndPoint returns the RFC 5929 §4.1 hash of cert: the hash of its
// signature algorithm, except SHA-256 where that is MD5 or SHA-1.
func ServerEndPoint(cert *x509.Certificate) ([]byte, error) {
	var h crypto.Hash
	switch cert.SignatureAlgorithm {
	case x509.MD5WithRSA, x509.SHA1WithRSA, x509.ECDSAWithSHA1, x509.DSAWithSHA1,
		x509.SHA256WithRSA, x509.SHA256WithRSAPSS, x509.ECDSAWithSHA256, x509.DSAWithSHA256:
		h = crypto.SHA256
	case x509.SHA384WithRSA, x509.SHA384WithRSAPSS, x509.ECDSAWithSHA384:
		h = crypto.SHA384
	case x509.SHA512WithRSA, x509.SHA512WithRSAPSS, x509.ECDSAWithSHA512:
		h = crypto.SHA512
	case x509.PureEd25519:
		// RFC 5929 predates EdDSA; common practice (and Windows) uses SHA-256.
		h = crypto.SHA256
	default:
		return nil, fmt.Errorf("%w: %v", ErrUnsupportedSignature, cert.SignatureAlgorithm)
	}
	d := h.New()
	d.Write(cert.Raw)
	return d.Sum(nil), nil
}

// Bindings is the GSS-API channel-bindings structure (RFC 2744 §3.11).
// HTTP uses only ApplicationData; the addresses stay empty.
type Bindings struct {
	InitiatorAddrType uint32
	InitiatorAddress  []byte
	AcceptorAddrType  uint32
	AcceptorAddress   []byte
	ApplicationData   []byte
}

// ForServerEndPoint returns the bindings for a tls-server-end-point hash.
func ForServerEndPoint(hash []byte) *Bindings {
	return &Bindings{ApplicationData: append([]byte(Prefix), hash...)}
}

// Hash is the MD5 of the structure as Kerberos puts it in the 0x8003
// checksum's Bnd field and NTLM in MsvAvChannelBindings: each field in
// order, integers and lengths as 4-byte little-endian.
func (b *Bindings) Hash() [16]byte {
	h := md5.New()
	var w [4]byte
	put := func(v uint32) { binary.LittleEndian.PutUint32(w[:], v); h.Write(w[:]) }
	put(b.InitiatorAddrType)
	put(uint32(len(b.InitiatorAddress)))
	h.Write(b.InitiatorAddress)
	put(b.AcceptorAddrType)
	put(uint32(len(b.AcceptorAddress)))
	h.Write(b.AcceptorAddress)
	put(uint32(len(b.ApplicationData)))
	h.Write(b.ApplicationData)
	var out [16]byte
	h.Sum(out[:0])
	return out
}

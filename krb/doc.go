// Package krb is a Kerberos v5 GSS-API acceptor for HTTP Negotiate: given
// the mechanism token a client sent (the mechToken of an SPNEGO
// NegTokenInit, or a raw krb5 token), it authenticates the client with the
// service keytab and returns who the client is and the AP-REP token that
// proves the server's identity back (mutual authentication).
//
// It implements the acceptor side of RFC 4120 §3.2 (AP exchange) and
// RFC 4121 §4.1 (GSS-API framing, the 0x8003 authenticator checksum with
// context flags, channel bindings and delegated credentials), with an
// in-memory replay cache keyed like MIT's and MS-PAC server-signature
// verification. Messages are parsed with golang.org/x/crypto/cryptobyte;
// gokrb5 provides the keytab reader, the RFC 3961/3962/8009 crypto and
// the plain data types.
//
// It is for: verifying AP-REQs (AES-SHA1 and AES-SHA2 etypes; RC4/DES3 only
// when explicitly allowed), key rotation (several kvnos in one keytab),
// restricting which service principals are served, exposing channel
// bindings and delegated KRB-CRED bytes for the HTTP layer to decide on,
// and building the AP-REP.
//
// It is not for: talking to a KDC (no AS/TGS client), SPNEGO (package
// spnego), HTTP (no net/http here), per-message tokens (wrap/MIC),
// user-to-user tickets (refused), DCE-style three-leg contexts, decrypting
// delegated credentials, or checking the KDC signature of a PAC (only the
// KDC has that key).
package krb

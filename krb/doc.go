// Package krb is Kerberos v5 as a GSS-API mechanism for HTTP Negotiate,
// both ends of the AP exchange.
//
// Acceptor: given the mechanism token a client sent (the mechToken of an
// SPNEGO NegTokenInit, or a raw krb5 token), it authenticates the client
// with the service keytab and returns who the client is and the AP-REP
// token that proves the server's identity back (mutual authentication).
// Initiator: for a service ticket the caller already holds, it builds
// AP-REQs with a fresh authenticator (RFC 4121 checksum with flags,
// channel bindings and delegated credentials as KRB-CRED) and checks the
// AP-REP. Both come as GSS-style contexts (AcceptorContext,
// InitiatorContext: Step until done, then Result and the RFC 4121 §4.2.6.1
// MIC tokens SPNEGO's mechListMIC needs), which package spnego composes.
//
// It implements RFC 4120 §3.2 (AP exchange) and RFC 4121 §4.1 (GSS-API
// framing, the 0x8003 authenticator checksum), with an in-memory replay
// cache keyed like MIT's, MS-PAC server-signature verification, and
// MS-SFU's PA-FOR-USER for S4U2Self. Messages are parsed with
// golang.org/x/crypto/cryptobyte; gokrb5 provides the keytab reader, the
// RFC 3961/3962/8009 crypto and the plain data types.
//
// It is for: verifying AP-REQs (AES-SHA1 and AES-SHA2 etypes; RC4/DES3 only
// when explicitly allowed), key rotation (several kvnos in one keytab),
// restricting which service principals are served, exposing channel
// bindings and delegated credentials for the HTTP layer to decide on,
// building AP-REQs and AP-REPs, and MIC tokens over SPNEGO's mechanism list.
//
// It is not for: the AS and TGS exchanges with a KDC (the client package
// uses gokrb5 for those), SPNEGO (package spnego), HTTP (no net/http here),
// wrap tokens (confidentiality), user-to-user tickets (refused), DCE-style
// three-leg contexts, or checking the KDC signature of a PAC (only the KDC
// has that key).
package krb

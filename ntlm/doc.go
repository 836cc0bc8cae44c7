// Package ntlm implements NTLM authentication from MS-NLMP: the three wire
// messages (NEGOTIATE, CHALLENGE, AUTHENTICATE) with their AV pairs, the
// NTLMv2 computations, and both ends of a handshake: an acceptor that
// verifies an NTLMv2 response against an NT hash, and an initiator that
// builds one with a MIC, a target name (SPN) and channel bindings.
//
// Both ends come as GSS-style contexts (Acceptor, Initiator: Step until
// done, then the result and GetMIC/VerifyMIC for SPNEGO's mechListMIC),
// which package spnego composes. It is hand-written because no maintained
// Go library implements the server side. It knows nothing of HTTP or
// connections: the HTTP layer keeps an Acceptor with the connection and
// feeds it the tokens.
//
// Not supported: LM and NTLMv1 responses (refused), anonymous NTLM
// (refused), connectionless (datagram) mode, message sealing beyond what
// SPNEGO's mechListMIC needs.
package ntlm

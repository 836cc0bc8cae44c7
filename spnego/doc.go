// Package spnego encodes and decodes the SPNEGO negotiation tokens of
// RFC 4178 (NegTokenInit, NegTokenResp) inside the GSS-API initial-context
// token framing of RFC 2743 §3.1, as carried base64-encoded in the HTTP
// "Negotiate" scheme (RFC 4559).
//
// It is for: turning the bytes of an Authorization: Negotiate header into a
// typed token (Parse), telling the mechanism the client offered (MechTypes,
// e.g. OIDKerberos or OIDMSKerberos) and the optimistic mechanism token
// (MechToken, an AP-REQ for Kerberos), keeping the exact DER of the
// mechanism list (RawMechTypes) that a mechListMIC is computed over, and
// building the acceptor's answers (AcceptCompleted, AcceptIncomplete,
// RequestMIC, Reject) for a WWW-Authenticate header.
//
// It is not for: running a mechanism (Kerberos lives in package krb, NTLM
// elsewhere), computing or checking the mechListMIC itself (that needs the
// mechanism's keys), HTTP (no net/http here: the caller does base64 and
// headers), or negotiating with a server as a client beyond encoding the
// tokens. The parser is strict DER (golang.org/x/crypto/cryptobyte, no
// reflection): trailing bytes, repeated or out-of-order fields, indefinite
// lengths and oversized inputs are rejected, and no input makes it panic.
//
// The ASN.1 module this package implements (RFC 4178 §4.2, with the
// ContextFlags of RFC 4178 §4.2.1 and the framing of RFC 2743 §3.1):
//
//	-- RFC 2743 §3.1: what the first token on the wire looks like
//	InitialContextToken ::= [APPLICATION 0] IMPLICIT SEQUENCE {
//	    thisMech          MechType,        -- 1.3.6.1.5.5.2 (SPNEGO)
//	    innerContextToken ANY DEFINED BY thisMech
//	                                       -- here: NegotiationToken
//	}
//
//	MechType ::= OBJECT IDENTIFIER
//	MechTypeList ::= SEQUENCE OF MechType
//
//	NegotiationToken ::= CHOICE {
//	    negTokenInit    [0] NegTokenInit,  -- first token, framed
//	    negTokenResp    [1] NegTokenResp   -- every later token, bare
//	}
//
//	NegTokenInit ::= SEQUENCE {
//	    mechTypes       [0] MechTypeList,
//	    reqFlags        [1] ContextFlags  OPTIONAL,
//	    mechToken       [2] OCTET STRING  OPTIONAL,
//	    mechListMIC     [3] OCTET STRING  OPTIONAL,
//	    ...
//	}
//
//	NegTokenResp ::= SEQUENCE {
//	    negState        [0] ENUMERATED {
//	        accept-completed    (0),
//	        accept-incomplete   (1),
//	        reject              (2),
//	        request-mic         (3)
//	    }                                 OPTIONAL,
//	    supportedMech   [1] MechType      OPTIONAL,
//	    responseToken   [2] OCTET STRING  OPTIONAL,
//	    mechListMIC     [3] OCTET STRING  OPTIONAL,
//	    ...
//	}
//
//	ContextFlags ::= BIT STRING {
//	    delegFlag (0), mutualFlag (1), replayFlag (2), sequenceFlag (3),
//	    anonFlag (4), confFlag (5), integFlag (6)
//	} (SIZE (32))
//
// The "..." extension markers are honoured: context-tagged fields with a
// higher tag than the last known one are skipped (at most MaxExtensions),
// so a future revision of the module still parses.
package spnego

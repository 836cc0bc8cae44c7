// Package spnego encodes and decodes the SPNEGO negotiation tokens of
// RFC 4178 (NegTokenInit, NegTokenResp) inside the GSS-API initial-context
// token framing of RFC 2743 §3.1, as carried base64-encoded in the HTTP
// "Negotiate" scheme (RFC 4559).
//
// It is for: the negotiation itself, as a GSS-style context on either
// side. An Acceptor takes a list of mechanisms (Mechanism: OIDs and a
// factory for the mechanism's Context, e.g. krb.AcceptorContext or
// ntlm.Acceptor), picks one (the initiator's optimistic token when it is
// for a mechanism it takes, else a counter-proposal, Kerberos first),
// drives that mechanism's context through NegTokenResp legs, and checks
// and answers the mechListMIC (RFC 4178 §5) with the mechanism's keys; an
// Initiator does the same from the other side. The codec underneath: the
// bytes of an Authorization: Negotiate header as a typed token (Parse),
// the exact DER of the mechanism list (RawMechTypes) the mechListMIC
// covers, and the acceptor's answers (AcceptCompleted, AcceptIncomplete,
// RequestMIC, Reject).
//
// It is not for: a mechanism's own tokens and keys (packages krb and ntlm;
// this package never looks inside them), HTTP (no net/http here: the
// caller does base64 and headers), or NEGOEX. The parser is strict DER
// (golang.org/x/crypto/cryptobyte, no reflection): trailing bytes,
// repeated or out-of-order fields, indefinite lengths and oversized inputs
// are rejected, and no input makes it panic.
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

package spnego

// Helpers for the acceptor's replies (RFC 4178 §4.2.2, §5). mech is the
// supportedMech: pass the OID the initiator offered when this is the first
// reply of the negotiation, "" in later replies. Pass the mechanism OID the
// client used (OIDMSKerberos or OIDKerberos): Windows clients expect their
// own choice echoed.

// AcceptCompleted is the final, successful reply. For Kerberos with mutual
// authentication responseToken is the GSS-API AP-REP token; mechListMIC is
// needed when the chosen mechanism was not the initiator's first choice, or
// when the initiator sent one (RFC 4178 §5). Either may be nil.
func AcceptCompleted(mech OID, responseToken, mechListMIC []byte) *NegTokenResp {
	return &NegTokenResp{NegState: NegStateAcceptCompleted, SupportedMech: mech, ResponseToken: responseToken, MechListMIC: mechListMIC}
}

// AcceptIncomplete asks for another round (multi-leg mechanisms such as
// NTLM, or a mechanism other than the optimistic one).
func AcceptIncomplete(mech OID, responseToken []byte) *NegTokenResp {
	return &NegTokenResp{NegState: NegStateAcceptIncomplete, SupportedMech: mech, ResponseToken: responseToken}
}

// RequestMIC is the first reply when the acceptor chose a mechanism other
// than the initiator's preferred one and wants the initiator's mechListMIC
// (RFC 4178 §5, case (c)).
func RequestMIC(mech OID, responseToken []byte) *NegTokenResp {
	return &NegTokenResp{NegState: NegStateRequestMIC, SupportedMech: mech, ResponseToken: responseToken}
}

// Reject ends the negotiation unsuccessfully. responseToken may carry a
// mechanism error token (for Kerberos a KRB-ERROR) or be nil.
func Reject(responseToken []byte) *NegTokenResp {
	return &NegTokenResp{NegState: NegStateReject, ResponseToken: responseToken}
}

package ntlm

import (
	"bytes"
	"errors"
	"fmt"
)

// Verifier checks an NTLMv2 response somewhere that knows the password (a
// domain controller, through winbind's ntlm_auth) and returns the NTLMv2
// session base key. A refused login is an error wrapping ErrAuthFailed;
// any other error is a technical failure.
type Verifier func(user, domain string, challenge [8]byte, ntResponse, lmResponse []byte) (sessionBaseKey []byte, err error)

// ErrNotEstablished is returned by GetMIC and VerifyMIC before the
// handshake is complete (there are no keys yet).
var ErrNotEstablished = errors.New("ntlm: context not established")

// IsMessage reports whether tok is an NTLMSSP message (it starts with the
// "NTLMSSP\0" signature of §2.2.1 and has room for a message type). HTTP
// adapters use it to route a bare NTLM token sent under Negotiate.
func IsMessage(tok []byte) bool {
	return len(tok) >= 12 && bytes.Equal(tok[:8], signature)
}

// Continues reports whether tok continues a handshake (an AUTHENTICATE)
// rather than starting one: an acceptor that has no handshake in progress
// must refuse it.
func Continues(tok []byte) bool { return MessageType(tok) == typeAuthenticate }

// Acceptor is one NTLM acceptor context in the shape of GSS-API's
// GSS_Accept_sec_context (RFC 2743 §2.2.2): Step(NEGOTIATE) returns the
// CHALLENGE, Step(AUTHENTICATE) completes it; then Result and the MIC
// functions (for SPNEGO's mechListMIC) are available. It is used once and
// discarded; it is not safe for concurrent use.
type Acceptor struct {
	srv *Server
	res *Result
	err error
}

// NewAcceptor starts an acceptor context.
func NewAcceptor(cfg ServerConfig) *Acceptor { return &Acceptor{srv: NewServer(cfg)} }

// Step feeds the initiator's next message. The first must be a NEGOTIATE
// (out is the CHALLENGE, done false), the second an AUTHENTICATE (out nil,
// done true). Errors wrap ErrMalformed (a message that does not parse or
// is out of order) or ErrAuthFailed (a login refused); anything else is a
// technical failure (the account store or verifier failed). A context
// that failed stays failed.
func (a *Acceptor) Step(in []byte) (out []byte, done bool, err error) {
	switch {
	case a.err != nil:
		return nil, false, a.err
	case a.res != nil:
		return nil, true, fmt.Errorf("%w: context already complete", ErrMalformed)
	case a.srv.challenge == nil:
		if MessageType(in) != typeNegotiate {
			a.err = malformed("expected a NEGOTIATE message")
			return nil, false, a.err
		}
		out, a.err = a.srv.Challenge(in)
		return out, false, a.err
	}
	if MessageType(in) != typeAuthenticate {
		a.err = malformed("expected an AUTHENTICATE message")
		return nil, false, a.err
	}
	a.res, a.err = a.srv.Authenticate(in)
	if a.err != nil {
		return nil, false, a.err
	}
	return nil, true, nil
}

// Started reports whether the CHALLENGE has been sent (a NEGOTIATE was
// accepted).
func (a *Acceptor) Started() bool { return a.srv.challenge != nil }

// Result is the authenticated client; nil until Step reports done.
func (a *Acceptor) Result() *Result { return a.res }

// GetMIC signs msg with the session's keys (MS-NLMP §3.4.4.2), for
// SPNEGO's mechListMIC.
func (a *Acceptor) GetMIC(msg []byte) ([]byte, error) {
	if a.res == nil {
		return nil, ErrNotEstablished
	}
	return a.res.Session.Sign(msg), nil
}

// VerifyMIC checks the initiator's signature of msg.
func (a *Acceptor) VerifyMIC(msg, mic []byte) error {
	if a.res == nil {
		return ErrNotEstablished
	}
	if !a.res.Session.Verify(msg, mic) {
		return fmt.Errorf("%w: message signature does not verify", ErrAuthFailed)
	}
	return nil
}

// Initiator is one NTLM initiator context in the shape of GSS-API's
// GSS_Init_sec_context: Step(nil) returns the NEGOTIATE, Step(CHALLENGE)
// returns the AUTHENTICATE and completes the context.
type Initiator struct {
	cl   *Client
	done bool
}

// NewInitiator starts an initiator context.
func NewInitiator(cfg ClientConfig) *Initiator { return &Initiator{cl: NewClient(cfg)} }

// Step returns the next message for the acceptor.
func (i *Initiator) Step(in []byte) (out []byte, done bool, err error) {
	switch {
	case i.done:
		return nil, true, errors.New("ntlm: context already complete")
	case i.cl.negotiate == nil:
		if len(in) != 0 {
			return nil, false, malformed("the initiator speaks first")
		}
		out, err = i.cl.Negotiate()
		return out, false, err
	}
	out, err = i.cl.Authenticate(in)
	if err != nil {
		return nil, false, err
	}
	i.done = true
	return out, true, nil
}

// GetMIC signs msg for the acceptor.
func (i *Initiator) GetMIC(msg []byte) ([]byte, error) {
	if i.cl.session == nil {
		return nil, ErrNotEstablished
	}
	return i.cl.session.Sign(msg), nil
}

// VerifyMIC checks the acceptor's signature of msg.
func (i *Initiator) VerifyMIC(msg, mic []byte) error {
	if i.cl.session == nil {
		return ErrNotEstablished
	}
	if !i.cl.session.Verify(msg, mic) {
		return fmt.Errorf("%w: message signature does not verify", ErrAuthFailed)
	}
	return nil
}

// MessageType is the MessageType field of an NTLMSSP message, 0 when tok
// is not one.
func MessageType(tok []byte) uint32 {
	if !IsMessage(tok) {
		return 0
	}
	return uint32(tok[8]) | uint32(tok[9])<<8 | uint32(tok[10])<<16 | uint32(tok[11])<<24
}

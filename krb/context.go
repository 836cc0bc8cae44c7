package krb

import (
	"errors"
	"fmt"

	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/types"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// Security contexts in the shape of GSS-API (RFC 2743 §2.2): a context is
// created, stepped with the peer's tokens until it reports done, then
// queried (Result) and used for per-message integrity (GetMIC, VerifyMIC:
// the MIC tokens of RFC 4121 §4.2.6.1, which SPNEGO's mechListMIC needs).
// The Kerberos AP exchange takes one token each way: the acceptor is done
// after the AP-REQ, the initiator after the AP-REP (or after the AP-REQ
// when it did not ask for mutual authentication).

// Key usages of per-message tokens (RFC 4121 §2).
const (
	usageAcceptorSign  = 23 // KG-USAGE-ACCEPTOR-SIGN
	usageInitiatorSign = 25 // KG-USAGE-INITIATOR-SIGN
)

// ErrNotEstablished is returned by GetMIC and VerifyMIC before the
// context has the keys they need.
var ErrNotEstablished = errors.New("krb: context not established")

// ErrBadMIC: a per-message MIC token that does not verify.
var ErrBadMIC = fmt.Errorf("%w: MIC token does not verify", ErrAuthFailed)

// IsToken reports whether tok looks like a Kerberos mechanism token: the
// GSS-API framing of RFC 4121 §4.1 with a Kerberos OID, or a bare AP-REQ
// (RFC 4120 §5.5.1, [APPLICATION 14]). It does not validate the rest.
func IsToken(tok []byte) bool {
	s := cryptobyte.String(tok)
	var body, o cryptobyte.String
	if s.ReadASN1(&body, asn1.Tag(0x60)) && body.ReadASN1(&o, asn1.OBJECT_IDENTIFIER) {
		return string(o) == oidKerberos || string(o) == oidMSKerberos
	}
	return len(tok) > 0 && tok[0] == 0x6e
}

// AcceptorContext is one Kerberos acceptor context: Step with the
// initiator's token (an AP-REQ, framed or bare) returns the AP-REP token
// when mutual authentication was asked for, and completes. It is used once
// and discarded.
type AcceptorContext struct {
	a   *Acceptor
	cb  *ChannelBindings
	res *Result
}

// NewContext starts an acceptor context. cb, when not nil, are the
// channel bindings the client must have sent (see Accept); nil leaves the
// decision to the caller (Result.Bindings).
func (a *Acceptor) NewContext(cb *ChannelBindings) *AcceptorContext {
	return &AcceptorContext{a: a, cb: cb}
}

// Step accepts the AP-REQ in token. Errors are those of Accept.
func (c *AcceptorContext) Step(token []byte) (out []byte, done bool, err error) {
	if c.res != nil {
		return nil, true, fmt.Errorf("%w: context already complete", ErrMalformed)
	}
	res, err := c.a.Accept(token, c.cb)
	if err != nil {
		return nil, false, err
	}
	c.res = res
	return res.ResponseToken, true, nil
}

// Result is the accepted context; nil until Step reports done.
func (c *AcceptorContext) Result() *Result { return c.res }

// micKey is the key of per-message tokens (RFC 4121 §2): the acceptor's
// subkey when asserted, else the initiator's, else the session key.
func micKey(acceptorSubkey, initiatorSubkey *types.EncryptionKey, session types.EncryptionKey) (types.EncryptionKey, byte) {
	switch {
	case acceptorSubkey != nil:
		return *acceptorSubkey, gssapi.MICTokenFlagAcceptorSubkey
	case initiatorSubkey != nil:
		return *initiatorSubkey, 0
	}
	return session, 0
}

func getMIC(msg []byte, key types.EncryptionKey, flags byte, seq uint32, usage uint32) ([]byte, error) {
	if profileOf(key.KeyType) == nil {
		return nil, fmt.Errorf("%w (MIC tokens need an RFC 4121 etype, not %d)", ErrWeakEtype, key.KeyType)
	}
	t := &gssapi.MICToken{Flags: flags, SndSeqNum: uint64(seq), Payload: msg}
	if err := t.SetChecksum(key, usage); err != nil {
		return nil, fmt.Errorf("krb: MIC: %w", err)
	}
	return t.Marshal()
}

// verifyMIC checks a peer's MIC token over msg. fromAcceptor is who must
// have sent it; acceptorSubkey is used when the token says so.
func verifyMIC(msg, mic []byte, fromAcceptor bool, acceptorSubkey, initiatorSubkey *types.EncryptionKey, session types.EncryptionKey) error {
	var t gssapi.MICToken
	if err := t.Unmarshal(mic, fromAcceptor); err != nil {
		return fmt.Errorf("%w: MIC token: %v", ErrMalformed, err)
	}
	key, _ := micKey(nil, initiatorSubkey, session)
	if t.Flags&gssapi.MICTokenFlagAcceptorSubkey != 0 {
		if acceptorSubkey == nil {
			return fmt.Errorf("%w (acceptor subkey flag without an acceptor subkey)", ErrBadMIC)
		}
		key = *acceptorSubkey
	}
	if profileOf(key.KeyType) == nil {
		return fmt.Errorf("%w (MIC tokens need an RFC 4121 etype, not %d)", ErrWeakEtype, key.KeyType)
	}
	usage := uint32(usageInitiatorSign)
	if fromAcceptor {
		usage = usageAcceptorSign
	}
	t.Payload = msg
	if ok, err := t.Verify(key, usage); !ok || err != nil {
		return ErrBadMIC
	}
	return nil
}

// GetMIC returns an RFC 4121 MIC token over msg from the acceptor (its
// first per-message token: the initial acceptor sequence number).
func (c *AcceptorContext) GetMIC(msg []byte) ([]byte, error) {
	if c.res == nil {
		return nil, ErrNotEstablished
	}
	key, flags := micKey(c.res.AcceptorSubkey, c.res.ClientSubkey, c.res.SessionKey)
	return getMIC(msg, key, flags|gssapi.MICTokenFlagSentByAcceptor, c.res.AcceptorSeq, usageAcceptorSign)
}

// VerifyMIC checks the initiator's MIC token over msg.
func (c *AcceptorContext) VerifyMIC(msg, mic []byte) error {
	if c.res == nil {
		return ErrNotEstablished
	}
	return verifyMIC(msg, mic, false, c.res.AcceptorSubkey, c.res.ClientSubkey, c.res.SessionKey)
}

// InitiatorContext is one Kerberos initiator context for a service ticket
// the caller holds: Step(nil) returns the framed AP-REQ (RFC 4121 §4.1),
// Step(the acceptor's token) checks the AP-REP.
type InitiatorContext struct {
	in   *Initiator
	p    APReqParams
	st   *APReqState
	part *EncAPRepPart
	done bool
}

// NewContext starts an initiator context for the AP-REQ p describes.
func (in *Initiator) NewContext(p *APReqParams) *InitiatorContext {
	return &InitiatorContext{in: in, p: *p}
}

// Step returns the AP-REQ token first (done unless p.Mutual), then checks
// the AP-REP token (framed or bare) the acceptor answered with.
func (c *InitiatorContext) Step(token []byte) (out []byte, done bool, err error) {
	switch {
	case c.done:
		return nil, true, errors.New("krb: context already complete")
	case c.st == nil:
		der, st, err := c.in.APReq(&c.p)
		if err != nil {
			return nil, false, err
		}
		if out, err = WrapAPReq(der); err != nil {
			return nil, false, err
		}
		c.st, c.done = st, !c.p.Mutual
		return out, c.done, nil
	}
	der := token
	if len(token) > 0 && token[0] == 0x60 {
		if der, err = UnwrapAPRep(token); err != nil {
			return nil, false, err
		}
	}
	part, err := c.st.VerifyAPRep(der)
	if err != nil {
		return nil, false, err
	}
	c.part, c.done = part, true
	return nil, true, nil
}

// Mutual reports whether the context asked for an AP-REP.
func (c *InitiatorContext) Mutual() bool { return c.p.Mutual }

// APRep is the acceptor's checked EncAPRepPart; nil before.
func (c *InitiatorContext) APRep() *EncAPRepPart { return c.part }

func (c *InitiatorContext) acceptorSubkey() *types.EncryptionKey {
	if c.part != nil {
		return c.part.Subkey
	}
	return nil
}

// GetMIC returns an RFC 4121 MIC token over msg from the initiator (its
// first per-message token). It works once the AP-REQ is built, before the
// AP-REP: SPNEGO sends the mechListMIC with the AP-REQ when asked for it.
func (c *InitiatorContext) GetMIC(msg []byte) ([]byte, error) {
	if c.st == nil {
		return nil, ErrNotEstablished
	}
	key, flags := micKey(c.acceptorSubkey(), nil, c.p.SessionKey)
	return getMIC(msg, key, flags, c.st.Seq, usageInitiatorSign)
}

// VerifyMIC checks the acceptor's MIC token over msg.
func (c *InitiatorContext) VerifyMIC(msg, mic []byte) error {
	if c.st == nil {
		return ErrNotEstablished
	}
	return verifyMIC(msg, mic, true, c.acceptorSubkey(), nil, c.p.SessionKey)
}

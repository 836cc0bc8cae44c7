package spnego

import (
	"errors"
	"fmt"
	"strings"
)

// SPNEGO as a mechanism (RFC 4178 §3, RFC 2743 §2.2): an Acceptor or an
// Initiator is itself a security context, stepped token by token, that
// chooses a mechanism, drives that mechanism's context through the
// negotiation tokens, and protects the mechanism list with the
// mechListMIC (§5). It never looks inside a mechanism's tokens.

// Context is a mechanism's security context as SPNEGO drives it: the shape
// of GSS_Init_sec_context / GSS_Accept_sec_context and GSS_GetMIC /
// GSS_VerifyMIC. krb.AcceptorContext, krb.InitiatorContext, ntlm.Acceptor
// and ntlm.Initiator implement it.
type Context interface {
	// Step takes the peer's next token (nil for an initiator's first) and
	// returns the token to send (nil for none) and whether the context is
	// complete.
	Step(in []byte) (out []byte, done bool, err error)
	// GetMIC and VerifyMIC sign and check a message with the context's
	// keys; they fail before the keys exist.
	GetMIC(msg []byte) ([]byte, error)
	VerifyMIC(msg, mic []byte) error
}

// Mechanism is one mechanism a negotiation may choose.
type Mechanism struct {
	// OID names the mechanism; Aliases are other OIDs for the same one
	// (OIDMSKerberos for OIDKerberos). An Initiator offers them all, in
	// this order.
	OID     OID
	Aliases []OID
	// New starts a context of the mechanism.
	New func() (Context, error)
	// Raw, when set, recognises a token of this mechanism sent without
	// SPNEGO or GSS-API framing (a bare NTLM message under HTTP
	// Negotiate). A GSS-API framed token for the mechanism's OID (a raw
	// krb5 token) is recognised without it.
	Raw func(token []byte) bool
	// Continues, when set, tells a raw token that continues a context
	// (an NTLM AUTHENTICATE) from one that starts it: an Acceptor with no
	// negotiation in progress refuses the former with ErrNoContext.
	Continues func(token []byte) bool
}

func (m *Mechanism) names(o OID) bool {
	if o == m.OID {
		return true
	}
	for _, a := range m.Aliases {
		if a == o {
			return true
		}
	}
	return false
}

// Negotiation errors. A mechanism's own errors are returned wrapped, so
// errors.Is still finds them (krb.ErrMalformed, ntlm.ErrAuthFailed…).
var (
	// ErrNoMechanism: the peer offered no mechanism this side takes.
	ErrNoMechanism = errors.New("spnego: no mechanism in common")
	// ErrNoContext: a NegTokenResp arrived with no negotiation in progress.
	ErrNoContext = errors.New("spnego: continuation without a negotiation in progress")
	// ErrBadMIC: the peer's mechListMIC does not verify (the mechanism
	// list was tampered with, RFC 4178 §5).
	ErrBadMIC = errors.New("spnego: mechListMIC does not verify")
	// ErrMICMissing: the exchange required a mechListMIC the peer did not
	// send.
	ErrMICMissing = errors.New("spnego: mechListMIC missing")
	// ErrRejected: the peer ended the negotiation (negState reject).
	ErrRejected = errors.New("spnego: negotiation rejected by the peer")
)

// Acceptor is the acceptor side of one negotiation. It takes the mechanisms
// given to NewAcceptor, in that order of preference: the initiator's
// optimistic token is used when it is for one of them; otherwise the first
// of ours the initiator offered is chosen and its token asked for (a
// counter-proposal, with the mechListMIC then required both ways). Not safe
// for concurrent use; discard it when done or failed.
type Acceptor struct {
	mechs       []Mechanism
	chosen      *Mechanism
	ctx         Context
	supported   OID    // the initiator's OID for the chosen mechanism
	mechTypes   []byte // DER MechTypeList as received: what the MICs cover
	started     bool
	replied     bool // supportedMech goes in the first reply only
	raw         bool // the initiator spoke the mechanism without SPNEGO
	micRequired bool
	mechDone    bool // mechanism complete; waiting for the initiator's MIC
	done        bool
	err         error
}

// NewAcceptor starts an acceptor that takes mechs.
func NewAcceptor(mechs ...Mechanism) *Acceptor { return &Acceptor{mechs: mechs} }

// Step takes the initiator's next token (the first: a framed NegTokenInit
// or a raw mechanism token; later ones: NegTokenResp) and returns the
// token to send back and whether the negotiation is complete. A failed
// Acceptor keeps returning its error.
func (a *Acceptor) Step(in []byte) (out []byte, done bool, err error) {
	if a.err != nil {
		return nil, false, a.err
	}
	if a.done {
		return nil, true, malformed("negotiation already complete")
	}
	out, done, err = a.step(in)
	if err != nil {
		a.err = err
		return nil, false, err
	}
	a.done = done
	return out, done, nil
}

// Raw reports whether the initiator used the mechanism without SPNEGO
// (then the tokens in and out are the mechanism's own).
func (a *Acceptor) Raw() bool { return a.raw }

// Context is the chosen mechanism's context (nil before one is chosen):
// type-assert it to the mechanism's type to read its result.
func (a *Acceptor) Context() Context { return a.ctx }

// Mechanism is the chosen mechanism, nil before one is chosen.
func (a *Acceptor) Mechanism() *Mechanism { return a.chosen }

func (a *Acceptor) step(in []byte) ([]byte, bool, error) {
	if a.raw {
		return a.ctx.Step(in)
	}
	if len(in) > 0 && in[0] == byte(tagNegTokenResp) {
		if !a.started {
			return nil, false, ErrNoContext
		}
		r, err := ParseNegTokenResp(in)
		if err != nil {
			return nil, false, err
		}
		return a.resp(r)
	}
	if a.started {
		return nil, false, malformed("NegTokenInit in the middle of a negotiation")
	}
	a.started = true
	m, err := a.rawMech(in)
	if err != nil {
		return nil, false, err
	}
	if m != nil {
		if m.Continues != nil && m.Continues(in) {
			return nil, false, ErrNoContext
		}
		a.raw, a.chosen = true, m
		ctx, err := m.New()
		if err != nil {
			return nil, false, err
		}
		a.ctx = ctx
		return ctx.Step(in)
	}
	init, err := ParseNegTokenInit(in)
	if err != nil {
		return nil, false, err
	}
	a.mechTypes = init.RawMechTypes
	first := init.MechTypes[0]
	if m := a.find(first); m != nil && init.MechToken != nil {
		a.chosen, a.supported = m, first
		return a.mechStep(init.MechToken, init.MechListMIC)
	}
	for i := range a.mechs {
		for _, o := range init.MechTypes {
			if !a.mechs[i].names(o) {
				continue
			}
			a.chosen, a.supported = &a.mechs[i], o
			if o == first {
				// the preferred mechanism without its token: ask for it
				return a.reply(NegStateAcceptIncomplete, nil, nil)
			}
			// RFC 4178 §5: a mechanism other than the initiator's first
			// choice makes the MIC exchange mandatory.
			a.micRequired = true
			return a.reply(NegStateRequestMIC, nil, nil)
		}
	}
	return nil, false, fmt.Errorf("%w (offered %s)", ErrNoMechanism, mechList(init.MechTypes))
}

// rawMech returns the mechanism of a token sent without SPNEGO, nil when
// in is (or claims to be) SPNEGO; a GSS-API initial token for a mechanism
// we do not take is ErrNoMechanism.
func (a *Acceptor) rawMech(in []byte) (*Mechanism, error) {
	if oid, _, err := ThisMech(in); err == nil {
		if oid == OIDSPNEGO {
			return nil, nil
		}
		if m := a.find(oid); m != nil {
			return m, nil
		}
		return nil, fmt.Errorf("%w (initial token for %s)", ErrNoMechanism, oid)
	}
	for i := range a.mechs {
		if a.mechs[i].Raw != nil && a.mechs[i].Raw(in) {
			return &a.mechs[i], nil
		}
	}
	return nil, nil
}

// Continues reports whether in continues this negotiation (a NegTokenResp,
// or the next raw token of a raw one) rather than starting a new one.
func (a *Acceptor) Continues(in []byte) bool {
	if a.raw {
		return a.chosen.Continues == nil || a.chosen.Continues(in)
	}
	return len(in) > 0 && in[0] == byte(tagNegTokenResp)
}

func (a *Acceptor) find(o OID) *Mechanism {
	for i := range a.mechs {
		if a.mechs[i].names(o) {
			return &a.mechs[i]
		}
	}
	return nil
}

// resp handles a NegTokenResp from the initiator.
func (a *Acceptor) resp(r *NegTokenResp) ([]byte, bool, error) {
	if r.NegState == NegStateReject {
		return nil, false, ErrRejected
	}
	if a.chosen == nil {
		return nil, false, ErrNoContext
	}
	if a.mechDone {
		// the initiator's mechListMIC, after ours
		if r.MechListMIC == nil {
			return nil, false, ErrMICMissing
		}
		if err := a.ctx.VerifyMIC(a.mechTypes, r.MechListMIC); err != nil {
			return nil, false, fmt.Errorf("%w: %w", ErrBadMIC, err)
		}
		return a.reply(NegStateAcceptCompleted, nil, nil)
	}
	if r.ResponseToken == nil {
		return nil, false, malformed("NegTokenResp carries no mechanism token")
	}
	return a.mechStep(r.ResponseToken, r.MechListMIC)
}

// mechStep feeds the chosen mechanism and answers; when the mechanism
// completes it settles the mechListMIC (RFC 4178 §5): a MIC the initiator
// sent is verified and answered with ours; a required one not yet sent is
// asked for with ours.
func (a *Acceptor) mechStep(tok, mic []byte) ([]byte, bool, error) {
	if a.ctx == nil {
		ctx, err := a.chosen.New()
		if err != nil {
			return nil, false, err
		}
		a.ctx = ctx
	}
	out, done, err := a.ctx.Step(tok)
	if err != nil {
		return nil, false, err
	}
	if !done {
		return a.reply(NegStateAcceptIncomplete, out, nil)
	}
	a.mechDone = true
	switch {
	case mic != nil:
		if err := a.ctx.VerifyMIC(a.mechTypes, mic); err != nil {
			return nil, false, fmt.Errorf("%w: %w", ErrBadMIC, err)
		}
		ours, err := a.ctx.GetMIC(a.mechTypes)
		if err != nil {
			return nil, false, err
		}
		return a.reply(NegStateAcceptCompleted, out, ours)
	case a.micRequired:
		ours, err := a.ctx.GetMIC(a.mechTypes)
		if err != nil {
			return nil, false, err
		}
		b, _, err := a.reply(NegStateAcceptIncomplete, out, ours)
		return b, false, err
	}
	return a.reply(NegStateAcceptCompleted, out, nil)
}

func (a *Acceptor) reply(state NegState, tok, mic []byte) ([]byte, bool, error) {
	r := &NegTokenResp{NegState: state, ResponseToken: tok, MechListMIC: mic}
	if !a.replied {
		r.SupportedMech = a.supported
	}
	a.replied = true
	b, err := r.Marshal()
	if err != nil {
		return nil, false, err
	}
	return b, state == NegStateAcceptCompleted, nil
}

// Initiator is the initiator side of one negotiation: it offers its
// mechanisms in the order given to NewInitiator, sends the first one's
// token optimistically, follows the acceptor's counter-proposal, and sends
// and checks the mechListMIC (always with a mechanism's last token when
// it has keys; required after a counter-proposal or a request-mic).
type Initiator struct {
	mechs       []Mechanism
	cur         int
	ctx         Context
	mechTypes   []byte
	started     bool
	answered    bool // the acceptor's first reply has been read
	mechDone    bool
	micRequired bool
	micSent     bool
	micChecked  bool
	done        bool
}

// NewInitiator starts an initiator offering mechs.
func NewInitiator(mechs ...Mechanism) *Initiator { return &Initiator{mechs: mechs} }

// Context is the current mechanism's context.
func (i *Initiator) Context() Context { return i.ctx }

// Mechanism is the current mechanism (the first offered until the
// acceptor chose another).
func (i *Initiator) Mechanism() *Mechanism {
	if len(i.mechs) == 0 {
		return nil
	}
	return &i.mechs[i.cur]
}

// Step returns the first token (in nil: a framed NegTokenInit with the
// first mechanism's optimistic token), then answers each NegTokenResp.
// done is true once the acceptor reported accept-completed and everything
// it sent checked out.
func (i *Initiator) Step(in []byte) (out []byte, done bool, err error) {
	if i.done {
		return nil, true, errors.New("spnego: negotiation already complete")
	}
	if !i.started {
		return i.first()
	}
	r, err := ParseNegTokenResp(in)
	if err != nil {
		return nil, false, err
	}
	if r.NegState == NegStateReject {
		return nil, false, ErrRejected
	}
	var tok []byte
	stepped := false
	if !i.answered {
		i.answered = true
		if r.SupportedMech != "" && !i.mechs[i.cur].names(r.SupportedMech) {
			j := -1
			for k := range i.mechs {
				if i.mechs[k].names(r.SupportedMech) {
					j = k
				}
			}
			if j < 0 {
				return nil, false, fmt.Errorf("%w (acceptor chose %s)", ErrNoMechanism, r.SupportedMech)
			}
			ctx, err := i.mechs[j].New()
			if err != nil {
				return nil, false, err
			}
			i.cur, i.ctx, i.mechDone, i.micRequired = j, ctx, false, true
			if tok, i.mechDone, err = ctx.Step(r.ResponseToken); err != nil {
				return nil, false, err
			}
			stepped = true
		}
	}
	if r.NegState == NegStateRequestMIC {
		i.micRequired = true
	}
	if !stepped && r.ResponseToken != nil {
		if i.mechDone {
			return nil, false, malformed("mechanism token after the mechanism completed")
		}
		if tok, i.mechDone, err = i.ctx.Step(r.ResponseToken); err != nil {
			return nil, false, err
		}
	}
	if r.MechListMIC != nil {
		if err := i.ctx.VerifyMIC(i.mechTypes, r.MechListMIC); err != nil {
			return nil, false, fmt.Errorf("%w: %w", ErrBadMIC, err)
		}
		i.micChecked, i.micRequired = true, true
	}
	var mic []byte
	if !i.micSent && (i.micRequired || (tok != nil && i.mechDone)) {
		if mic, err = i.ctx.GetMIC(i.mechTypes); err == nil {
			i.micSent = true
		} else if i.mechDone {
			return nil, false, err
		}
	}
	if r.NegState == NegStateAcceptCompleted {
		switch {
		case !i.mechDone:
			return nil, false, malformed("accept-completed before the mechanism completed")
		case tok != nil:
			return nil, false, malformed("accept-completed while the mechanism has a token to send")
		case i.micRequired && !i.micChecked:
			return nil, false, ErrMICMissing
		}
		i.done = true
		return nil, true, nil
	}
	if tok == nil && mic == nil {
		return nil, false, malformed("acceptor asked for more but the mechanism has nothing to send")
	}
	out, err = (&NegTokenResp{ResponseToken: tok, MechListMIC: mic}).Marshal()
	return out, false, err
}

func (i *Initiator) first() ([]byte, bool, error) {
	if len(i.mechs) == 0 {
		return nil, false, ErrNoMechanism
	}
	i.started = true
	var oids []OID
	for _, m := range i.mechs {
		oids = append(oids, m.OID)
		oids = append(oids, m.Aliases...)
	}
	var err error
	if i.mechTypes, err = MarshalMechTypes(oids); err != nil {
		return nil, false, err
	}
	if i.ctx, err = i.mechs[0].New(); err != nil {
		return nil, false, err
	}
	tok, done, err := i.ctx.Step(nil)
	if err != nil {
		return nil, false, err
	}
	i.mechDone = done
	out, err := (&NegTokenInit{MechTypes: oids, MechToken: tok}).Marshal()
	return out, false, err
}

func mechList(ms []OID) string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = m.String()
	}
	return strings.Join(s, ",")
}

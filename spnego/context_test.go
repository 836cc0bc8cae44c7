package spnego_test

// The Acceptor and Initiator composed with the real mechanism contexts of
// packages krb and ntlm: tickets made in-process with gokrb5 from a test
// keytab, NTLM against an in-memory account.

import (
	"errors"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gatehouse-auth/gatehouse/krb"
	"github.com/gatehouse-auth/gatehouse/ntlm"
	"github.com/gatehouse-auth/gatehouse/spnego"
)

type mechs struct {
	acceptor *krb.Acceptor
	params   krb.APReqParams
	in       krb.Initiator
}

func newMechs(t *testing.T) *mechs {
	t.Helper()
	kt := keytab.New()
	now := time.Now()
	if err := kt.AddEntry("HTTP/localhost", "EXAMPLE.TEST", "svcpw", now, 2, etypeID.AES256_CTS_HMAC_SHA1_96); err != nil {
		t.Fatal(err)
	}
	a, err := krb.NewAcceptor(krb.Config{Keytab: kt})
	if err != nil {
		t.Fatal(err)
	}
	cname := types.NewPrincipalName(1, "alice")
	sname := types.NewPrincipalName(3, "HTTP/localhost")
	tkt, key, err := messages.NewTicket(cname, "EXAMPLE.TEST", sname, "EXAMPLE.TEST", types.NewKrbFlags(), kt,
		etypeID.AES256_CTS_HMAC_SHA1_96, 2, now, now, now.Add(time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return &mechs{acceptor: a, params: krb.APReqParams{
		Ticket:     krb.Ticket{Realm: tkt.Realm, SName: tkt.SName, EncPart: tkt.EncPart},
		SessionKey: key, CRealm: "EXAMPLE.TEST", CName: cname, Mutual: true,
		Checksum: &krb.GSSChecksum{Flags: krb.GSSMutual | krb.GSSInteg},
	}}
}

func (m *mechs) krbAcceptor() spnego.Mechanism {
	return spnego.Mechanism{OID: spnego.OIDKerberos, Aliases: []spnego.OID{spnego.OIDMSKerberos},
		New: func() (spnego.Context, error) { return m.acceptor.NewContext(nil), nil }}
}

func (m *mechs) krbInitiator() spnego.Mechanism {
	return spnego.Mechanism{OID: spnego.OIDKerberos,
		New: func() (spnego.Context, error) { return m.in.NewContext(&m.params), nil }}
}

func ntlmAcceptor() spnego.Mechanism {
	cfg := ntlm.ServerConfig{NetBIOSComputer: "GATE", NetBIOSDomain: "EXAMPLE",
		Lookup: func(user, _ string) ([]byte, error) {
			if user != "alice" {
				return nil, ntlm.ErrUnknownUser
			}
			return ntlm.NTHash("alicepw"), nil
		}}
	return spnego.Mechanism{OID: spnego.OIDNTLM, Raw: ntlm.IsMessage, Continues: ntlm.Continues,
		New: func() (spnego.Context, error) { return ntlm.NewAcceptor(cfg), nil }}
}

func ntlmInitiator(pw string) spnego.Mechanism {
	return spnego.Mechanism{OID: spnego.OIDNTLM, New: func() (spnego.Context, error) {
		return ntlm.NewInitiator(ntlm.ClientConfig{User: "alice", Domain: "EXAMPLE", Password: pw}), nil
	}}
}

// run drives the two sides until both are done or one fails; tamper, when
// set, may change each initiator token. It returns the number of tokens
// the initiator sent and the first error.
func run(t *testing.T, in *spnego.Initiator, ac *spnego.Acceptor, tamper func(leg int, tok []byte) []byte) (int, error) {
	t.Helper()
	tok, _, err := in.Step(nil)
	if err != nil {
		return 0, err
	}
	for leg := 1; leg < 6; leg++ {
		if tamper != nil {
			tok = tamper(leg, tok)
		}
		back, adone, err := ac.Step(tok)
		if err != nil {
			return leg, err
		}
		next, idone, err := in.Step(back)
		if err != nil {
			return leg, err
		}
		if adone {
			if !idone {
				t.Fatalf("acceptor done, initiator not (leg %d)", leg)
			}
			return leg, nil
		}
		tok = next
	}
	t.Fatal("no end to the negotiation")
	return 0, nil
}

func TestKerberosOptimistic(t *testing.T) {
	m := newMechs(t)
	in := spnego.NewInitiator(m.krbInitiator())
	ac := spnego.NewAcceptor(m.krbAcceptor(), ntlmAcceptor())
	legs, err := run(t, in, ac, nil)
	if err != nil || legs != 1 {
		t.Fatalf("legs %d, %v", legs, err)
	}
	res := ac.Context().(*krb.AcceptorContext).Result()
	if res.ClientName() != "alice@EXAMPLE.TEST" {
		t.Fatal(res.ClientName())
	}
	if in.Context().(*krb.InitiatorContext).APRep() == nil {
		t.Fatal("AP-REP not checked")
	}
}

// Kerberos as the second mechanism after an NTLM optimistic token: the
// acceptor that takes only Kerberos counter-proposes, and the MIC is then
// exchanged both ways with Kerberos keys (RFC 4178 §5).
func TestKerberosCounterProposalWithMIC(t *testing.T) {
	m := newMechs(t)
	in := spnego.NewInitiator(ntlmInitiator("alicepw"), m.krbInitiator())
	ac := spnego.NewAcceptor(m.krbAcceptor())
	var sentMIC bool
	legs, err := run(t, in, ac, func(leg int, tok []byte) []byte {
		if leg == 2 {
			r, err := spnego.ParseNegTokenResp(tok)
			if err != nil {
				t.Fatal(err)
			}
			sentMIC = r.MechListMIC != nil
		}
		return tok
	})
	if err != nil || legs != 2 || !sentMIC {
		t.Fatalf("legs %d, MIC sent %v: %v", legs, sentMIC, err)
	}
	if _, ok := ac.Context().(*krb.AcceptorContext); !ok {
		t.Fatalf("acceptor chose %T", ac.Context())
	}
}

func TestKerberosBadMIC(t *testing.T) {
	m := newMechs(t)
	in := spnego.NewInitiator(ntlmInitiator("alicepw"), m.krbInitiator())
	ac := spnego.NewAcceptor(m.krbAcceptor())
	_, err := run(t, in, ac, func(leg int, tok []byte) []byte {
		if leg != 2 {
			return tok
		}
		r, _ := spnego.ParseNegTokenResp(tok)
		r.MechListMIC[len(r.MechListMIC)-1] ^= 1
		b, _ := r.Marshal()
		return b
	})
	if !errors.Is(err, spnego.ErrBadMIC) {
		t.Fatalf("%v", err)
	}
}

// A Kerberos MIC sent after the mechanism token, not with it: the
// acceptor answers the AP-REQ with its own MIC and waits for the
// initiator's; a NegTokenResp without it is refused.
func TestKerberosMICAfterToken(t *testing.T) {
	for _, send := range []bool{true, false} {
		m := newMechs(t)
		in := spnego.NewInitiator(ntlmInitiator("alicepw"), m.krbInitiator())
		ac := spnego.NewAcceptor(m.krbAcceptor())
		tok, _, _ := in.Step(nil)
		back, _, err := ac.Step(tok)
		if err != nil {
			t.Fatal(err)
		}
		tok, _, err = in.Step(back)
		if err != nil {
			t.Fatal(err)
		}
		r, _ := spnego.ParseNegTokenResp(tok)
		mic := r.MechListMIC
		r.MechListMIC = nil
		tok, _ = r.Marshal()
		back, done, err := ac.Step(tok)
		if err != nil || done {
			t.Fatalf("AP-REQ without MIC: done %v, %v", done, err)
		}
		if r, _ := spnego.ParseNegTokenResp(back); r.NegState != spnego.NegStateAcceptIncomplete || r.MechListMIC == nil || r.ResponseToken == nil {
			t.Fatalf("reply %+v", r)
		}
		last := &spnego.NegTokenResp{}
		if send {
			last.MechListMIC = mic
		}
		tok, _ = last.Marshal()
		_, done, err = ac.Step(tok)
		if send && (err != nil || !done) {
			t.Fatalf("late MIC: %v", err)
		}
		if !send && !errors.Is(err, spnego.ErrMICMissing) {
			t.Fatalf("no MIC: %v", err)
		}
	}
}

func TestNTLMWithMIC(t *testing.T) {
	in := spnego.NewInitiator(ntlmInitiator("alicepw"))
	ac := spnego.NewAcceptor(newMechs(t).krbAcceptor(), ntlmAcceptor())
	legs, err := run(t, in, ac, nil)
	if err != nil || legs != 2 {
		t.Fatalf("legs %d: %v", legs, err)
	}
	if res := ac.Context().(*ntlm.Acceptor).Result(); res.User != "alice" {
		t.Fatal(res.User)
	}
}

func TestNTLMBadMIC(t *testing.T) {
	in := spnego.NewInitiator(ntlmInitiator("alicepw"))
	ac := spnego.NewAcceptor(ntlmAcceptor())
	_, err := run(t, in, ac, func(leg int, tok []byte) []byte {
		if leg != 2 {
			return tok
		}
		r, _ := spnego.ParseNegTokenResp(tok)
		r.MechListMIC[5] ^= 1
		b, _ := r.Marshal()
		return b
	})
	if !errors.Is(err, spnego.ErrBadMIC) {
		t.Fatalf("%v", err)
	}
}

func TestNTLMWrongPassword(t *testing.T) {
	in := spnego.NewInitiator(ntlmInitiator("wrong"))
	ac := spnego.NewAcceptor(ntlmAcceptor())
	if _, err := run(t, in, ac, nil); !errors.Is(err, ntlm.ErrAuthFailed) {
		t.Fatalf("%v", err)
	}
}

// The mechanisms an acceptor takes are a parameter: Kerberos only refuses
// an NTLM-only initiator, and a bare NTLM message.
func TestKerberosOnlyRefusesNTLM(t *testing.T) {
	m := newMechs(t)
	in := spnego.NewInitiator(ntlmInitiator("alicepw"))
	if _, err := run(t, in, spnego.NewAcceptor(m.krbAcceptor()), nil); !errors.Is(err, spnego.ErrNoMechanism) {
		t.Fatalf("%v", err)
	}
	neg, _, _ := ntlm.NewInitiator(ntlm.ClientConfig{User: "alice"}).Step(nil)
	if _, _, err := spnego.NewAcceptor(m.krbAcceptor()).Step(neg); err == nil {
		t.Fatal("bare NTLM accepted by a Kerberos-only acceptor")
	}
}

// Tokens sent without SPNEGO: a raw krb5 token, a bare NTLM exchange.
func TestRawTokens(t *testing.T) {
	m := newMechs(t)
	ic := m.in.NewContext(&m.params)
	tok, _, err := ic.Step(nil)
	if err != nil {
		t.Fatal(err)
	}
	ac := spnego.NewAcceptor(m.krbAcceptor(), ntlmAcceptor())
	rep, done, err := ac.Step(tok)
	if err != nil || !done || !ac.Raw() {
		t.Fatalf("raw krb5: %v %v", done, err)
	}
	if _, done, err := ic.Step(rep); err != nil || !done {
		t.Fatalf("raw AP-REP: %v", err)
	}

	ni := ntlm.NewInitiator(ntlm.ClientConfig{User: "alice", Domain: "EXAMPLE", Password: "alicepw"})
	ac = spnego.NewAcceptor(m.krbAcceptor(), ntlmAcceptor())
	neg, _, _ := ni.Step(nil)
	ch, done, err := ac.Step(neg)
	if err != nil || done || !ac.Raw() {
		t.Fatalf("raw NTLM: %v", err)
	}
	auth, _, err := ni.Step(ch)
	if err != nil {
		t.Fatal(err)
	}
	if _, done, err := ac.Step(auth); err != nil || !done {
		t.Fatalf("raw NTLM AUTHENTICATE: %v", err)
	}
}

// A NegTokenResp with nothing in progress is refused, and so is a
// NegTokenInit offering nothing the acceptor takes.
func TestAcceptorRefusals(t *testing.T) {
	resp, _ := spnego.AcceptIncomplete("", []byte("x")).Marshal()
	if _, _, err := spnego.NewAcceptor(ntlmAcceptor()).Step(resp); !errors.Is(err, spnego.ErrNoContext) {
		t.Fatalf("%v", err)
	}
	other, _ := spnego.ParseOID("1.3.6.1.4.1.311.2.2.30") // NEGOEX
	init, _ := (&spnego.NegTokenInit{MechTypes: []spnego.OID{other}, MechToken: []byte{1}}).Marshal()
	if _, _, err := spnego.NewAcceptor(ntlmAcceptor()).Step(init); !errors.Is(err, spnego.ErrNoMechanism) {
		t.Fatalf("%v", err)
	}
}

// twoLeg is a stand-in mechanism for the fuzzer: it completes on its
// second token, and its MIC is the message itself.
type twoLeg struct{ n int }

func (c *twoLeg) Step(in []byte) ([]byte, bool, error) {
	c.n++
	if len(in) == 0 {
		return nil, false, errors.New("twoLeg: empty token")
	}
	return []byte{byte(c.n)}, c.n >= 2, nil
}
func (c *twoLeg) GetMIC(msg []byte) ([]byte, error) { return msg, nil }
func (c *twoLeg) VerifyMIC(msg, mic []byte) error {
	if string(msg) != string(mic) {
		return errors.New("twoLeg: bad MIC")
	}
	return nil
}

// FuzzAcceptor drives an Acceptor through two attacker-chosen tokens: it
// must never panic, and must never report done without a completed
// mechanism context.
func FuzzAcceptor(f *testing.F) {
	other, _ := spnego.ParseOID("1.3.6.1.4.1.311.2.2.30")
	init1, _ := (&spnego.NegTokenInit{MechTypes: []spnego.OID{spnego.OIDNTLM}, MechToken: []byte{1}}).Marshal()
	init2, _ := (&spnego.NegTokenInit{MechTypes: []spnego.OID{other, spnego.OIDNTLM}}).Marshal()
	resp, _ := (&spnego.NegTokenResp{ResponseToken: []byte{2}, MechListMIC: []byte{0x30}}).Marshal()
	f.Add(init1, resp)
	f.Add(init2, resp)
	f.Add([]byte("NTLMSSP\x00\x01\x00\x00\x00xxxx"), []byte("NTLMSSP\x00\x03\x00\x00\x00xxxx"))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		var ctx *twoLeg
		ac := spnego.NewAcceptor(spnego.Mechanism{OID: spnego.OIDNTLM, Raw: func(tok []byte) bool { return len(tok) > 7 && string(tok[:7]) == "NTLMSSP" },
			New: func() (spnego.Context, error) { ctx = &twoLeg{}; return ctx, nil }})
		for _, tok := range [][]byte{a, b} {
			_, done, err := ac.Step(tok)
			if err != nil {
				return
			}
			if done && (ctx == nil || ctx.n < 2) {
				t.Fatalf("done without a completed mechanism (%v)", ctx)
			}
		}
	})
}

// initLeg is twoLeg for an initiator: its first step takes no token.
type initLeg struct{ twoLeg }

func (c *initLeg) Step(in []byte) ([]byte, bool, error) {
	c.n++
	return []byte{byte(c.n)}, c.n >= 2, nil
}

// FuzzInitiator feeds an Initiator the acceptor's replies as an attacker
// (a server the client was lured to) chooses them: never a panic, never
// done before the mechanism is.
func FuzzInitiator(f *testing.F) {
	r1, _ := spnego.AcceptIncomplete(spnego.OIDNTLM, []byte{1}).Marshal()
	r2, _ := spnego.AcceptCompleted("", nil, []byte{0x30}).Marshal()
	f.Add(r1, r2)
	f.Add(r2, r1)
	f.Fuzz(func(t *testing.T, a, b []byte) {
		var ctx *initLeg
		in := spnego.NewInitiator(spnego.Mechanism{OID: spnego.OIDNTLM,
			New: func() (spnego.Context, error) { ctx = &initLeg{}; return ctx, nil }})
		if _, _, err := in.Step(nil); err != nil {
			t.Fatal(err)
		}
		for _, tok := range [][]byte{a, b} {
			_, done, err := in.Step(tok)
			if err != nil {
				return
			}
			if done && ctx.n < 2 {
				t.Fatalf("done without a completed mechanism (%d steps)", ctx.n)
			}
		}
	})
}

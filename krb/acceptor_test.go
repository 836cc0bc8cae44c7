package krb

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/chksumtype"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

func newTestAcceptor(t testing.TB, kt *keytab.Keytab, mod func(*Config)) (*Acceptor, *time.Time) {
	t.Helper()
	now := t0
	cfg := Config{Keytab: kt, Now: func() time.Time { return now }}
	if mod != nil {
		mod(&cfg)
	}
	a, err := NewAcceptor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a, &now
}

func stdKeytab(t testing.TB) *keytab.Keytab {
	return newKeytab(t, testSPN,
		ktEntry(1, etypeID.AES256_CTS_HMAC_SHA1_96, "secret-1"),
		ktEntry(1, etypeID.AES128_CTS_HMAC_SHA1_96, "secret-1"),
		ktEntry(1, etypeID.AES256_CTS_HMAC_SHA384_192, "secret-1"),
		ktEntry(1, etypeID.AES128_CTS_HMAC_SHA256_128, "secret-1"),
	)
}

// checkAPRep decrypts the AP-REP in res with the session key and checks it
// echoes the authenticator's ctime/cusec.
func checkAPRep(t *testing.T, res *Result, f *forge) *EncAPRepPart {
	t.Helper()
	der := res.ResponseToken
	if !f.bare {
		var err error
		if der, err = UnwrapAPRep(res.ResponseToken); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(der, res.APRep) {
		t.Fatal("ResponseToken does not hold APRep")
	}
	rep, err := ParseAPRep(der)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := crypto.DecryptEncPart(rep.EncPart, f.sessionKey, usageAPRepEncPart)
	if err != nil {
		t.Fatalf("AP-REP does not decrypt with the session key: %v", err)
	}
	part, err := ParseEncAPRepPart(plain)
	if err != nil {
		t.Fatal(err)
	}
	if !part.CTime.Equal(f.ctime.Truncate(time.Second)) || part.Cusec != f.cusec {
		t.Fatalf("AP-REP ctime %v.%d, want %v.%d", part.CTime, part.Cusec, f.ctime, f.cusec)
	}
	if !part.HasSeq || part.SeqNumber != res.AcceptorSeq {
		t.Fatalf("AP-REP seq %v %d, want %d", part.HasSeq, part.SeqNumber, res.AcceptorSeq)
	}
	return part
}

func TestAcceptSuccess(t *testing.T) {
	kt := stdKeytab(t)
	for _, c := range []struct {
		name           string
		etype, session int32
	}{
		{"aes256-sha1", etypeID.AES256_CTS_HMAC_SHA1_96, etypeID.AES256_CTS_HMAC_SHA1_96},
		{"aes128-sha1", etypeID.AES128_CTS_HMAC_SHA1_96, etypeID.AES128_CTS_HMAC_SHA1_96},
		{"aes256-sha384", etypeID.AES256_CTS_HMAC_SHA384_192, etypeID.AES256_CTS_HMAC_SHA384_192},
		{"aes128-sha256 ticket, aes256 session", etypeID.AES128_CTS_HMAC_SHA256_128, etypeID.AES256_CTS_HMAC_SHA1_96},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, _ := newTestAcceptor(t, kt, nil)
			f := defaultForge(kt)
			f.etype, f.sessionEtype = c.etype, c.session
			res, err := a.Accept(f.token(t), nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.ClientName() != "alice@EXAMPLE.TEST" || res.ServiceName() != "HTTP/localhost@EXAMPLE.TEST" {
				t.Errorf("names %s %s", res.ClientName(), res.ServiceName())
			}
			if !bytes.Equal(res.SessionKey.KeyValue, f.sessionKey.KeyValue) || res.Flags&GSSMutual == 0 || !res.Mutual {
				t.Errorf("result %+v", res)
			}
			if !res.TicketFlags.Has(TicketFlagForwardable) || res.TicketFlags.Has(TicketFlagInvalid) {
				t.Errorf("ticket flags %08x", uint32(res.TicketFlags))
			}
			if res.HasBindings || res.Delegated != nil || res.PAC != nil || res.AcceptorSubkey != nil {
				t.Errorf("unexpected extras %+v", res)
			}
			checkAPRep(t, res, f)
		})
	}
}

func TestAcceptBareAPReq(t *testing.T) {
	kt := stdKeytab(t)
	a, _ := newTestAcceptor(t, kt, nil)
	f := defaultForge(kt)
	f.bare, f.cksum = true, nil
	res, err := a.Accept(f.token(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Mutual || res.APRep != nil || res.Flags != 0 {
		t.Errorf("no mutual asked, got %+v", res)
	}
	f.mutualOption = true
	res, err = a.Accept(f.token(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Mutual || res.ResponseToken[0] != 0x6f {
		t.Fatalf("bare AP-REQ with mutual-required: want a bare AP-REP, got % x", res.ResponseToken[:4])
	}
	checkAPRep(t, res, f)

	// A framed token must carry the GSS checksum.
	f.bare = false
	if _, err := a.Accept(f.token(t), nil); !errors.Is(err, ErrBadChecksum) {
		t.Fatalf("framed without 0x8003: %v", err)
	}
}

func TestAcceptorSubkey(t *testing.T) {
	kt := stdKeytab(t)
	a, _ := newTestAcceptor(t, kt, func(c *Config) { c.AcceptorSubkey = true })
	f := defaultForge(kt)
	res, err := a.Accept(f.token(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	part := checkAPRep(t, res, f)
	if part.Subkey == nil || res.AcceptorSubkey == nil || !bytes.Equal(part.Subkey.KeyValue, res.AcceptorSubkey.KeyValue) ||
		part.Subkey.KeyType != f.sessionEtype || len(part.Subkey.KeyValue) != 32 {
		t.Fatalf("subkey %+v / %+v", part.Subkey, res.AcceptorSubkey)
	}
}

func TestAcceptRefusals(t *testing.T) {
	kt := stdKeytab(t)
	other := newKeytab(t, testSPN, ktEntry(1, etypeID.AES256_CTS_HMAC_SHA1_96, "not-the-key"))
	otherSPN := newKeytab(t, "HTTP/other.example", ktEntry(1, etypeID.AES256_CTS_HMAC_SHA1_96, "secret-1"))
	rc4 := newKeytab(t, testSPN, ktEntry(1, etypeID.RC4_HMAC, "secret-1"))
	for _, c := range []struct {
		name string
		kt   *keytab.Keytab // acceptor's keytab
		mod  func(*forge, *time.Time)
		cfg  func(*Config)
		want error
	}{
		{"wrong key", other, nil, nil, ErrBadIntegrity},
		{"wrong SPN", kt, func(f *forge, _ *time.Time) { f.spn, f.kt = "HTTP/other.example", otherSPN }, nil, ErrWrongPrincipal},
		{"SPN not allowed", kt, nil, func(c *Config) {
			c.Keytab = newKeytab(t, testSPN, ktEntry(1, etypeID.AES256_CTS_HMAC_SHA1_96, "secret-1"))
			c.Keytab.Entries = append(c.Keytab.Entries, otherSPN.Entries...)
			c.Principals = []string{"HTTP/other.example@EXAMPLE.TEST"}
		}, ErrWrongPrincipal},
		{"unknown kvno", kt, func(f *forge, _ *time.Time) {
			f.kt = newKeytab(t, testSPN, ktEntry(7, etypeID.AES256_CTS_HMAC_SHA1_96, "secret-1"))
			f.kvno = 7
		}, nil, ErrNoKey},
		{"clock ahead", kt, func(_ *forge, now *time.Time) { *now = t0.Add(6 * time.Minute) }, nil, ErrSkew},
		{"clock behind", kt, func(_ *forge, now *time.Time) { *now = t0.Add(-6 * time.Minute) }, nil, ErrSkew},
		{"skew option", kt, func(_ *forge, now *time.Time) { *now = t0.Add(2 * time.Minute) }, func(c *Config) { c.ClockSkew = time.Minute }, ErrSkew},
		{"expired", kt, func(f *forge, _ *time.Time) { f.end = t0.Add(-6 * time.Minute) }, nil, ErrTicketExpired},
		{"not yet valid", kt, func(f *forge, _ *time.Time) { f.start = t0.Add(6 * time.Minute) }, nil, ErrTicketNotYetValid},
		{"invalid flag", kt, func(f *forge, _ *time.Time) { f.flags |= 1 << (31 - TicketFlagInvalid) }, nil, ErrTicketNotYetValid},
		{"cname mismatch", kt, func(f *forge, _ *time.Time) { f.authClient = "mallory" }, nil, ErrBadMatch},
		{"rc4 refused", rc4, func(f *forge, _ *time.Time) {
			f.kt, f.etype, f.sessionEtype = rc4, etypeID.RC4_HMAC, etypeID.RC4_HMAC
		}, nil, ErrWeakEtype},
		{"rc4 session key refused", kt, func(f *forge, _ *time.Time) { f.sessionEtype = etypeID.RC4_HMAC }, nil, ErrWeakEtype},
		{"channel bindings mismatch", kt, func(f *forge, _ *time.Time) {
			f.cksum.Bindings = TLSServerEndPoint([]byte("other cert")).Hash()
		}, nil, ErrChannelBindings},
		{"bad checksum", kt, func(f *forge, _ *time.Time) {
			f.cksum = &GSSChecksum{Flags: GSSDeleg, Delegation: []byte{1, 2, 3}}
			f.cksum.Exts = nil
		}, nil, ErrBadChecksum},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, now := newTestAcceptor(t, c.kt, c.cfg)
			f := defaultForge(kt)
			if c.mod != nil {
				c.mod(f, now)
			}
			_, err := a.Accept(f.token(t), TLSServerEndPoint([]byte("cert hash")))
			if c.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, c.want) || !errors.Is(err, ErrAuthFailed) || errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if !strings.HasPrefix(err.Error(), "krb: ") && !strings.Contains(err.Error(), "krb: ") {
				t.Errorf("error text %q", err)
			}
			if ErrorCode(err) == 0 {
				t.Errorf("no error code for %v", err)
			}
		})
	}
	// Weak etypes when allowed.
	a, _ := newTestAcceptor(t, rc4, func(c *Config) { c.AllowWeakEtypes = true })
	f := defaultForge(rc4)
	f.etype, f.sessionEtype = etypeID.RC4_HMAC, etypeID.RC4_HMAC
	if _, err := a.Accept(f.token(t), nil); err != nil {
		t.Fatalf("rc4 with AllowWeakEtypes: %v", err)
	}
}

func TestKeyRotation(t *testing.T) {
	kt := newKeytab(t, testSPN,
		ktEntry(1, etypeID.AES256_CTS_HMAC_SHA1_96, "old"),
		ktEntry(2, etypeID.AES256_CTS_HMAC_SHA1_96, "new"),
	)
	a, _ := newTestAcceptor(t, kt, nil)
	for _, kvno := range []int{1, 2} {
		f := defaultForge(kt)
		f.kvno = kvno
		if _, err := a.Accept(f.token(t), nil); err != nil {
			t.Errorf("kvno %d: %v", kvno, err)
		}
	}
	// No kvno in the ticket: the newest key is used.
	f := defaultForge(kt)
	f.kvno = 2
	f.makeTicket(t)
	f.ticket.EncPart.KVNO = 0
	if _, err := a.Accept(f.token(t), nil); err != nil {
		t.Errorf("kvno absent: %v", err)
	}
}

func TestReplay(t *testing.T) {
	kt := stdKeytab(t)
	a, now := newTestAcceptor(t, kt, nil)
	f := defaultForge(kt)
	tok := f.token(t)
	if _, err := a.Accept(tok, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Accept(tok, nil); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay: %v", err)
	}
	// Same ticket, same ctime/cusec, new confounder: a fresh authenticator.
	if _, err := a.Accept(f.token(t), nil); err != nil {
		t.Fatalf("fresh authenticator: %v", err)
	}
	// Still a replay one second before the window closes; refused for skew after.
	*now = t0.Add(DefaultClockSkew)
	if _, err := a.Accept(tok, nil); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay at the edge of the window: %v", err)
	}
	*now = t0.Add(DefaultClockSkew + time.Second)
	if _, err := a.Accept(tok, nil); !errors.Is(err, ErrSkew) {
		t.Fatalf("old token: %v", err)
	}
	// A failed attempt does not poison the cache: a refused token (wrong
	// bindings) can be accepted later with the right ones.
	*now = t0
	f.cksum.Bindings = TLSServerEndPoint([]byte("A")).Hash()
	tok2 := f.token(t)
	if _, err := a.Accept(tok2, TLSServerEndPoint([]byte("B"))); !errors.Is(err, ErrChannelBindings) {
		t.Fatal(err)
	}
	if _, err := a.Accept(tok2, TLSServerEndPoint([]byte("A"))); err != nil {
		t.Fatal(err)
	}
}

func TestReplayConcurrent(t *testing.T) {
	kt := stdKeytab(t)
	a, _ := newTestAcceptor(t, kt, nil)
	f := defaultForge(kt)
	tok := f.token(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := a.Accept(tok, nil); err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ok != 1 {
		t.Fatalf("%d concurrent copies accepted, want 1", ok)
	}
}

func TestChannelBindings(t *testing.T) {
	kt := stdKeytab(t)
	a, _ := newTestAcceptor(t, kt, nil)
	cb := TLSServerEndPoint([]byte{1, 2, 3})
	f := defaultForge(kt)
	f.cksum.Bindings = cb.Hash()
	res, err := a.Accept(f.token(t), cb)
	if err != nil || !res.HasBindings || res.Bindings != cb.Hash() {
		t.Fatalf("%v %+v", err, res)
	}
	if err := VerifyChannelBindings(res.Bindings, cb, true); err != nil {
		t.Fatal(err)
	}
	// Client without bindings: accepted, visible, refused when required.
	f.cksum.Bindings = [16]byte{}
	res, err = a.Accept(f.token(t), cb)
	if err != nil || res.HasBindings {
		t.Fatalf("%v %+v", err, res)
	}
	if err := VerifyChannelBindings(res.Bindings, cb, true); !errors.Is(err, ErrChannelBindings) {
		t.Fatal(err)
	}
	// Known vector: empty bindings are five zero 32-bit fields, so the
	// hash is MD5 of 20 zero bytes.
	if got := (&ChannelBindings{}).Hash(); got != [16]byte{0x44, 0x10, 0x18, 0x52, 0x52, 0x08, 0x45, 0x77, 0x05, 0xbf, 0x09, 0xa8, 0xee, 0x3c, 0x10, 0x93} {
		t.Errorf("empty bindings hash % x", got)
	}
}

func TestDelegation(t *testing.T) {
	kt := stdKeytab(t)
	a, _ := newTestAcceptor(t, kt, nil)
	f := defaultForge(kt)
	f.makeTicket(t)
	var in Initiator
	cred, err := in.KRBCred([]Credential{{Ticket: *f.ticket, Key: f.sessionKey, PName: principal("alice")}}, f.sessionKey)
	if err != nil {
		t.Fatal(err)
	}
	f.cksum = &GSSChecksum{Flags: GSSMutual | GSSDeleg, Delegation: cred, Exts: []byte{0, 0, 0, 0, 0, 0, 0, 0}}
	res, err := a.Accept(f.token(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(res.Delegated, cred) || res.Flags&GSSDeleg == 0 || len(res.DelegatedCreds) != 1 {
		t.Fatalf("delegation %q flags %x creds %v", res.Delegated, res.Flags, res.DelegatedCreds)
	}
}

func TestPAC(t *testing.T) {
	kt := stdKeytab(t)
	skey, _, _ := kt.GetEncryptionKey(principal(testSPN), testRealm, 1, etypeID.AES256_CTS_HMAC_SHA1_96)
	a, _ := newTestAcceptor(t, kt, nil)
	f := defaultForge(kt)
	p := forgePAC(t, skey, chksumtype.HMAC_SHA1_96_AES256, "alice", "alice@example.test", "EXAMPLE.TEST", nil)
	f.authz = pacAuthz(p)
	res, err := a.Accept(f.token(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.PAC == nil || res.PAC.ClientName != "alice" || res.PAC.UPN != "alice@example.test" || res.PAC.DNSDomain != "EXAMPLE.TEST" || res.PAC.Logon != nil {
		t.Fatalf("PAC %+v", res.PAC)
	}

	// With a Windows LOGON_INFO.
	h, _ := os.ReadFile("testdata/logon-info-ms.hex")
	li, _ := hex.DecodeString(strings.TrimSpace(string(h)))
	fl := defaultForge(kt)
	fl.authz = pacAuthz(forgePAC(t, skey, chksumtype.HMAC_SHA1_96_AES256, "lzhu", "lzhu@ntdev", "NTDEV", li))
	res, err = a.Accept(fl.token(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.PAC.Logon == nil || res.PAC.Logon.EffectiveName != "lzhu" || len(res.PAC.Logon.GroupSIDs) != 39 {
		t.Fatalf("LOGON_INFO %+v", res.PAC.Logon)
	}
	// A LOGON_INFO that does not decode fails the PAC.
	fl2 := defaultForge(kt)
	fl2.authz = pacAuthz(forgePAC(t, skey, chksumtype.HMAC_SHA1_96_AES256, "lzhu", "u", "d", li[:100]))
	if _, err := a.Accept(fl2.token(t), nil); !errors.Is(err, ErrBadPAC) {
		t.Fatalf("bad LOGON_INFO: %v", err)
	}

	// Tampered: one byte of the client name changed.
	bad := bytes.Clone(p)
	i := bytes.Index(bad, []byte{'a', 0, 'l', 0})
	bad[i] = 'm'
	f2 := defaultForge(kt)
	f2.authz = pacAuthz(bad)
	if _, err := a.Accept(f2.token(t), nil); !errors.Is(err, ErrBadPAC) {
		t.Fatalf("tampered PAC: %v", err)
	}
	// Signed with another key.
	other, _ := types.GenerateEncryptionKey(crypto.Aes256CtsHmacSha96{})
	f3 := defaultForge(kt)
	f3.authz = pacAuthz(forgePAC(t, other, chksumtype.HMAC_SHA1_96_AES256, "alice", "u", "d", nil))
	if _, err := a.Accept(f3.token(t), nil); !errors.Is(err, ErrBadPAC) {
		t.Fatalf("PAC with a foreign signature: %v", err)
	}
	// Signature type of another etype than the ticket key.
	f4 := defaultForge(kt)
	k128, _ := newRandomKey(etypeID.AES128_CTS_HMAC_SHA1_96)
	f4.authz = pacAuthz(forgePAC(t, k128, chksumtype.HMAC_SHA1_96_AES128, "alice", "u", "d", nil))
	if _, err := a.Accept(f4.token(t), nil); !errors.Is(err, ErrBadPAC) {
		t.Fatalf("PAC signature etype mismatch: %v", err)
	}
	// Truncated PAC.
	f5 := defaultForge(kt)
	f5.authz = pacAuthz(p[:40])
	if _, err := a.Accept(f5.token(t), nil); !errors.Is(err, ErrBadPAC) {
		t.Fatalf("truncated PAC: %v", err)
	}
}

func TestMalformed(t *testing.T) {
	kt := stdKeytab(t)
	a, _ := newTestAcceptor(t, kt, nil)
	f := defaultForge(kt)
	tok := f.token(t)
	for i := 0; i < len(tok); i++ {
		if _, err := a.Accept(tok[:i], nil); !errors.Is(err, ErrMalformed) {
			t.Fatalf("prefix %d/%d: %v", i, len(tok), err)
		}
	}
	if _, err := a.Accept(append(bytes.Clone(tok), 0), nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("trailing byte: %v", err)
	}
	if _, err := a.Accept(make([]byte, MaxTokenSize+1), nil); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized: %v", err)
	}
	// A KRB-ERROR token id, a non-Kerberos OID.
	bad := bytes.Clone(tok)
	bad[bytes.Index(bad, []byte{1, 0, 0x6e})] = 3
	if _, err := a.Accept(bad, nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("TOK_ID 0x0300: %v", err)
	}
	// Flipping a ciphertext byte is an integrity failure, not malformed.
	flip := bytes.Clone(tok)
	flip[len(flip)-3] ^= 1
	if _, err := a.Accept(flip, nil); !errors.Is(err, ErrBadIntegrity) {
		t.Fatalf("flipped authenticator: %v", err)
	}
	// Round trip of the parser.
	f.bare = true
	der := f.token(t)
	req, err := ParseAPReq(der)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := req.Marshal()
	if !bytes.Equal(again, der) {
		t.Fatal("AP-REQ re-encoding differs")
	}
}

// TestCapturedMIT replays what curl 7.88.1 (MIT krb5 1.20 GSS-API) sent
// to a listener, with the keytab of the realm scripts/kdc-up.sh made at
// the time, and the clock set to the capture time.
func TestCapturedMIT(t *testing.T) {
	kt, err := keytab.Load("testdata/mit-http.keytab")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		file  string
		deleg bool
	}{{"testdata/curl-mutual.b64", false}, {"testdata/curl-delegation.b64", true}} {
		t.Run(c.file, func(t *testing.T) {
			tok := readSPNEGOMechToken(t, c.file)
			a, err := NewAcceptor(Config{Keytab: kt, Now: func() time.Time { return time.Unix(capturedAt, 0) }})
			if err != nil {
				t.Fatal(err)
			}
			res, err := a.Accept(tok, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.ClientName() != "alice@EXAMPLE.TEST" || res.ServiceName() != "HTTP/localhost@EXAMPLE.TEST" || !res.Mutual {
				t.Errorf("%s %s mutual=%v", res.ClientName(), res.ServiceName(), res.Mutual)
			}
			if (res.Delegated != nil) != c.deleg || (res.Flags&GSSDeleg != 0) != c.deleg {
				t.Errorf("delegation %v flags %#x", res.Delegated != nil, res.Flags)
			}
			if c.deleg && res.Delegated[0] != 0x76 { // [APPLICATION 22] KRB-CRED
				t.Errorf("delegated bytes are not a KRB-CRED: % x", res.Delegated[:4])
			}
			if c.deleg { // MIT forwards a TGT marked forwarded, in the session key
				if d := res.DelegatedCreds; len(d) != 1 || !d[0].Forwarded() || d[0].SName.PrincipalNameString() != "krbtgt/EXAMPLE.TEST" ||
					d[0].PName.PrincipalNameString() != "alice" || d[0].Ticket.Realm != "EXAMPLE.TEST" {
					t.Errorf("delegated credentials from MIT: %+v", d)
				}
			}
			if res.PAC == nil || res.PAC.ClientName == "" || res.PAC.Logon != nil {
				t.Errorf("MIT PAC: %+v", res.PAC)
			}
			t.Logf("flags %#x, PAC %+v, AP-REP %d bytes", res.Flags, res.PAC, len(res.ResponseToken))
			if _, err := a.Accept(tok, nil); !errors.Is(err, ErrReplay) {
				t.Fatalf("replay: %v", err)
			}
		})
	}
}

// capturedAt is when the testdata tokens were captured (Unix seconds).
const capturedAt = 1795414829

// readSPNEGOMechToken pulls the mechToken out of a base64 SPNEGO
// NegTokenInit without importing package spnego (fixed DER layout).
func readSPNEGOMechToken(t testing.TB, file string) []byte {
	t.Helper()
	b64, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b64)))
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02, 0x01, 0x00})
	if i < 4 {
		t.Fatal("no krb5 token in", file)
	}
	// The krb5 token starts with 0x60 and its length, just before the OID.
	for j := i - 1; j >= 0 && j >= i-4; j-- {
		if b[j] == 0x60 {
			return b[j:]
		}
	}
	t.Fatal("no krb5 token header in", file)
	return nil
}

// BenchmarkAccept: one full acceptance (ticket + authenticator decryption,
// checksum, replay cache, AP-REP) per op, tokens built beforehand. All
// tokens of a run share one ticket, as the tokens of one client do (a
// ticket is reused for every new connection until it expires, and the
// acceptor decrypts it once: see ticketCache), except in "new-ticket",
// where every token brings a ticket never seen; "+PAC" adds
// an MIT-style PAC (client info, UPN, signatures) whose server signature is
// verified with the service key. cpu-ns/op is the process's CPU time per
// op (on a shared machine wall time measures the neighbours too):
//
//	go test -run '^$' -bench Accept -benchtime 1s ./krb
func BenchmarkAccept(b *testing.B) {
	kt := stdKeytab(b)
	for _, c := range []struct {
		name  string
		etype int32
		pac   bool
	}{
		{"aes256-sha1", etypeID.AES256_CTS_HMAC_SHA1_96, false},
		{"aes256-sha384", etypeID.AES256_CTS_HMAC_SHA384_192, false},
		{"aes256-sha1+PAC", etypeID.AES256_CTS_HMAC_SHA1_96, true},
		{"aes256-sha384+PAC", etypeID.AES256_CTS_HMAC_SHA384_192, true},
		{"aes256-sha1+PAC/new-ticket", etypeID.AES256_CTS_HMAC_SHA1_96, true},
	} {
		// one acceptor for every round of the sub-benchmark: its replay
		// cache (allocated on first use) and derived-key cache warm, as a
		// server's are
		a, _ := newTestAcceptor(b, kt, func(c *Config) { c.ReplayCache = NewReplayCache(1 << 22) })
		b.Run(c.name, func(b *testing.B) {
			f := defaultForge(kt)
			f.etype, f.sessionEtype = c.etype, c.etype
			if c.pac {
				skey, _, err := kt.GetEncryptionKey(principal(testSPN), testRealm, 1, c.etype)
				if err != nil {
					b.Fatal(err)
				}
				ctype := int32(chksumtype.HMAC_SHA1_96_AES256)
				if c.etype == etypeID.AES256_CTS_HMAC_SHA384_192 {
					ctype = chksumtype.HMAC_SHA384_192_AES256
				}
				f.authz = pacAuthz(forgePAC(b, skey, ctype, "alice", "alice@example.test", "EXAMPLE.TEST", nil))
			}
			toks := make([][]byte, b.N)
			for i := range toks {
				if strings.HasSuffix(c.name, "/new-ticket") {
					f.ticket = nil // a ticket the acceptor has not seen: decrypted, parsed, PAC verified
				}
				toks[i] = f.token(b)
			}
			b.ReportAllocs()
			b.ResetTimer()
			defer testenv.ReportCPU(b)()
			for i := 0; i < b.N; i++ {
				if _, err := a.Accept(toks[i], nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package ntlm

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"testing"
	"time"
)

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// MS-NLMP §4.2.4: NTLMv2 authentication, the values that apply.
func TestSpecVectorsNTLMv2(t *testing.T) {
	hash := NTHash("Password")
	if !bytes.Equal(hash, unhex("a4f49c406510bdcab6824ee7c30fd852")) { // §4.2.2.1.2
		t.Fatalf("NTOWFv1 %x", hash)
	}
	key := NTOWFv2(hash, "User", "Domain")
	if !bytes.Equal(key, unhex("0c868a403bfd7a93a3001ef22ef02e3f")) { // §4.2.4.1.1
		t.Fatalf("NTOWFv2 %x", key)
	}
	var sc, cc [8]byte
	copy(sc[:], unhex("0123456789abcdef"))
	copy(cc[:], unhex("aaaaaaaaaaaaaaaa"))
	if lm := lmv2(key, sc, cc); !bytes.Equal(lm, unhex("86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa")) { // §4.2.4.2.1
		t.Fatalf("LMv2 %x", lm)
	}
	// §4.2.4: target info of the CHALLENGE: MsvAvNbDomainName "Domain", MsvAvNbComputerName "Server".
	ti := AVPairs{{ID: AvNbDomainName, Value: utf16le("Domain")}, {ID: AvNbComputerName, Value: utf16le("Server")}}.Marshal()
	if !bytes.Equal(ti, unhex("02000c0044006f006d00610069006e0001000c005300650072007600650072000000000000")[:len(ti)]) {
		t.Fatalf("target info %x", ti)
	}
	blob := ntlmv2Blob(0, cc, ti)
	proof := ntProof(key, sc, blob)
	if !bytes.Equal(proof, unhex("68cd0ab851e51c96aabc927bebef6a1c")) { // §4.2.4.2.2
		t.Fatalf("NTProofStr %x", proof)
	}
	sbk := sessionBaseKey(key, proof)
	if !bytes.Equal(sbk, unhex("8de40ccadbc14a82f15cb0ad0de95ca3")) { // §4.2.4.1.2
		t.Fatalf("SessionBaseKey %x", sbk)
	}
	enc := rc4Once(sbk, bytes.Repeat([]byte{0x55}, 16))
	if !bytes.Equal(enc, unhex("c5dad2544fc9799094ce1ce90bc9d03e")) { // §4.2.4.2.3
		t.Fatalf("EncryptedSessionKey %x", enc)
	}
}

type fixedRand byte

func (f fixedRand) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = byte(f)
	}
	return len(b), nil
}

func lookup(users map[string]string) func(string, string) ([]byte, error) {
	return func(u, d string) ([]byte, error) {
		pw, ok := users[u]
		if !ok {
			return nil, ErrUnknownUser
		}
		return NTHash(pw), nil
	}
}

func handshake(t *testing.T, cc ClientConfig, tamper func(auth []byte), srvNow func() time.Time) (*Result, error) {
	t.Helper()
	srv := NewServer(ServerConfig{NetBIOSComputer: "SERVER", NetBIOSDomain: "WORKGROUP", DNSComputer: "server.test",
		Lookup: lookup(map[string]string{"alice": "alicepw"}), Now: srvNow})
	cl := NewClient(cc)
	neg, err := cl.Negotiate()
	if err != nil {
		t.Fatal(err)
	}
	ch, err := srv.Challenge(neg)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := cl.Authenticate(ch)
	if err != nil {
		t.Fatal(err)
	}
	if tamper != nil {
		tamper(auth)
	}
	return srv.Authenticate(auth)
}

func TestHandshake(t *testing.T) {
	cb := [16]byte{1, 2, 3}
	res, err := handshake(t, ClientConfig{User: "alice", Domain: "WORKGROUP", Password: "alicepw", Workstation: "WS",
		TargetName: "HTTP/localhost", ChannelBindings: &cb}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.User != "alice" || res.Domain != "WORKGROUP" || res.TargetName != "HTTP/localhost" || !res.HasTargetName ||
		res.ChannelBindings != cb || !res.HasChannelBindings || res.AVFlags&AvFlagMICPresent == 0 {
		t.Fatalf("%+v", res)
	}
	// no bindings: all-zero pair, reported absent
	res, err = handshake(t, ClientConfig{User: "alice", Password: "alicepw"}, nil, nil)
	if err != nil || res.HasChannelBindings || res.HasTargetName {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestHandshakeFailures(t *testing.T) {
	good := ClientConfig{User: "alice", Domain: "W", Password: "alicepw", TargetName: "HTTP/x"}
	cases := map[string]struct {
		cc     ClientConfig
		tamper func([]byte)
		now    func() time.Time
	}{
		"wrong password": {cc: ClientConfig{User: "alice", Password: "nope"}},
		"unknown user":   {cc: ClientConfig{User: "mallory", Password: "alicepw"}},
		"tampered MIC":   {cc: good, tamper: func(b []byte) { b[micOffset] ^= 1 }},
		"tampered proof": {cc: good, tamper: func(b []byte) {
			a, _ := ParseAuthenticate(b)
			i := bytes.Index(b, a.NtResponse)
			b[i] ^= 1
		}},
		"tampered flags": {cc: good, tamper: func(b []byte) { b[60] ^= 0x10 }}, // caught by the MIC
		"stale": {cc: good, now: func() func() time.Time {
			calls := 0 // the CHALLENGE is made now, the AUTHENTICATE checked an hour later
			return func() time.Time { calls++; return time.Now().Add(time.Duration(calls-1) * time.Hour) }
		}()},
	}
	for name, c := range cases {
		_, err := handshake(t, c.cc, c.tamper, c.now)
		if !errors.Is(err, ErrAuthFailed) {
			t.Errorf("%s: %v, want ErrAuthFailed", name, err)
		}
	}
}

func TestReplayToAnotherChallengeFails(t *testing.T) {
	srv := NewServer(ServerConfig{NetBIOSComputer: "S", NetBIOSDomain: "W", Lookup: lookup(map[string]string{"alice": "alicepw"})})
	cl := NewClient(ClientConfig{User: "alice", Password: "alicepw"})
	neg, _ := cl.Negotiate()
	ch, _ := srv.Challenge(neg)
	auth, _ := cl.Authenticate(ch)
	if _, err := srv.Authenticate(auth); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Authenticate(auth); err == nil {
		t.Fatal("second AUTHENTICATE on a used handshake accepted")
	}
	srv2 := NewServer(ServerConfig{NetBIOSComputer: "S", NetBIOSDomain: "W", Lookup: lookup(map[string]string{"alice": "alicepw"})})
	srv2.Challenge(neg)
	if _, err := srv2.Authenticate(auth); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("replay to a new challenge: %v", err)
	}
}

func TestRefusals(t *testing.T) {
	srv := NewServer(ServerConfig{NetBIOSComputer: "S", NetBIOSDomain: "W", Lookup: lookup(nil)})
	neg, _ := (&NegotiateMessage{Flags: clientFlags}).Marshal()
	srv.Challenge(neg)
	// NTLMv1: a 24-byte NT response
	v1, _ := (&AuthenticateMessage{User: "alice", LmResponse: make([]byte, 24), NtResponse: make([]byte, 24), Flags: FlagUnicode}).Marshal()
	if _, err := srv.Authenticate(v1); !errors.Is(err, ErrAuthFailed) {
		t.Errorf("NTLMv1: %v", err)
	}
	srv = NewServer(ServerConfig{NetBIOSComputer: "S", NetBIOSDomain: "W", Lookup: lookup(nil)})
	srv.Challenge(neg)
	anon, _ := (&AuthenticateMessage{LmResponse: []byte{0}, Flags: FlagUnicode | FlagAnonymous}).Marshal()
	if _, err := srv.Authenticate(anon); !errors.Is(err, ErrAuthFailed) {
		t.Errorf("anonymous: %v", err)
	}
}

func TestSessionMACRoundTrip(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 16)
	for _, flags := range []uint32{Flag128 | FlagKeyExch, Flag128} {
		c, s := newSession(key, flags, true), newSession(key, flags, false)
		for i := 0; i < 3; i++ {
			if !s.Verify([]byte("mechlist"), c.Sign([]byte("mechlist"))) || !c.Verify([]byte("x"), s.Sign([]byte("x"))) {
				t.Fatal("MAC mismatch")
			}
		}
		if s.Verify([]byte("other"), c.Sign([]byte("mechlist"))) {
			t.Fatal("MAC of another message accepted")
		}
	}
}

func validMessages(t testing.TB) (neg, ch, auth []byte) {
	srv := NewServer(ServerConfig{NetBIOSComputer: "S", NetBIOSDomain: "W", Lookup: lookup(map[string]string{"alice": "pw"}), Rand: fixedRand(1)})
	cl := NewClient(ClientConfig{User: "alice", Domain: "W", Password: "pw", TargetName: "HTTP/h", Rand: fixedRand(2)})
	neg, _ = cl.Negotiate()
	ch, _ = srv.Challenge(neg)
	auth, _ = cl.Authenticate(ch)
	return
}

func TestRoundTripAndPrefixes(t *testing.T) {
	neg, ch, auth := validMessages(t)
	n, err := ParseNegotiate(neg)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := n.Marshal(); !bytes.Equal(b, neg) {
		t.Error("NEGOTIATE round trip")
	}
	c, err := ParseChallenge(ch)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := c.Marshal(); !bytes.Equal(b, ch) {
		t.Error("CHALLENGE round trip")
	}
	a, err := ParseAuthenticate(auth)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := a.Marshal(); !bytes.Equal(b, auth) {
		t.Error("AUTHENTICATE round trip")
	}
	for name, m := range map[string][]byte{"negotiate": neg, "challenge": ch, "authenticate": auth} {
		parse := map[string]func([]byte) error{
			"negotiate":    func(b []byte) error { _, err := ParseNegotiate(b); return err },
			"challenge":    func(b []byte) error { _, err := ParseChallenge(b); return err },
			"authenticate": func(b []byte) error { _, err := ParseAuthenticate(b); return err },
		}[name]
		for i := 0; i < len(m); i++ {
			if err := parse(m[:i]); err == nil && !(name == "negotiate" && i >= 32) {
				t.Errorf("%s: prefix of %d bytes parsed", name, i)
			}
		}
	}
}

func TestOffsetOverflow(t *testing.T) {
	_, _, auth := validMessages(t)
	b := append([]byte(nil), auth...)
	// user name field: offset near 2^32 so that offset+length overflows 32 bits
	b[36+4], b[36+5], b[36+6], b[36+7] = 0xff, 0xff, 0xff, 0xff
	if _, err := ParseAuthenticate(b); !errors.Is(err, ErrMalformed) {
		t.Fatalf("overflowing offset: %v", err)
	}
	b = append([]byte(nil), auth...)
	b[36], b[37] = 0xff, 0xff // length beyond the message
	if _, err := ParseAuthenticate(b); !errors.Is(err, ErrMalformed) {
		t.Fatalf("overlong field: %v", err)
	}
}

func FuzzParseNegotiate(f *testing.F) {
	neg, _, _ := validMessages(f)
	f.Add(neg)
	f.Fuzz(func(t *testing.T, b []byte) { ParseNegotiate(b) })
}

func FuzzParseChallenge(f *testing.F) {
	_, ch, _ := validMessages(f)
	f.Add(ch)
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseChallenge(b)
		if err == nil {
			if _, err := c.Marshal(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func FuzzParseAuthenticate(f *testing.F) {
	neg, ch, auth := validMessages(f)
	f.Add(auth)
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseAuthenticate(b)
		srv := NewServer(ServerConfig{NetBIOSComputer: "S", NetBIOSDomain: "W", Lookup: lookup(map[string]string{"alice": "pw"}), Rand: fixedRand(1)})
		srv.Challenge(neg)
		_ = ch
		srv.Authenticate(b)
	})
}

func FuzzParseAVPairs(f *testing.F) {
	f.Add(AVPairs{{ID: AvNbDomainName, Value: utf16le("D")}, {ID: AvFlags, Value: []byte{2, 0, 0, 0}}}.Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseAVPairs(b)
		if err == nil {
			q, err := ParseAVPairs(p.Marshal())
			if err != nil || len(q) != len(p) {
				t.Fatal("AV pairs round trip")
			}
		}
	})
}

// TestVerifyHook: a pass-through verifier (as winbind's ntlm_auth is)
// gets the challenge and response and returns the session base key.
func TestVerifyHook(t *testing.T) {
	hash := NTHash("alicepw")
	verify := func(user, domain string, ch [8]byte, nt, lm []byte) ([]byte, error) {
		key := NTOWFv2(hash, user, domain)
		if !bytes.Equal(ntProof(key, ch, nt[16:]), nt[:16]) {
			return nil, ErrAuthFailed
		}
		return sessionBaseKey(key, nt[:16]), nil
	}
	for _, pw := range []string{"alicepw", "bad"} {
		srv := NewServer(ServerConfig{NetBIOSComputer: "S", NetBIOSDomain: "W", Verify: verify})
		cl := NewClient(ClientConfig{User: "alice", Domain: "W", Password: pw})
		neg, _ := cl.Negotiate()
		ch, _ := srv.Challenge(neg)
		auth, _ := cl.Authenticate(ch)
		_, err := srv.Authenticate(auth)
		if (err == nil) != (pw == "alicepw") {
			t.Errorf("%s: %v", pw, err)
		}
	}
}

// TestHMACMD5: the pooled HMAC-MD5 is crypto/hmac's, for keys shorter
// than, as long as and longer than the MD5 block, data in parts.
func TestHMACMD5(t *testing.T) {
	for _, kl := range []int{0, 16, 63, 64, 65, 200} {
		key := bytes.Repeat([]byte{byte(kl)}, kl)
		for _, parts := range [][][]byte{nil, {[]byte("a")}, {[]byte("user"), nil, bytes.Repeat([]byte("x"), 300)}} {
			m := hmac.New(md5.New, key)
			for _, p := range parts {
				m.Write(p)
			}
			if got, want := hmacMD5(key, parts...), m.Sum(nil); !bytes.Equal(got, want) {
				t.Fatalf("key of %d, %d parts: %x, want %x", kl, len(parts), got, want)
			}
		}
	}
}

package krb

import (
	"bytes"
	"testing"
	"time"
)

func FuzzParseAPReq(f *testing.F) {
	kt := stdKeytab(f)
	fg := defaultForge(kt)
	fg.bare = true
	f.Add(fg.token(f))
	fg.authz = pacAuthz([]byte("not a pac"))
	fg.ticket = nil
	f.Add(fg.token(f))
	f.Add(readSPNEGOMechToken(f, "testdata/curl-mutual.b64")[17:])
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := ParseAPReq(b)
		if err != nil {
			return
		}
		out, err := req.Marshal()
		if err != nil {
			t.Fatalf("accepted AP-REQ does not re-encode: %v", err)
		}
		if !bytes.Equal(out, b) {
			// DER is canonical except for KerberosFlags length and
			// optional kvno 0; the re-encoding must parse the same.
			again, err := ParseAPReq(out)
			if err != nil || again.Options != req.Options || again.Ticket.Realm != req.Ticket.Realm {
				t.Fatalf("re-encoding differs: %v", err)
			}
		}
	})
}

// FuzzAccept feeds mutated tokens to a full acceptor whose keytab can
// decrypt the seeds, so the fuzzer reaches past the outer parse when it
// keeps the ciphertexts intact (and the PAC/checksum code via the seeds).
func FuzzAccept(f *testing.F) {
	kt := stdKeytab(f)
	fg := defaultForge(kt)
	f.Add(fg.token(f))
	skey, _, _ := kt.GetEncryptionKey(principal(testSPN), testRealm, 1, fg.etype)
	fg2 := defaultForge(kt)
	fg2.authz = pacAuthz(forgePAC(f, skey, 16, "alice", "alice@x", "X", nil))
	fg2.cksum = &GSSChecksum{Flags: GSSDeleg | GSSMutual, Delegation: []byte("cred"), Exts: []byte{1, 2}}
	f.Add(fg2.token(f))
	fg3 := defaultForge(kt)
	fg3.bare, fg3.cksum = true, nil
	f.Add(fg3.token(f))
	a, err := NewAcceptor(Config{Keytab: kt, Now: func() time.Time { return t0 }, ReplayCache: NewReplayCache(1 << 12)})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := a.Accept(b, TLSServerEndPoint([]byte("x")))
		if (res == nil) == (err == nil) {
			t.Fatalf("result %v and error %v", res, err)
		}
	})
}

// FuzzVerifyAPRep: what a server sends back for mutual authentication
// (attacker-controlled to a client): framing, AP-REP, decryption and
// EncAPRepPart, against the state of a real AP-REQ.
func FuzzVerifyAPRep(f *testing.F) {
	fg, a := liveForge(f, 18)
	var in Initiator
	der, st, err := in.APReq(&APReqParams{Ticket: *fg.ticket, SessionKey: fg.sessionKey, CRealm: testRealm,
		CName: principal("alice"), Checksum: &GSSChecksum{Flags: GSSMutual}, Mutual: true})
	if err != nil {
		f.Fatal(err)
	}
	tok, _ := WrapAPReq(der)
	res, err := a.Accept(tok, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(res.ResponseToken)
	f.Add(res.APRep)
	f.Fuzz(func(t *testing.T, b []byte) {
		if d, err := UnwrapAPRep(b); err == nil {
			b = d
		}
		st.VerifyAPRep(b)
	})
}

package krb

import (
	"bytes"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// liveForge is a forge whose ticket is valid now, and an acceptor whose
// clock is now, for the Initiator (which uses the real clock).
func liveForge(t testing.TB, etype int32) (*forge, *Acceptor) {
	kt := stdKeytab(t)
	a, now := newTestAcceptor(t, kt, nil)
	*now = time.Now()
	f := defaultForge(kt)
	f.etype, f.sessionEtype = etype, etype
	f.authTime, f.end = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	f.makeTicket(t)
	return f, a
}

func TestInitiatorAgainstAcceptor(t *testing.T) {
	for _, etype := range []int32{etypeID.AES128_CTS_HMAC_SHA1_96, etypeID.AES256_CTS_HMAC_SHA1_96,
		etypeID.AES128_CTS_HMAC_SHA256_128, etypeID.AES256_CTS_HMAC_SHA384_192} {
		f, a := liveForge(t, etype)
		var in Initiator
		cb := TLSServerEndPoint(bytes.Repeat([]byte{7}, 32))
		cred := Credential{
			Ticket: *f.ticket, Key: f.sessionKey, PRealm: testRealm, PName: principal("alice"),
			Flags:    KerberosFlags(1<<(31-TicketFlagForwardable) | 1<<(31-TicketFlagForwarded)),
			AuthTime: f.authTime, EndTime: f.end, SRealm: testRealm, SName: principal("krbtgt/" + testRealm),
		}
		deleg, err := in.KRBCred([]Credential{cred}, f.sessionKey)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ { // a fresh authenticator each time: no replay
			der, st, err := in.APReq(&APReqParams{
				Ticket: *f.ticket, SessionKey: f.sessionKey, CRealm: testRealm, CName: principal("alice"),
				Checksum: &GSSChecksum{Bindings: cb.Hash(), Flags: GSSMutual | GSSInteg | GSSDeleg, Delegation: deleg},
				Mutual:   true,
			})
			if err != nil {
				t.Fatal(err)
			}
			tok, _ := WrapAPReq(der)
			res, err := a.Accept(tok, cb)
			if err != nil {
				t.Fatalf("etype %d: acceptor refused our AP-REQ: %v", etype, err)
			}
			if res.ClientName() != "alice@"+testRealm || !res.HasBindings || res.ClientSeq != st.Seq || !res.Mutual {
				t.Fatalf("etype %d: %+v", etype, res)
			}
			creds, err := ParseKRBCred(res.Delegated, f.sessionKey)
			if err != nil || len(creds) != 1 || !creds[0].Forwarded() || creds[0].SName.PrincipalNameString() != "krbtgt/"+testRealm {
				t.Fatalf("etype %d: delegated credentials %+v %v", etype, creds, err)
			}
			if _, err := st.VerifyAPRep(res.APRep); err != nil {
				t.Fatalf("etype %d: our AP-REP does not verify: %v", etype, err)
			}
			// An AP-REP for another AP-REQ does not verify.
			_, other, _ := in.APReq(&APReqParams{Ticket: *f.ticket, SessionKey: f.sessionKey, CRealm: testRealm, CName: principal("alice")})
			if _, err := other.VerifyAPRep(res.APRep); err == nil {
				t.Fatal("AP-REP accepted for another authenticator")
			}
		}
	}
}

func TestAuthenticatorRoundTrip(t *testing.T) {
	sub := types.EncryptionKey{KeyType: 18, KeyValue: bytes.Repeat([]byte{1}, 32)}
	a := authenticator{
		CRealm: "EXAMPLE.TEST", CName: principal("alice"), HasCksum: true,
		Cksum: types.Checksum{CksumType: ChecksumTypeGSS, Checksum: []byte("0123456789012345678901234")},
		Cusec: 999999, CTime: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), SubKey: &sub,
		HasSeq: true, SeqNumber: 0xfffffffe,
		AuthzData: types.AuthorizationData{{ADType: 1, ADData: []byte{0x30, 0}}},
	}
	der, err := a.marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseAuthenticator(der, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.CRealm != a.CRealm || !got.CName.Equal(a.CName) || !got.HasCksum || !bytes.Equal(got.Cksum.Checksum, a.Cksum.Checksum) ||
		got.Cusec != a.Cusec || !got.CTime.Equal(a.CTime) || got.SubKey == nil || !bytes.Equal(got.SubKey.KeyValue, sub.KeyValue) ||
		!got.HasSeq || got.SeqNumber != a.SeqNumber || len(got.AuthzData) != 1 {
		t.Fatalf("round trip: %+v", got)
	}
	// gokrb5's own decoder agrees.
	var g types.Authenticator
	if err := g.Unmarshal(der); err != nil || g.CRealm != a.CRealm || g.Cusec != a.Cusec || g.SeqNumber != int64(a.SeqNumber) {
		t.Fatalf("gokrb5 reads %+v %v", g, err)
	}
}

func TestKRBCred(t *testing.T) {
	f, _ := liveForge(t, etypeID.AES256_CTS_HMAC_SHA384_192)
	var in Initiator
	now := time.Now().UTC().Truncate(time.Second)
	want := Credential{
		Ticket: *f.ticket, Key: f.sessionKey, PRealm: testRealm, PName: principal("alice"),
		Flags:    KerberosFlags(1<<(31-TicketFlagForwardable) | 1<<(31-TicketFlagForwarded)),
		AuthTime: now.Add(-time.Hour), StartTime: now, EndTime: now.Add(time.Hour), RenewTill: now.Add(2 * time.Hour),
		SRealm: testRealm, SName: principal("krbtgt/" + testRealm),
	}
	key := types.EncryptionKey{KeyType: etypeID.AES256_CTS_HMAC_SHA1_96, KeyValue: bytes.Repeat([]byte{9}, 32)}
	der, err := in.KRBCred([]Credential{want}, key)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseKRBCred(der, key)
	if err != nil || len(got) != 1 {
		t.Fatalf("%v %v", got, err)
	}
	g := got[0]
	if g.PRealm != want.PRealm || !g.PName.Equal(want.PName) || g.Flags != want.Flags || !g.AuthTime.Equal(want.AuthTime) ||
		!g.StartTime.Equal(want.StartTime) || !g.EndTime.Equal(want.EndTime) || !g.RenewTill.Equal(want.RenewTill) ||
		g.SRealm != want.SRealm || !g.SName.Equal(want.SName) || !bytes.Equal(g.Key.KeyValue, want.Key.KeyValue) ||
		g.Ticket.Realm != want.Ticket.Realm || !bytes.Equal(g.Ticket.EncPart.Cipher, want.Ticket.EncPart.Cipher) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", g, want)
	}
	// gokrb5's independent decoder reads ours.
	var kc messages.KRBCred
	if err := kc.Unmarshal(der); err != nil {
		t.Fatalf("gokrb5 cannot parse our KRB-CRED: %v", err)
	}
	if err := kc.DecryptEncPart(key); err != nil {
		t.Fatalf("gokrb5 cannot decrypt our KRB-CRED: %v", err)
	}
	if info := kc.DecryptedEncPart.TicketInfo; len(info) != 1 || info[0].PName.PrincipalNameString() != "alice" || !info[0].EndTime.Equal(want.EndTime) {
		t.Fatalf("gokrb5 reads %+v", kc.DecryptedEncPart)
	}
	// Wrong key, tampering, truncation: refused.
	bad := key
	bad.KeyValue = bytes.Repeat([]byte{8}, 32)
	if _, err := ParseKRBCred(der, bad); err == nil {
		t.Fatal("wrong key accepted")
	}
	for i := 0; i < len(der); i += 7 {
		if _, err := ParseKRBCred(der[:i], key); err == nil {
			t.Fatalf("truncated at %d accepted", i)
		}
	}
	if _, err := in.KRBCred(nil, key); err == nil {
		t.Fatal("empty KRB-CRED built")
	}
}

func FuzzParseKRBCred(f *testing.F) {
	kt := stdKeytab(f)
	fg := defaultForge(kt)
	fg.makeTicket(f)
	key := types.EncryptionKey{KeyType: etypeID.AES256_CTS_HMAC_SHA1_96, KeyValue: make([]byte, 32)}
	var in Initiator
	der, err := in.KRBCred([]Credential{{Ticket: *fg.ticket, Key: fg.sessionKey}}, key)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(der)
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseKRBCred(b, key)
	})
}

// BenchmarkInitiatorAPReq: one AP-REQ with a GSS checksum (channel
// bindings), as the client builds per request; compare
// client.BenchmarkNegotiateToken (gokrb5's builder).
func BenchmarkInitiatorAPReq(b *testing.B) {
	f, _ := liveForge(b, etypeID.AES256_CTS_HMAC_SHA1_96)
	var in Initiator
	cb := TLSServerEndPoint(bytes.Repeat([]byte{7}, 32)).Hash()
	p := &APReqParams{Ticket: *f.ticket, SessionKey: f.sessionKey, CRealm: testRealm, CName: principal("alice"),
		Checksum: &GSSChecksum{Bindings: cb, Flags: GSSMutual | GSSInteg}, Mutual: true}
	b.ReportAllocs()
	for b.Loop() {
		der, _, err := in.APReq(p)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := WrapAPReq(der); err != nil {
			b.Fatal(err)
		}
	}
}

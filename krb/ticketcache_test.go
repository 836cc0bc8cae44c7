package krb

import (
	"errors"
	"testing"

	"github.com/jcmturner/gokrb5/v8/iana/chksumtype"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
)

// TestTicketCache: a ticket accepted once is not decrypted again, but
// every per-request check still runs on it: its times against the clock,
// the authenticator's client, the replay cache; its ciphertext under
// another principal's name is not a hit (one cache per service key); its
// PAC comes back as verified.
func TestTicketCache(t *testing.T) {
	kt := stdKeytab(t)
	if err := kt.AddEntry("HTTP/other", testRealm, "another password", t0, 1, etypeID.AES256_CTS_HMAC_SHA1_96); err != nil {
		t.Fatal(err)
	}
	skey, _, _ := kt.GetEncryptionKey(principal(testSPN), testRealm, 1, etypeID.AES256_CTS_HMAC_SHA1_96)
	a, now := newTestAcceptor(t, kt, nil)
	f := defaultForge(kt)
	f.authz = pacAuthz(forgePAC(t, skey, chksumtype.HMAC_SHA1_96_AES256, "alice", "alice@example.test", "EXAMPLE.TEST", nil))
	tok := f.token(t)
	first, err := a.Accept(tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := a.keys[keyID{testSPN + "@" + testRealm, etypeID.AES256_CTS_HMAC_SHA1_96, 1}]
	if svc.tickets.get(f.ticket.EncPart.Cipher) == nil {
		t.Fatal("accepted ticket not cached")
	}
	again, err := a.Accept(f.token(t), nil)
	if err != nil || again.PAC != first.PAC || again.ClientName() != "alice@EXAMPLE.TEST" || again.PAC.UPN != "alice@example.test" {
		t.Fatalf("from the cache: %v %+v", err, again)
	}
	if _, err := a.Accept(tok, nil); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay of a cached ticket's token: %v", err)
	}

	// The same ciphertext presented for HTTP/other: decrypted with that
	// key, which fails.
	moved := *f.ticket
	moved.SName = principal("HTTP/other")
	fo := *f
	fo.ticket = &moved
	if _, err := a.Accept(fo.token(t), nil); !errors.Is(err, ErrBadIntegrity) {
		t.Fatalf("cached ticket under another principal: %v", err)
	}

	// Another client in the authenticator than in the cached ticket.
	fb := *f
	fb.authClient = "mallory"
	if _, err := a.Accept(fb.token(t), nil); !errors.Is(err, ErrBadMatch) {
		t.Fatalf("authenticator of another client: %v", err)
	}

	// The cached ticket after its end time (plus skew), with a fresh
	// authenticator made at that time: expired.
	*now = f.end.Add(DefaultClockSkew + 1e9)
	fe := *f
	fe.ctime = *now
	if _, err := a.Accept(fe.token(t), nil); !errors.Is(err, ErrTicketExpired) {
		t.Fatalf("expired cached ticket: %v", err)
	}
}

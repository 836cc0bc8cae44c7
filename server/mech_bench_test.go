package server

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
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

// BenchmarkGateNegotiate is one Kerberos request through the Gate: a
// fresh AP-REQ in SPNEGO (built in the loop, as a client would), accepted,
// the AP-REP wrapped, whoami answered.
//
//	go test -run '^$' -bench 'GateNegotiate|GateNTLM' -benchtime 1s ./server
func BenchmarkGateNegotiate(b *testing.B) {
	kt := keytab.New()
	now := time.Now()
	if err := kt.AddEntry("HTTP/localhost", "EXAMPLE.TEST", "svcpw", now, 2, etypeID.AES256_CTS_HMAC_SHA1_96); err != nil {
		b.Fatal(err)
	}
	acc, err := krb.NewAcceptor(krb.Config{Keytab: kt})
	if err != nil {
		b.Fatal(err)
	}
	g, err := New(Options{Kerberos: acc, Secret: make([]byte, 32), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
		[]Site{{Path: "/", Schemes: []string{"negotiate"}, Handler: WhoAmI()}})
	if err != nil {
		b.Fatal(err)
	}
	h := g.Wrap(nil)
	cname := types.NewPrincipalName(1, "alice")
	tkt, key, err := messages.NewTicket(cname, "EXAMPLE.TEST", types.NewPrincipalName(3, "HTTP/localhost"), "EXAMPLE.TEST",
		types.NewKrbFlags(), kt, etypeID.AES256_CTS_HMAC_SHA1_96, 2, now, now, now.Add(time.Hour), now.Add(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	var in krb.Initiator
	p := &krb.APReqParams{Ticket: krb.Ticket{Realm: tkt.Realm, SName: tkt.SName, EncPart: tkt.EncPart},
		SessionKey: key, CRealm: "EXAMPLE.TEST", CName: cname, Mutual: true,
		Checksum: &krb.GSSChecksum{Flags: krb.GSSMutual | krb.GSSInteg}}
	p.TicketDER, _ = krb.MarshalTicket(&p.Ticket)
	b.ReportAllocs()
	for b.Loop() {
		der, _, err := in.APReq(p)
		if err != nil {
			b.Fatal(err)
		}
		inner, _ := krb.WrapAPReq(der)
		tok, _ := (&spnego.NegTokenInit{MechTypes: []spnego.OID{spnego.OIDKerberos}, MechToken: inner}).Marshal()
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Negotiate "+base64.StdEncoding.EncodeToString(tok))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatalf("%d", w.Code)
		}
	}
}

// BenchmarkGateNTLM is one NTLM handshake (NEGOTIATE, CHALLENGE,
// AUTHENTICATE) on a kept-alive connection through a real http.Server.
func BenchmarkGateNTLM(b *testing.B) {
	g, err := New(Options{Store: testStore(b), Domain: "HOST", Secret: make([]byte, 32), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
		[]Site{{Path: "/", Schemes: []string{"ntlm"}, Handler: WhoAmI()}})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(g.Wrap(nil))
	srv.Config.ConnContext, srv.Config.ConnState = g.ConnContext, g.ConnState
	srv.Start()
	defer srv.Close()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	send := func(tok []byte) *http.Response {
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\nAuthorization: NTLM %s\r\n\r\n", base64.StdEncoding.EncodeToString(tok))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	b.ReportAllocs()
	for b.Loop() {
		cl := ntlm.NewClient(ntlm.ClientConfig{User: "alice", Password: "alicepw"})
		neg, _ := cl.Negotiate()
		r := send(neg)
		ch, _ := base64.StdEncoding.DecodeString(r.Header.Get("WWW-Authenticate")[5:])
		auth, err := cl.Authenticate(ch)
		if err != nil {
			b.Fatal(err)
		}
		if r := send(auth); r.StatusCode != 200 {
			b.Fatalf("%d", r.StatusCode)
		}
	}
}

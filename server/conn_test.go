package server

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/krb"
	"github.com/gatehouse-auth/gatehouse/ntlm"
	"github.com/gatehouse-auth/gatehouse/spnego"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/keytab"
)

// TestHalfFinishedHandshakesBounded opens many connections that send an
// NTLM NEGOTIATE and never answer the CHALLENGE: the count of pending
// handshakes stops at the cap (further ones get 503), heap stays small,
// and everything is released when the connections close.
func TestHalfFinishedHandshakesBounded(t *testing.T) {
	g := testGate(t, []Site{{Path: "/", Schemes: []string{"ntlm"}, Handler: WhoAmI()}})
	const limit, conns = 50, 200
	g.conns.max = limit
	srv := httptest.NewUnstartedServer(g.Wrap(nil))
	srv.Config.ConnContext, srv.Config.ConnState = g.ConnContext, g.ConnState
	srv.Start()
	defer srv.Close()
	neg, _ := ntlm.NewClient(ntlm.ClientConfig{User: "x", Password: "y"}).Negotiate()
	req := fmt.Sprintf("GET / HTTP/1.1\r\nHost: x\r\nAuthorization: NTLM %s\r\n\r\n", base64.StdEncoding.EncodeToString(neg))
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var open []net.Conn
	codes := map[int]int{}
	for i := 0; i < conns; i++ {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, c)
		c.Write([]byte(req))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes[resp.StatusCode]++
	}
	if got := g.Pending(); got != limit {
		t.Fatalf("pending %d, want the cap %d", got, limit)
	}
	if codes[401] != limit || codes[503] != conns-limit {
		t.Fatalf("statuses %v", codes)
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grow := int64(after.HeapAlloc) - int64(before.HeapAlloc); grow > 8<<20 {
		t.Errorf("heap grew %d bytes for %d half-finished handshakes", grow, conns)
	}
	for _, c := range open {
		c.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for g.Pending() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if g.Pending() != 0 {
		t.Fatalf("pending %d after every connection closed", g.Pending())
	}
}

// TestNTLMAuthenticateReplay: an AUTHENTICATE replayed on another
// connection (which has no handshake, or another challenge) is refused.
func TestNTLMAuthenticateReplay(t *testing.T) {
	g := testGate(t, []Site{{Path: "/", Schemes: []string{"ntlm"}, Handler: WhoAmI()}})
	srv := httptest.NewUnstartedServer(g.Wrap(nil))
	srv.Config.ConnContext, srv.Config.ConnState = g.ConnContext, g.ConnState
	srv.Start()
	defer srv.Close()
	send := func(c net.Conn, br *bufio.Reader, tok []byte) *http.Response {
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\nAuthorization: NTLM %s\r\n\r\n", base64.StdEncoding.EncodeToString(tok))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	c1, _ := net.Dial("tcp", srv.Listener.Addr().String())
	defer c1.Close()
	br1 := bufio.NewReader(c1)
	cl := ntlm.NewClient(ntlm.ClientConfig{User: "alice", Password: "alicepw"})
	neg, _ := cl.Negotiate()
	r := send(c1, br1, neg)
	ch, _ := base64.StdEncoding.DecodeString(r.Header.Get("WWW-Authenticate")[5:])
	auth, _ := cl.Authenticate(ch)
	if r := send(c1, br1, auth); r.StatusCode != 200 {
		t.Fatalf("handshake: %d", r.StatusCode)
	}
	// same AUTHENTICATE on the same connection again, and on a new one
	if r := send(c1, br1, auth); r.StatusCode != 401 {
		t.Errorf("replay on the same connection: %d", r.StatusCode)
	}
	c2, _ := net.Dial("tcp", srv.Listener.Addr().String())
	defer c2.Close()
	br2 := bufio.NewReader(c2)
	if r := send(c2, br2, auth); r.StatusCode != 401 {
		t.Errorf("replay on another connection: %d", r.StatusCode)
	}
	send(c2, br2, neg) // a fresh challenge on c2: the old AUTHENTICATE does not answer it
	if r := send(c2, br2, auth); r.StatusCode != 401 {
		t.Errorf("replay against a new challenge: %d", r.StatusCode)
	}
}

// TestConnectionAuth: after an NTLM handshake the connection stays
// authenticated (IIS), unless turned off.
func TestConnectionAuth(t *testing.T) {
	for _, off := range []bool{false, true} {
		g, err := New(Options{Store: testStore(t), Domain: "HOST", Secret: make([]byte, 32), NoConnectionAuth: off},
			[]Site{{Path: "/", Schemes: []string{"ntlm"}, Handler: WhoAmI()}})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewUnstartedServer(g.Wrap(nil))
		srv.Config.ConnContext, srv.Config.ConnState = g.ConnContext, g.ConnState
		srv.Start()
		c, _ := net.Dial("tcp", srv.Listener.Addr().String())
		br := bufio.NewReader(c)
		send := func(auth string) int {
			h := ""
			if auth != "" {
				h = "Authorization: NTLM " + auth + "\r\n"
			}
			fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n%s\r\n", h)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode == 401 {
				if v := resp.Header.Get("WWW-Authenticate"); len(v) > 5 {
					ch, _ := base64.StdEncoding.DecodeString(v[5:])
					lastChallenge = ch
				}
			}
			return resp.StatusCode
		}
		cl := ntlm.NewClient(ntlm.ClientConfig{User: "alice", Password: "alicepw"})
		neg, _ := cl.Negotiate()
		send(base64.StdEncoding.EncodeToString(neg))
		auth, _ := cl.Authenticate(lastChallenge)
		if code := send(base64.StdEncoding.EncodeToString(auth)); code != 200 {
			t.Fatalf("handshake: %d", code)
		}
		want := 200
		if off {
			want = 401
		}
		if code := send(""); code != want {
			t.Errorf("connection_auth off=%v: next request %d, want %d", off, code, want)
		}
		c.Close()
		srv.Close()
	}
}

var lastChallenge []byte

// TestNTLMWithoutConnContext: a program that wraps its handler without
// installing ConnContext/ConnState still gets NTLM, bound to the
// connection: the handshake completes on its connection, the connection
// stays authenticated, and another connection does not.
func TestNTLMWithoutConnContext(t *testing.T) {
	g := testGate(t, []Site{{Path: "/", Schemes: []string{"ntlm"}, Handler: WhoAmI()}})
	srv := httptest.NewServer(g.Wrap(nil))
	defer srv.Close()
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c, bufio.NewReader(c)
	}
	send := func(c net.Conn, br *bufio.Reader, tok []byte) *http.Response {
		h := ""
		if tok != nil {
			h = "Authorization: NTLM " + base64.StdEncoding.EncodeToString(tok) + "\r\n"
		}
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n%s\r\n", h)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	c1, br1 := dial()
	cl := ntlm.NewInitiator(ntlm.ClientConfig{User: "alice", Password: "alicepw"})
	neg, _, _ := cl.Step(nil)
	r := send(c1, br1, neg)
	if r.StatusCode != 401 {
		t.Fatalf("NEGOTIATE: %d", r.StatusCode)
	}
	ch, _ := base64.StdEncoding.DecodeString(r.Header.Get("WWW-Authenticate")[5:])
	auth, _, _ := cl.Step(ch)
	if r := send(c1, br1, auth); r.StatusCode != 200 {
		t.Fatalf("AUTHENTICATE: %d", r.StatusCode)
	}
	if r := send(c1, br1, nil); r.StatusCode != 200 {
		t.Errorf("same connection, no header: %d", r.StatusCode)
	}
	c2, br2 := dial()
	if r := send(c2, br2, nil); r.StatusCode != 401 {
		t.Errorf("another connection inherited the login: %d", r.StatusCode)
	}
}

// TestNegotiateWithoutNTLM: with Negotiate taking Kerberos only, NTLM under
// Negotiate is refused with a 401, bare or inside SPNEGO.
func TestNegotiateWithoutNTLM(t *testing.T) {
	kt := keytab.New()
	if err := kt.AddEntry("HTTP/localhost", "EXAMPLE.TEST", "svcpw", time.Now(), 2, etypeID.AES256_CTS_HMAC_SHA1_96); err != nil {
		t.Fatal(err)
	}
	acc, err := krb.NewAcceptor(krb.Config{Keytab: kt})
	if err != nil {
		t.Fatal(err)
	}
	sites := []Site{{Path: "/", Schemes: []string{"negotiate"}, Handler: WhoAmI()}}
	g, err := New(Options{Store: testStore(t), Kerberos: acc, Domain: "HOST", Secret: make([]byte, 32), NegotiateMechanisms: []string{"kerberos"}}, sites)
	if err != nil {
		t.Fatal(err)
	}
	neg, _, _ := ntlm.NewInitiator(ntlm.ClientConfig{User: "alice", Password: "alicepw"}).Step(nil)
	wrapped, _ := (&spnego.NegTokenInit{MechTypes: []spnego.OID{spnego.OIDNTLM}, MechToken: neg}).Marshal()
	for _, tok := range [][]byte{neg, wrapped} {
		hdr := map[string]string{"Authorization": "Negotiate " + base64.StdEncoding.EncodeToString(tok)}
		if w := do(t, g.Wrap(nil), "GET", "/", hdr, false); w.Code != 401 || w.Header().Get("WWW-Authenticate") != "Negotiate" {
			t.Errorf("NTLM under Kerberos-only Negotiate: %d %q", w.Code, w.Header().Get("WWW-Authenticate"))
		}
	}
	if _, err := New(Options{Store: testStore(t), Domain: "HOST", Secret: make([]byte, 32), NegotiateMechanisms: []string{}}, sites); err == nil {
		t.Error("negotiate with no mechanism accepted")
	}
}

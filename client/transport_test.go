package client_test

import (
	"context"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-auth/gatehouse/accounts"
	"github.com/gatehouse-auth/gatehouse/client"
	"github.com/gatehouse-auth/gatehouse/epa"
	"github.com/gatehouse-auth/gatehouse/ntlm"
	"github.com/gatehouse-auth/gatehouse/server"
)

func gateServer(t *testing.T, schemes []string, tlsOn bool) (*httptest.Server, *atomic.Int32) {
	return gateServerEPA(t, schemes, tlsOn, epa.Policy{})
}

func gateServerEPA(t *testing.T, schemes []string, tlsOn bool, pol epa.Policy) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	st, err := accounts.Open(filepath.Join(t.TempDir(), "a.db"), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	st.Add("alice", "alicepw", nil)
	g, err := server.New(server.Options{Store: st, Secret: make([]byte, 32), Protection: pol, Domain: "EXAMPLE",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
		[]server.Site{{Path: "/", Schemes: schemes, BasicOverHTTP: true}})
	if err != nil {
		t.Fatal(err)
	}
	var n401 atomic.Int32
	h := g.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		io.WriteString(w, server.IdentityFrom(r.Context()).User+":"+string(body))
	}))
	count := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if rec.code == 401 {
			n401.Add(1)
		}
	})
	s := httptest.NewUnstartedServer(count)
	s.Config.ConnContext, s.Config.ConnState = g.ConnContext, g.ConnState
	if tlsOn {
		// the certificate exists once started, before any connection
		s.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
			return g.TLSConnContext(s.Certificate())(ctx, c)
		}
		s.StartTLS()
	} else {
		s.Start()
	}
	t.Cleanup(s.Close)
	return s, &n401
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(c int) { w.code = c; w.ResponseWriter.WriteHeader(c) }

func TestDigestSessionOne401(t *testing.T) {
	s, n401 := gateServer(t, []string{"digest"}, false)
	c := &http.Client{Transport: &client.Transport{Server: &client.Credentials{User: "alice", Password: "alicepw"}}}
	for i := 0; i < 5; i++ {
		resp, err := c.Post(s.URL+"/x?i=1", "text/plain", strings.NewReader("body"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "alice:body" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, b)
		}
	}
	if n := n401.Load(); n != 1 {
		t.Fatalf("%d 401s for 5 requests, want 1", n)
	}
}

func TestBasicOnlyOverTLSUnlessNamed(t *testing.T) {
	s, _ := gateServer(t, []string{"basic"}, false)
	tr := &client.Transport{Server: &client.Credentials{User: "alice", Password: "alicepw"}}
	// refused with the reason, not sent
	if _, err := (&http.Client{Transport: tr}).Get(s.URL); err == nil || !strings.Contains(err.Error(), "plain HTTP") {
		t.Fatalf("Basic over HTTP unasked: %v", err)
	}
	tr.Schemes = []string{client.Basic}
	resp, err := (&http.Client{Transport: tr}).Get(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("named client.Basic: %d", resp.StatusCode)
	}

	ts, n401 := gateServer(t, []string{"basic"}, true)
	base := ts.Client().Transport
	c := &http.Client{Transport: &client.Transport{Base: base, Server: &client.Credentials{User: "alice", Password: "alicepw"}}}
	for i := 0; i < 3; i++ {
		resp, err := c.Get(ts.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatal(resp.StatusCode)
		}
	}
	if n401.Load() != 1 {
		t.Fatalf("%d 401s", n401.Load())
	}
}

func TestWrongPasswordReturns401(t *testing.T) {
	s, _ := gateServer(t, []string{"digest"}, false)
	c := &http.Client{Transport: &client.Transport{Server: &client.Credentials{User: "alice", Password: "nope"}}}
	resp, err := c.Get(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatal(resp.StatusCode)
	}
}

func TestRspauthMismatchFails(t *testing.T) {
	s, _ := gateServer(t, []string{"digest"}, false)
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// a server that takes any Digest answer and forges rspauth
		req, _ := http.NewRequest(r.Method, s.URL+r.URL.RequestURI(), nil)
		if r.Header.Get("Authorization") == "" {
			resp, _ := http.DefaultClient.Do(req)
			for _, v := range resp.Header.Values("WWW-Authenticate") {
				w.Header().Add("WWW-Authenticate", v)
			}
			resp.Body.Close()
			w.WriteHeader(401)
			return
		}
		w.Header().Set("Authentication-Info", `qop=auth, rspauth="0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"`)
	}))
	defer evil.Close()
	c := &http.Client{Transport: &client.Transport{Server: &client.Credentials{User: "alice", Password: "alicepw"}}}
	if _, err := c.Get(evil.URL); err == nil || !strings.Contains(err.Error(), "mutual") {
		t.Fatalf("forged rspauth accepted: %v", err)
	}
}

func TestNTLMSession(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		// over TLS the server insists on channel bindings and an SPN it knows
		s, n401 := gateServerEPA(t, []string{"ntlm"}, tlsOn, epa.Policy{Enforcement: epa.Always, ServiceNames: []string{"HTTP/localhost"}})
		tr := &client.Transport{Server: &client.Credentials{User: `EXAMPLE\alice`, Password: "alicepw"}}
		if tlsOn {
			tr.Base = s.Client().Transport.(*http.Transport).Clone()
		}
		c := &http.Client{Transport: tr}
		for i := 0; i < 5; i++ {
			resp, err := c.Post(s.URL+"/p", "text/plain", strings.NewReader("b"))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(b) != "alice:b" {
				t.Fatalf("tls=%v request %d: %d %q", tlsOn, i, resp.StatusCode, b)
			}
		}
		if n := n401.Load(); n != 2 {
			t.Errorf("tls=%v: %d 401s for 5 requests, want 2 (one handshake)", tlsOn, n)
		}
	}
	s, _ := gateServer(t, []string{"ntlm"}, false)
	resp, err := (&http.Client{Transport: &client.Transport{Server: &client.Credentials{User: "alice", Password: "bad"}}}).Get(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
}

// TestNegotiateOnlyServerGetsNTLMInSPNEGO: a server offering only
// Negotiate with no Kerberos (Gatehouse's embedded default without a
// keytab, IIS with NTLM under Negotiate) gets NTLM inside SPNEGO, with the
// mechListMIC checked by the server.
func TestNegotiateOnlyServerGetsNTLMInSPNEGO(t *testing.T) {
	s, n401 := gateServer(t, []string{"negotiate"}, false)
	c := &http.Client{Transport: &client.Transport{Server: &client.Credentials{User: `EXAMPLE\alice`, Password: "alicepw"}}}
	for i := 0; i < 3; i++ {
		resp, err := c.Get(s.URL + "/x")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(string(b), "alice") {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, b)
		}
	}
	if n := n401.Load(); n != 2 {
		t.Errorf("%d 401s, want 2 (one handshake)", n)
	}
}

// TestCredentialsByScheme: a scheme's own credentials win over the
// target's (BITS's SetCredentials is per target and scheme).
func TestCredentialsByScheme(t *testing.T) {
	s, _ := gateServer(t, []string{"digest", "basic"}, true)
	wrong := &client.Credentials{User: "alice", Password: "wrong"}
	good := &client.Credentials{User: "alice", Password: "alicepw"}
	for _, c := range []struct {
		name     string
		schemes  []string
		byScheme map[string]*client.Credentials
		want     int
	}{
		{"digest has its own", nil, map[string]*client.Credentials{client.Digest: good}, 200},
		{"only basic has its own, digest preferred", nil, map[string]*client.Credentials{client.Basic: good}, 401},
		{"basic asked for, has its own", []string{client.Basic}, map[string]*client.Credentials{client.Basic: good}, 200},
		{"another scheme's credentials do not leak", []string{client.Basic}, map[string]*client.Credentials{client.Digest: good}, 401},
	} {
		tr := &client.Transport{Base: s.Client().Transport, Server: wrong, ServerByScheme: c.byScheme, Schemes: c.schemes}
		resp, err := (&http.Client{Transport: tr}).Get(s.URL)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s: %d, want %d", c.name, resp.StatusCode, c.want)
		}
	}
}

// TestImplicitNTLM: NTLM_USER_FILE (gss-ntlmssp's convention) supplies
// NTLM credentials, in both of its formats, only to allowed hosts, for
// NTLM and for NTLM inside Negotiate.
func TestImplicitNTLM(t *testing.T) {
	dir := t.TempDir()
	heimdal := filepath.Join(dir, "heimdal")
	os.WriteFile(heimdal, []byte("# users\nEXAMPLE:bob:bobpw\nEXAMPLE:alice:alicepw\n"), 0o600)
	nt := ntlm.NTHash("alicepw")
	smb := filepath.Join(dir, "smbpasswd")
	os.WriteFile(smb, []byte("alice:1000:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:"+strings.ToUpper(hex.EncodeToString(nt[:]))+":[U          ]:LCT-00000000:\n"), 0o600)
	t.Setenv("KRB5CCNAME", "FILE:"+filepath.Join(dir, "no-ccache"))
	t.Setenv("KRB5_CLIENT_KTNAME", "")
	t.Setenv("NTLMUSER", "alice")
	for _, schemes := range [][]string{{"ntlm"}, {"negotiate"}} {
		s, _ := gateServer(t, schemes, false)
		for _, file := range []string{heimdal, smb} {
			t.Setenv("NTLM_USER_FILE", file)
			tr := &client.Transport{ImplicitAllow: []string{"127.0.0.1"}}
			resp, err := (&http.Client{Transport: tr}).Get(s.URL)
			if err != nil {
				t.Fatalf("%v %s: %v", schemes, file, err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.HasPrefix(string(b), "alice:") && !strings.Contains(string(b), `\alice:`) {
				t.Fatalf("%v %s: %d %q", schemes, file, resp.StatusCode, b)
			}
			// not to a host outside implicit-allow
			tr = &client.Transport{ImplicitAllow: []string{"elsewhere"}}
			if resp, err := (&http.Client{Transport: tr}).Get(s.URL); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					t.Fatalf("%v: implicit NTLM credentials sent to a host not allowed", schemes)
				}
			}
		}
	}
	// A user without an entry, and a malformed file: clear errors.
	s, _ := gateServer(t, []string{"ntlm"}, false)
	t.Setenv("NTLM_USER_FILE", heimdal)
	t.Setenv("NTLMUSER", "carol")
	if _, err := (&http.Client{Transport: &client.Transport{ImplicitAllow: []string{"*"}}}).Get(s.URL); err == nil || !strings.Contains(err.Error(), `no entry for "carol"`) {
		t.Fatalf("no entry: %v", err)
	}
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("garbage-without-colons-secret\n"), 0o600)
	t.Setenv("NTLM_USER_FILE", bad)
	if _, err := (&http.Client{Transport: &client.Transport{ImplicitAllow: []string{"*"}}}).Get(s.URL); err == nil || !strings.Contains(err.Error(), "line 1") || strings.Contains(err.Error(), "secret") {
		t.Fatalf("malformed file: %v", err)
	}
}

// TestBodyReplayedAcrossLegs: a POST body reaches the handler whole after
// every scheme's 401s (NTLM: two legs on one connection; Negotiate-only:
// NTLM inside SPNEGO), from a reader that cannot be rewound.
func TestBodyReplayedAcrossLegs(t *testing.T) {
	for _, schemes := range [][]string{{"ntlm"}, {"negotiate"}, {"digest"}} {
		s, _ := gateServer(t, schemes, false)
		c := &http.Client{Transport: &client.Transport{Server: &client.Credentials{User: `EXAMPLE\alice`, Password: "alicepw"}}}
		if schemes[0] == "digest" {
			c.Transport.(*client.Transport).Server.User = "alice"
		}
		body := strings.Repeat("payload-", 1000)
		req, _ := http.NewRequest("POST", s.URL+"/", io.NopCloser(strings.NewReader(body))) // no GetBody
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%v: %v", schemes, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasSuffix(string(b), ":"+body) {
			t.Fatalf("%v: %d, body of %d bytes", schemes, resp.StatusCode, len(b))
		}
	}
}

package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-auth/gatehouse/authz"
	"github.com/gatehouse-auth/gatehouse/identitytoken"
	"github.com/gatehouse-auth/gatehouse/ntlm"
)

func forwardAuthGate(t *testing.T) (*Gate, http.Handler, *identitytoken.Signer) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tok, err := identitytoken.New([]*ecdsa.PrivateKey{k}, "gatehouse", 0)
	if err != nil {
		t.Fatal(err)
	}
	sessKey := make([]byte, 32)
	g, err := New(Options{Store: testStore(t), Domain: "HOST", Secret: make([]byte, 32), SessionKeys: [][]byte{sessKey},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, []Site{
		{Path: "/", Schemes: []string{"anonymous"}},
		{Path: "/secure", Schemes: []string{"ntlm", "digest", "basic"}, BasicOverHTTP: true,
			Rules: authz.Rules{{Allow: true, Users: []string{"alice"}}, {Allow: true, Users: []string{"bob"}, Verbs: []string{"GET"}}, {Allow: false, Users: []string{"*"}}}},
		{Path: "/ntlm", Schemes: []string{"ntlm"}, Sessions: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	h := g.ForwardAuth(ForwardAuthOptions{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, Token: tok})
	return g, h, tok
}

// faDo asks forward auth about method uri as nginx does (X-Original-*).
func faDo(t *testing.T, h http.Handler, method, uri string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("GET", "/_gatehouse/auth", nil)
	r.Host = "app.example.test"
	r.Header.Set("X-Original-URI", uri)
	r.Header.Set("X-Original-Method", method)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestForwardAuthRefusesStrangers(t *testing.T) {
	_, h, _ := forwardAuthGate(t)
	r := httptest.NewRequest("GET", "/_gatehouse/auth", nil)
	r.RemoteAddr = "198.51.100.7:5555"
	r.Header.Set("X-Forwarded-Uri", "/")
	r.Header.Set("X-Forwarded-Method", "GET")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 403 {
		t.Errorf("untrusted caller: %d", w.Code)
	}
	for name, hdr := range map[string]map[string]string{
		"no original":    {"X-Original-URI": ""},
		"both families":  {"X-Forwarded-Uri": "/"},
		"mixed method":   {"X-Forwarded-Method": "GET"},
		"not a path":     {"X-Original-URI": "http://elsewhere/"},
		"path parameter": {"X-Original-URI": "/secure;x/app"},
		"encoded dots":   {"X-Original-URI": "/public/..%2fsecure"},
		"dot segment":    {"X-Original-URI": "/public/../secure"},
	} {
		if w := faDo(t, h, "GET", "/", hdr); w.Code != 400 {
			t.Errorf("%s: %d", name, w.Code)
		}
	}
}

func TestForwardAuthAnswers(t *testing.T) {
	_, h, tok := forwardAuthGate(t)
	// anonymous: 200, every identity header present and empty
	w := faDo(t, h, "GET", "/public/page", nil)
	if w.Code != 200 {
		t.Fatalf("anonymous: %d", w.Code)
	}
	for _, k := range append(identityHeaders, HeaderAssertion) {
		if v, ok := w.Header()[k]; !ok || len(v) != 1 || v[0] != "" {
			t.Errorf("anonymous: %s = %q, want present and empty", k, v)
		}
	}
	// no credentials on a protected path: 401 with the site's challenges
	w = faDo(t, h, "GET", "/Secure/app?x=1", nil)
	if ch := w.Header().Values("WWW-Authenticate"); w.Code != 401 || len(ch) != 3 {
		t.Fatalf("protected: %d %q", w.Code, ch)
	}
	// Basic: 200 with the identity and a token the JWKS verifies
	w = faDo(t, h, "GET", "/secure/app", basicHdr("alice", "alicepw"))
	if w.Code != 200 || w.Header().Get("X-Remote-User") != "alice" || w.Header().Get("X-Remote-Groups") != "Admins" || w.Header().Get("X-Remote-Scheme") != "Basic" {
		t.Fatalf("alice: %d %v", w.Code, w.Header())
	}
	var set jose.JSONWebKeySet
	json.Unmarshal(tok.JWKS(), &set)
	parsed, err := jwt.ParseSigned(w.Header().Get(HeaderAssertion), []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		jwt.Claims
		Groups []string `json:"groups"`
		Scheme string   `json:"scheme"`
	}
	if err := parsed.Claims(set.Key(parsed.Headers[0].KeyID)[0].Key, &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(jwt.Expected{Issuer: "gatehouse", AnyAudience: jwt.Audience{"http://app.example.test"}}); err != nil || c.Subject != "alice" || c.Scheme != "Basic" {
		t.Errorf("claims %+v: %v", c, err)
	}
	// rules on the original path and method
	if w := faDo(t, h, "GET", "/secure/app", basicHdr("bob", "bobpw")); w.Code != 200 {
		t.Errorf("bob GET: %d", w.Code)
	}
	if w := faDo(t, h, "POST", "/secure/app", basicHdr("bob", "bobpw")); w.Code != 403 {
		t.Errorf("bob POST: %d", w.Code)
	}
	if w := faDo(t, h, "GET", "/secure/app", basicHdr("alice", "wrong")); w.Code != 401 {
		t.Errorf("bad password: %d", w.Code)
	}
}

// TestForwardAuthDigestOriginalURI: Digest is checked against the
// original request's URI and method, not the auth endpoint's.
func TestForwardAuthDigestOriginalURI(t *testing.T) {
	_, h, _ := forwardAuthGate(t)
	ch := faDo(t, h, "GET", "/secure/a?b=c", nil).Header().Values("WWW-Authenticate")
	var dch string
	for _, c := range ch {
		if strings.HasPrefix(c, "Digest") && strings.Contains(c, "SHA-256") {
			dch = c
		}
	}
	mk := func(uri string, nc int) map[string]string {
		// digestLogin's header, computed for GET uri
		rec := httptest.NewRecorder()
		var got string
		digestLogin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Get("Authorization") }), dch, "alice", "alicepw", uri, nc)
		_ = rec
		return map[string]string{"Authorization": got}
	}
	if w := faDo(t, h, "GET", "/secure/a?b=c", mk("/secure/a?b=c", 1)); w.Code != 200 || w.Header().Get("X-Remote-Scheme") != "Digest" {
		t.Errorf("digest for the original URI: %d", w.Code)
	}
	if w := faDo(t, h, "GET", "/secure/a?b=c", mk("/_gatehouse/auth", 2)); w.Code != 401 {
		t.Errorf("digest for the auth endpoint's URI: %d", w.Code)
	}
	if w := faDo(t, h, "POST", "/secure/a?b=c", mk("/secure/a?b=c", 3)); w.Code != 401 {
		t.Errorf("digest computed for GET, original POST: %d", w.Code)
	}
}

// TestForwardAuthNTLM: no NTLM without sessions; with sessions the two
// legs are tied by the handshake cookie (not the front end's connection)
// and the last leg sets the session cookie.
func TestForwardAuthNTLM(t *testing.T) {
	_, h, _ := forwardAuthGate(t)
	for _, c := range faDo(t, h, "GET", "/secure/x", nil).Header().Values("WWW-Authenticate") {
		if strings.HasPrefix(c, "NTLM") {
			t.Errorf("NTLM offered on a site without sessions")
		}
	}
	if w := faDo(t, h, "GET", "/ntlm", nil); w.Header().Get("WWW-Authenticate") != "NTLM" {
		t.Fatalf("ntlm site: %d %q", w.Code, w.Header().Values("WWW-Authenticate"))
	}
	cl := ntlm.NewClient(ntlm.ClientConfig{User: "alice", Password: "alicepw"})
	neg, _ := cl.Negotiate()
	w := faDo(t, h, "GET", "/ntlm", map[string]string{"Authorization": "NTLM " + base64.StdEncoding.EncodeToString(neg)})
	chHdr := w.Header().Get("WWW-Authenticate")
	var hs *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == HandshakeCookie {
			hs = c
		}
	}
	if w.Code != 401 || !strings.HasPrefix(chHdr, "NTLM ") || hs == nil {
		t.Fatalf("challenge leg: %d %q cookie %v", w.Code, chHdr, hs)
	}
	challenge, _ := base64.StdEncoding.DecodeString(chHdr[5:])
	auth, err := cl.Authenticate(challenge)
	if err != nil {
		t.Fatal(err)
	}
	// without the handshake cookie the AUTHENTICATE has no handshake
	if w := faDo(t, h, "GET", "/ntlm", map[string]string{"Authorization": "NTLM " + base64.StdEncoding.EncodeToString(auth)}); w.Code != 401 {
		t.Fatalf("AUTHENTICATE without the cookie: %d", w.Code)
	}
	w = faDo(t, h, "GET", "/ntlm", map[string]string{"Authorization": "NTLM " + base64.StdEncoding.EncodeToString(auth), "Cookie": HandshakeCookie + "=" + hs.Value})
	if w.Code != 200 || w.Header().Get("X-Remote-User") != "alice" {
		t.Fatalf("AUTHENTICATE: %d %v", w.Code, w.Header())
	}
	var sess *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == SessionCookie {
			sess = c
		}
	}
	if sess == nil {
		t.Fatal("no session cookie on the last leg")
	}
	w = faDo(t, h, "GET", "/ntlm/page", map[string]string{"Cookie": fmt.Sprintf("%s=%s", SessionCookie, sess.Value)})
	if w.Code != 200 || w.Header().Get("X-Remote-User") != "alice" {
		t.Errorf("with the session: %d", w.Code)
	}
}

// FuzzOriginalRequest: whatever a front end (or a client through it) puts
// in the original-request headers, the parse does not panic, and what it
// accepts is one family with an absolute path and a method.
func FuzzOriginalRequest(f *testing.F) {
	f.Add("/a?b", "GET", "", "", "", "")
	f.Add("", "", "/x", "POST", "app.example.test", "https")
	f.Add("/a", "GET", "/b", "GET", "h", "ftp")
	f.Fuzz(func(t *testing.T, ouri, omethod, furi, fmethod, fhost, fproto string) {
		r := httptest.NewRequest("GET", "/_gatehouse/auth", nil)
		for k, v := range map[string]string{"X-Original-URI": ouri, "X-Original-Method": omethod, "X-Forwarded-Uri": furi,
			"X-Forwarded-Method": fmethod, "X-Forwarded-Host": fhost, "X-Forwarded-Proto": fproto} {
			if v != "" {
				r.Header.Set(k, v)
			}
		}
		o, why := originalRequest(r)
		if why != "" {
			return
		}
		if (ouri != "") == (furi != "") || !strings.HasPrefix(o.uri, "/") || o.method == "" || (o.proto != "http" && o.proto != "https") {
			t.Fatalf("accepted %+v from %q %q %q %q %q %q", o, ouri, omethod, furi, fmethod, fhost, fproto)
		}
	})
}

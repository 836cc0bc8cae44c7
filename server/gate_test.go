package server

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/accounts"
	"github.com/gatehouse-auth/gatehouse/authheader"
	"github.com/gatehouse-auth/gatehouse/authz"
	"github.com/gatehouse-auth/gatehouse/digest"
)

func testStore(t testing.TB) *accounts.Store {
	t.Helper()
	st, err := accounts.Open(filepath.Join(t.TempDir(), "a.db"), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Add("alice", "alicepw", []string{"Admins"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Add("bob", "bobpw", nil); err != nil {
		t.Fatal(err)
	}
	return st
}

func testGate(t *testing.T, sites []Site) *Gate {
	t.Helper()
	g, err := New(Options{Store: testStore(t), Domain: "HOST", Secret: make([]byte, 32),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, sites)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func do(t *testing.T, h http.Handler, method, target string, hdr map[string]string, tlsOn bool) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	if tlsOn {
		r.TLS = &tls.ConnectionState{}
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	r.Header.Set("Accept", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func basicHdr(u, p string) map[string]string {
	return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p))}
}

func whoami(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("whoami JSON: %v: %s", err, w.Body)
	}
	return m
}

func TestChallengeOrderAndBasicOverHTTP(t *testing.T) {
	g := testGate(t, []Site{{Path: "/", Schemes: []string{"anonymous"}, Handler: WhoAmI()},
		{Path: "/whoami", Schemes: []string{"basic", "digest"}, Handler: WhoAmI()}})
	h := g.Wrap(http.NotFoundHandler())
	w := do(t, h, "GET", "/whoami", nil, true)
	chs := w.Result().Header.Values("WWW-Authenticate")
	if w.Code != 401 || len(chs) != 3 || !strings.HasPrefix(chs[0], "Digest") || !strings.Contains(chs[0], "SHA-256") ||
		!strings.Contains(chs[1], "MD5") || !strings.HasPrefix(chs[2], "Basic") {
		t.Fatalf("TLS challenges: %d %q", w.Code, chs)
	}
	w = do(t, h, "GET", "/whoami", nil, false)
	for _, c := range w.Result().Header.Values("WWW-Authenticate") {
		if strings.HasPrefix(c, "Basic") {
			t.Fatal("Basic offered over plain HTTP")
		}
	}
	// Basic over HTTP is not accepted either: 401, not 200
	if w := do(t, h, "GET", "/whoami", basicHdr("alice", "alicepw"), false); w.Code != 401 {
		t.Fatalf("Basic over HTTP: %d", w.Code)
	}
	w = do(t, h, "GET", "/whoami", basicHdr("alice", "alicepw"), true)
	if w.Code != 200 {
		t.Fatalf("Basic over TLS: %d %s", w.Code, w.Body)
	}
	m := whoami(t, w)
	if m["user"] != "alice" || m["scheme"] != "Basic" || m["mechanism"] != "password" || m["domain"] != "HOST" ||
		m["service_name"] != nil || m["channel_binding"] != "absent" {
		t.Fatalf("whoami: %v", m)
	}
	if g := m["groups"].([]any); len(g) != 1 || g[0] != "Admins" {
		t.Fatalf("groups %v", g)
	}
	// wrong password, unknown user: 401 with the same challenges
	for _, hdr := range []map[string]string{basicHdr("alice", "nope"), basicHdr("mallory", "x")} {
		w := do(t, h, "GET", "/whoami", hdr, true)
		if w.Code != 401 || len(w.Result().Header.Values("WWW-Authenticate")) != 3 {
			t.Fatalf("bad credentials: %d %q", w.Code, w.Result().Header.Values("WWW-Authenticate"))
		}
	}
	// the anonymous site ignores credentials it does not use
	if w := do(t, h, "GET", "/", basicHdr("alice", "nope"), true); w.Code != 200 || whoami(t, w)["scheme"] != "Anonymous" {
		t.Fatalf("anonymous site: %d", w.Code)
	}
}

func TestBasicOverHTTPWhenConfigured(t *testing.T) {
	g := testGate(t, []Site{{Path: "/", Schemes: []string{"basic"}, BasicOverHTTP: true, Handler: WhoAmI()}})
	if w := do(t, g.Wrap(nil), "GET", "/", basicHdr("alice", "alicepw"), false); w.Code != 200 {
		t.Fatal(w.Code)
	}
}

func TestMalformedCredentials(t *testing.T) {
	g := testGate(t, []Site{{Path: "/", Schemes: []string{"basic", "digest"}, Handler: WhoAmI()}})
	h := g.Wrap(nil)
	for _, v := range []string{
		"Basic !!!notbase64", "Basic " + base64.StdEncoding.EncodeToString([]byte("nocolon")),
		"Basic a=b", `Digest username="a"`, `Digest username="a", realm=`, "Basic " + strings.Repeat("A", 20000),
		`Digest username="a", realm="gatehouse", nonce="x", uri="/", response="zz", qop=auth, nc=1, cnonce="c"`,
		"Basic " + base64.StdEncoding.EncodeToString([]byte("a\xff:b")),
	} {
		w := do(t, h, "GET", "/", map[string]string{"Authorization": v}, true)
		if w.Code != 400 {
			t.Errorf("%.60q: %d, want 400", v, w.Code)
		}
	}
	// unknown scheme: 401 with the challenges
	if w := do(t, h, "GET", "/", map[string]string{"Authorization": "Bearer abc"}, true); w.Code != 401 || len(w.Result().Header.Values("WWW-Authenticate")) == 0 {
		t.Errorf("unknown scheme: %d", w.Code)
	}
}

func TestAuthorizationRules(t *testing.T) {
	rules := authz.Rules{
		{Allow: true, Users: []string{"alice"}, Verbs: []string{"GET"}},
		{Allow: false, Users: []string{"*"}, Verbs: []string{"DELETE"}},
	}
	g := testGate(t, []Site{
		{Path: "/", Schemes: []string{"anonymous", "basic"}, Handler: WhoAmI(), Rules: authz.Rules{{Allow: false, Users: []string{"?"}, Verbs: []string{"POST"}}}},
		{Path: "/secure", Schemes: []string{"basic"}, Rules: append(rules, authz.Rule{Allow: false, Users: []string{"bob"}}), Handler: WhoAmI()},
	})
	h := g.Wrap(nil)
	cases := []struct {
		method, path string
		hdr          map[string]string
		want         int
	}{
		{"GET", "/secure", basicHdr("alice", "alicepw"), 200},
		{"GET", "/SECURE/x", basicHdr("bob", "bobpw"), 403},      // case-insensitive site match
		{"GET", "/a/../secure", basicHdr("bob", "bobpw"), 400},   // dot-segments refused (pathcheck.go)
		{"DELETE", "/secure", basicHdr("alice", "alicepw"), 403}, // second rule
		{"POST", "/x", nil, 401},                                 // anonymous denied -> challenge
		{"POST", "/x", basicHdr("bob", "bobpw"), 200},            // authenticated on an anonymous site
		{"GET", "/securex", nil, 200},                            // not under /secure
	}
	for _, c := range cases {
		w := do(t, h, c.method, c.path, c.hdr, true)
		if w.Code != c.want {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, w.Code, c.want)
		}
	}
}

// digestLogin answers a challenge as a client would.
func digestLogin(t *testing.T, h http.Handler, challenge, user, pass, uri string, nc int) *httptest.ResponseRecorder {
	t.Helper()
	cs, err := authheader.ParseChallenges([]string{challenge})
	if err != nil {
		t.Fatal(err)
	}
	c := cs[0]
	realm, _ := c.Param("realm")
	nonce, _ := c.Param("nonce")
	opaque, _ := c.Param("opaque")
	an, _ := c.Param("algorithm")
	alg, _ := digest.ParseAlgorithm(an)
	ncs := fmt.Sprintf("%08x", nc)
	ha1 := alg.H(user + ":" + realm + ":" + pass)
	resp := alg.KD(ha1, nonce+":"+ncs+":abc:auth:"+alg.H("GET:"+uri))
	v := fmt.Sprintf(`Digest username=%q, realm=%q, nonce=%q, uri=%q, algorithm=%s, response=%q, qop=auth, nc=%s, cnonce="abc", opaque=%q`,
		user, realm, nonce, uri, alg, resp, ncs, opaque)
	return do(t, h, "GET", uri, map[string]string{"Authorization": v}, false)
}

func TestDigestOverHTTP(t *testing.T) {
	g := testGate(t, []Site{{Path: "/", Schemes: []string{"digest"}, Handler: WhoAmI()}})
	h := g.Wrap(nil)
	chs := do(t, h, "GET", "/w?x=1", nil, false).Result().Header.Values("WWW-Authenticate")
	for i := range chs {
		ch := do(t, h, "GET", "/w?x=1", nil, false).Result().Header.Values("WWW-Authenticate")[i] // fresh nonce
		w := digestLogin(t, h, ch, "alice", "alicepw", "/w?x=1", 1)
		if w.Code != 200 || !strings.Contains(w.Result().Header.Get("Authentication-Info"), "rspauth=") {
			t.Fatalf("%s: %d %v", ch, w.Code, w.Result().Header)
		}
		if m := whoami(t, w); m["scheme"] != "Digest" || m["user"] != "alice" || m["channel_binding"] != "not_applicable" {
			t.Fatal(m)
		}
		if w := digestLogin(t, h, ch, "alice", "alicepw", "/w?x=1", 1); w.Code != 401 {
			t.Fatalf("replayed nc: %d", w.Code)
		}
		if w := digestLogin(t, h, ch, "alice", "alicepw", "/w?x=1", 2); w.Code != 200 {
			t.Fatalf("next nc: %d", w.Code)
		}
		if w := digestLogin(t, h, ch, "alice", "bad", "/w?x=1", 3); w.Code != 401 {
			t.Fatalf("wrong password: %d", w.Code)
		}
		if w := digestLogin(t, h, ch, "nobody", "bad", "/w?x=1", 3); w.Code != 401 {
			t.Fatalf("unknown user: %d", w.Code)
		}
	}
}

func TestProxyStripsSpoofedHeaders(t *testing.T) {
	var got http.Header
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Clone() }))
	defer up.Close()
	u, _ := url.Parse(up.URL)
	g := testGate(t, []Site{{Path: "/", Schemes: []string{"anonymous", "basic"}, Handler: Proxy(u)}})
	srv := httptest.NewServer(g.Wrap(nil))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/", nil)
	req.Header.Set("X-Remote-User", "admin")
	req.Header.Set("Remote-User", "admin")
	req.Header.Set("Cookie", SessionCookie+"=secret; app=1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got.Get("Cookie") != "app=1" {
		t.Fatalf("cookies reaching upstream: %q", got.Get("Cookie"))
	}
	if got.Get("X-Remote-User") != "" || got.Get("Remote-User") != "" {
		t.Fatalf("spoofed identity reached upstream: %v", got)
	}
}

func TestSessions(t *testing.T) {
	keys := [][]byte{make([]byte, 32)}
	g, err := New(Options{Store: testStore(t), Secret: make([]byte, 32), SessionKeys: keys,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
		[]Site{{Path: "/s", Schemes: []string{"basic"}, Sessions: true, Handler: WhoAmI()},
			{Path: "/other", Schemes: []string{"basic"}, Sessions: true, Handler: WhoAmI()}})
	if err != nil {
		t.Fatal(err)
	}
	h := g.Wrap(nil)
	w := do(t, h, "GET", "/s", basicHdr("alice", "alicepw"), true)
	cookies := w.Result().Cookies()
	if w.Code != 200 || len(cookies) != 1 || !cookies[0].HttpOnly || !cookies[0].Secure || cookies[0].Path != "/s" {
		t.Fatalf("login: %d %v", w.Code, cookies)
	}
	if m := whoami(t, w); m["session"] != false {
		t.Fatal("first login marked as session")
	}
	cookie := map[string]string{"Cookie": SessionCookie + "=" + cookies[0].Value}
	w = do(t, h, "GET", "/s/x", cookie, true)
	if m := whoami(t, w); w.Code != 200 || m["session"] != true || m["user"] != "alice" || m["scheme"] != "Basic" {
		t.Fatalf("session: %d %v", w.Code, m)
	}
	// scoped to its site, tamper-evident
	if w := do(t, h, "GET", "/other", cookie, true); w.Code != 401 {
		t.Fatalf("cookie accepted on another site: %d", w.Code)
	}
	bad := cookies[0].Value[:len(cookies[0].Value)-2] + "AA"
	if w := do(t, h, "GET", "/s", map[string]string{"Cookie": SessionCookie + "=" + bad}, true); w.Code != 401 {
		t.Fatalf("tampered cookie: %d", w.Code)
	}
	// only the canonical base64 spelling of the sealed bytes
	for _, other := range nonCanonicalCookies(cookies[0].Value) {
		if w := do(t, h, "GET", "/s", map[string]string{"Cookie": SessionCookie + "=" + other}, true); w.Code != 401 {
			t.Fatalf("cookie spelled %q: %d", other, w.Code)
		}
	}
	// expiry
	s, _ := newSessionSealer(keys, time.Minute)
	v, _ := s.seal(&Identity{User: "a"}, "/s", time.Now().Add(-2*time.Minute))
	if s.open(v, "/s", time.Now()) != nil {
		t.Fatal("expired session accepted")
	}
	// rotation: a cookie sealed with an old key still opens while listed
	s2, _ := newSessionSealer([][]byte{bytes.Repeat([]byte{1}, 32), keys[0]}, time.Minute)
	v, _ = s.seal(&Identity{User: "a"}, "/s", time.Now())
	if s2.open(v, "/s", time.Now()) == nil {
		t.Fatal("old key not accepted")
	}
}

// nonCanonicalCookies returns other base64url spellings of the bytes of v:
// the last character's unused bits set (when it has any), and a line break
// inside (which Go's decoder skips).
func nonCanonicalCookies(v string) []string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	out := []string{v[:10] + "\r" + v[10:]}
	if (len(v)*6)%8 != 0 {
		last := strings.IndexByte(alphabet, v[len(v)-1])
		out = append(out, v[:len(v)-1]+string(alphabet[last|1]))
	}
	return out
}

// A session cookie opens only in the spelling it was sealed with.
func TestSessionCookieCanonicalOnly(t *testing.T) {
	s, err := newSessionSealer([][]byte{bytes.Repeat([]byte{7}, 32)}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tried := 0
	for _, user := range []string{"a", "ab", "abc"} {
		v, err := s.seal(&Identity{User: user}, "/s", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if s.open(v, "/s", time.Now()) == nil {
			t.Fatal("canonical cookie refused")
		}
		others := nonCanonicalCookies(v)
		tried += len(others)
		for _, o := range others {
			if s.open(o, "/s", time.Now()) != nil {
				t.Fatalf("cookie spelled %q accepted", o)
			}
		}
	}
	if tried < 4 {
		t.Fatalf("only %d other spellings tried", tried)
	}
}

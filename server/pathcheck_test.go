package server

import (
	"net/http"
	"net/url"
	"path"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestPathProblem(t *testing.T) {
	for _, p := range []string{"/", "/app", "/app/", "/app/admin", "/a%20b/c", "/%41dmin", "/caf%C3%A9", "/café", "/a.b/.c/d..e", "/~user/x", "/a:b@c!$&'()*+,="} {
		if why := pathProblem(p); why != "" {
			t.Errorf("%q refused: %s", p, why)
		}
	}
	for _, p := range []string{
		"/app/admin;x", "/app/ADMIN;/", "/app;jsessionid=1/admin", "/app/admin%3bx",
		"/app/%5cadmin", "/app/%5Cadmin", `/app/\admin`, "/app/..%2fadmin", "/app/a%2Fb",
		"/app/%C0%AFadmin", "/app/%c0%ae%c0%ae/admin", "/app/\xc0\xafadmin", "/app/%ff",
		"/app/admin%00", "/app/admin%00.html", "/app/%0d%0aX:y", "/app/\x7f",
		"/app/../admin", "/app/./admin", "/app/%2e%2e/admin", "/app/.%2E/admin", "/app/..", "/app/.", "/app/...",
		"//app/admin", "/app//admin", "/app/%252e%252e/admin", "/app/%", "/app/%4", "/app/%zz", "/app#x", "relative",
	} {
		if pathProblem(p) == "" {
			t.Errorf("%q accepted", p)
		}
	}
}

// FuzzPathProblem: a path that passes decodes to one clean path, free of
// what upstreams read apart, whose canonical encoding (what the proxy
// sends) passes too and decodes to the same path.
func FuzzPathProblem(f *testing.F) {
	for _, s := range []string{"/app/admin;x", "/app/%5cadmin", "/app/%C0%AFadmin", "/app/admin%00", "/a/../b", "/%41/b/", "/caf%C3%A9", "/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if pathProblem(p) != "" {
			return
		}
		dec, err := url.PathUnescape(p)
		if err != nil {
			t.Fatalf("%q passed but does not decode: %v", p, err)
		}
		if strings.ContainsAny(dec, ";\\\x00#%") || !utf8.ValidString(dec) {
			t.Fatalf("%q passed, decodes to %q", p, dec)
		}
		if c := path.Clean(dec); c != dec && c+"/" != dec {
			t.Fatalf("%q passed, decodes to %q, not clean (%q)", p, dec, c)
		}
		out := (&url.URL{Path: dec}).EscapedPath()
		if pathProblem(out) != "" {
			t.Fatalf("%q passed; its canonical form %q does not: %s", p, out, pathProblem(out))
		}
		if back, err := url.PathUnescape(out); err != nil || back != dec {
			t.Fatalf("%q: canonical %q decodes to %q", p, out, back)
		}
	})
}

func TestScrubHeaders(t *testing.T) {
	h := http.Header{}
	for _, k := range []string{
		"X_Remote_User", "x_remote_groups", "X-Remote_User", "X-REMOTE-USER", "X.Remote.User", "X-Remote-Ccache",
		"X-Gatehouse-Jwt-Assertion", "x_gatehouse_jwt_assertion", "X-Gatehouse-Anything", "Remote_User",
		"X-Forwarded_For", "X-Authenticated-User", "X-Original-URL", "X_Rewrite_Url", "Any_Underscore",
	} {
		h[k] = []string{"evil"}
	}
	keep := []string{"Accept", "X-Request-Id", "Content-Type", "X-Remoteuser", "Cookie"}
	for _, k := range keep {
		h[k] = []string{"fine"}
	}
	scrubHeaders(h)
	if len(h) != len(keep) {
		t.Errorf("left: %v", h)
	}
	for _, k := range keep {
		if h.Get(k) != "fine" {
			t.Errorf("%s dropped", k)
		}
	}
}

// BenchmarkPathProblem: the check every request pays before its site is
// matched.
func BenchmarkPathProblem(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if pathProblem("/app/reports/2026/q3%20summary/index.html") != "" {
			b.Fatal("refused")
		}
	}
}

package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/gatehouse-auth/gatehouse/identitytoken"
)

// BenchmarkForwardAuth: a request authenticated through the forward-auth
// endpoint against the same request served by the Gate directly (a
// handler that writes nothing), for an anonymous site and a Basic one
// (after the first request Basic is a cache hit), with and without the
// identity token.
//
//	go test ./server -run '^$' -bench ForwardAuth -benchtime=1s
func BenchmarkForwardAuth(b *testing.B) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tok, _ := identitytoken.New([]*ecdsa.PrivateKey{k}, "gatehouse", 0)
	g, err := New(Options{Store: testStore(b), Domain: "HOST", Secret: make([]byte, 32),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, []Site{
		{Path: "/", Schemes: []string{"anonymous"}},
		{Path: "/secure", Schemes: []string{"basic"}, BasicOverHTTP: true},
	})
	if err != nil {
		b.Fatal(err)
	}
	direct := g.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	trusted := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	forward := g.ForwardAuth(ForwardAuthOptions{TrustedProxies: trusted})
	forwardTok := g.ForwardAuth(ForwardAuthOptions{TrustedProxies: trusted, Token: tok})
	basic := basicHdr("alice", "alicepw")["Authorization"]
	for _, c := range []struct {
		name string
		h    http.Handler
		fa   bool
		path string
	}{
		{"anonymous/direct", direct, false, "/page"},
		{"anonymous/forward", forward, true, "/page"},
		{"basic/direct", direct, false, "/secure/page"},
		{"basic/forward", forward, true, "/secure/page"},
		{"basic/forward+token", forwardTok, true, "/secure/page"},
	} {
		b.Run(c.name, func(b *testing.B) {
			var r *http.Request
			if c.fa {
				r = httptest.NewRequest("GET", "/_gatehouse/auth", nil)
				r.Header.Set("X-Forwarded-Method", "GET")
				r.Header.Set("X-Forwarded-Uri", c.path)
				r.Header.Set("X-Forwarded-Host", "app.example.test")
				r.Header.Set("X-Forwarded-Proto", "https")
			} else {
				r = httptest.NewRequest("GET", c.path, nil)
			}
			if c.path != "/page" {
				r.Header.Set("Authorization", basic)
			}
			w := &discardWriter{h: http.Header{}}
			c.h.ServeHTTP(w, r)
			if w.code != 0 && w.code != 200 {
				b.Fatalf("status %d", w.code)
			}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				c.h.ServeHTTP(w, r)
			}
		})
	}
}

type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }

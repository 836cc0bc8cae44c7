package server

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkSessionOpen: one session cookie checked (base64, AES-GCM, JSON).
func BenchmarkSessionOpen(b *testing.B) {
	s, err := newSessionSealer([][]byte{make([]byte, 32)}, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	id := &Identity{User: "alice@EXAMPLE.TEST", Name: "alice", Domain: "EXAMPLE.TEST", Scheme: "Negotiate", Mechanism: "Kerberos", Groups: []string{"staff", "web"}}
	v, err := s.seal(id, "/sess", now)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if s.open(v, "/sess", now) == nil {
			b.Fatal("session refused")
		}
	}
}

// BenchmarkGateSession: the Gate's own cost per request, anonymous
// against a session cookie (compare bench/compare.sh's open and sess).
func BenchmarkGateSession(b *testing.B) {
	g, err := New(Options{Store: testStore(b), Secret: make([]byte, 32), SessionKeys: [][]byte{make([]byte, 32)},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
		[]Site{{Path: "/open", Schemes: []string{"anonymous"}}, {Path: "/sess", Schemes: []string{"basic"}, Sessions: true}})
	if err != nil {
		b.Fatal(err)
	}
	h := g.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) }))
	v, _ := g.sessions.seal(&Identity{User: "alice@EXAMPLE.TEST", Name: "alice", Domain: "EXAMPLE.TEST", Scheme: "Negotiate", Mechanism: "kerberos"}, "/sess", time.Now())
	for _, c := range []struct{ name, path string }{{"open", "/open/x"}, {"sess", "/sess/x"}} {
		b.Run(c.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", c.path, nil)
			r.Header.Set("Cookie", SessionCookie+"="+v)
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != 200 {
					b.Fatal(w.Code)
				}
			}
		})
	}
}

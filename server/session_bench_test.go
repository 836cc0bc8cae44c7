package server

import (
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

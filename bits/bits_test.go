package bits

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestContentRange(t *testing.T) {
	good := map[string]ContentRange{
		"bytes 0-99/1000":    {0, 99, 1000},
		"Bytes 900-999/1000": {900, 999, 1000},
		"bytes */0":          {0, -1, 0},
		"bytes 0-0/1":        {0, 0, 1},
	}
	for s, want := range good {
		got, err := ParseContentRange(s)
		if err != nil || got != want {
			t.Errorf("%q: %+v %v", s, got, err)
		}
		if again, err := ParseContentRange(got.String()); err != nil || again != got {
			t.Errorf("round trip of %q: %+v %v", s, again, err)
		}
	}
	for _, s := range []string{"", "bytes", "bytes 0-99", "bytes 0-99/99", "bytes 5-4/10", "bytes -1-3/10", "bytes +1-3/10",
		"bits 0-1/2", "bytes */5", "bytes 0-1/1234567890123456789", "bytes 0x1-2/3", "bytes 1-2/3/4", strings.Repeat("9", 200)} {
		if r, err := ParseContentRange(s); err == nil || !errors.Is(err, ErrMalformed) {
			t.Errorf("%q accepted: %+v", s, r)
		}
	}
	// every strict prefix of a valid value fails
	v := "bytes 100-199/200"
	for i := 0; i < len(v); i++ {
		if _, err := ParseContentRange(v[:i]); err == nil && v[:i] != "bytes 100-199/20" {
			t.Errorf("prefix %q accepted", v[:i])
		}
	}
}

func TestSessionID(t *testing.T) {
	id, err := NewSessionID()
	if err != nil {
		t.Fatal(err)
	}
	s := id.String()
	if len(s) != 38 || s[0] != '{' {
		t.Fatalf("%q", s)
	}
	for _, v := range []string{s, strings.ToUpper(s), s[1 : len(s)-1]} {
		if got, err := ParseSessionID(v); err != nil || got != id {
			t.Errorf("%q: %v", v, err)
		}
	}
	for _, bad := range []string{"", "{}", s[:37], s + "x", strings.Replace(s, "-", "x", 1), strings.Replace(s, "a", "g", 1) + "g"} {
		if _, err := ParseSessionID(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestPacketTypeAndErrors(t *testing.T) {
	for _, s := range []string{"Ping", "PING", "create-session", "Fragment", "Close-Session", "CANCEL-SESSION", "Ack"} {
		if _, err := ParsePacketType(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	if _, err := ParsePacketType("Get-Reply-Url"); err == nil {
		t.Error("unsupported packet accepted")
	}
	e, err := ParseError("0x8020001F", "0x5")
	if err != nil || e.Code != ESessionNotFound || e.Context != ContextServer || e.CodeHeader() != "0x8020001F" {
		t.Fatalf("%+v %v", e, err)
	}
	if e, err := ParseError("", ""); e != nil || err != nil {
		t.Error("no error header")
	}
	for _, bad := range []string{"0x", "0x123456789", "zz", "-1"} {
		if _, err := ParseError(bad, ""); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if !SupportsProtocol15("{00000000-0000-0000-0000-000000000000} "+strings.ToUpper(Protocol15)) || SupportsProtocol15("{x}") {
		t.Error("SupportsProtocol15")
	}
}

func TestSessionStateMachine(t *testing.T) {
	now := time.Now()
	s, _ := NewSession("alice", "f.bin", now)
	r := func(a, b, tot int64) ContentRange { return ContentRange{a, b, tot} }
	if _, err := s.Accept(r(10, 19, 30), 10, 0); !errors.Is(err, ErrNotContiguous) {
		t.Fatalf("gap: %v", err)
	}
	p, err := s.Accept(r(0, 9, 30), 10, 0)
	if err != nil || p != (Plan{0, 10, 0}) {
		t.Fatalf("%+v %v", p, err)
	}
	s.Advance(7, now) // the connection dropped after 7 bytes
	p, err = s.Accept(r(0, 14, 30), 15, 0)
	if err != nil || p != (Plan{Skip: 7, Write: 8, At: 7}) {
		t.Fatalf("overlap: %+v %v", p, err)
	}
	s.Advance(8, now)
	if _, err := s.Accept(r(15, 29, 31), 15, 0); !errors.Is(err, ErrTotalChanged) {
		t.Fatalf("total changed: %v", err)
	}
	if _, err := s.Accept(r(15, 29, 30), 14, 0); !errors.Is(err, ErrBodyLength) {
		t.Fatalf("body length: %v", err)
	}
	if err := s.Close(now); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("early close: %v", err)
	}
	p, _ = s.Accept(r(15, 29, 30), 15, 0)
	s.Advance(p.Write, now)
	if s.State != Complete {
		t.Fatalf("state %s", s.State)
	}
	// a repeated last fragment (its ack was lost) is skipped whole
	if p, err := s.Accept(r(15, 29, 30), 15, 0); err != nil || p.Write != 0 || p.Skip != 15 {
		t.Fatalf("repeat: %+v %v", p, err)
	}
	if err := s.Close(now); err != nil || s.State != Closed {
		t.Fatal(err)
	}
	big, _ := NewSession("bob", "x", now)
	if _, err := big.Accept(r(0, 0, 1<<40), 1, 1<<30); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("too large: %v", err)
	}
	empty, _ := NewSession("bob", "e", now)
	if err := empty.Close(now); err != nil {
		t.Fatalf("empty file: %v", err)
	}
	if !big.Expired(now.Add(2*time.Hour), time.Hour) || big.Expired(now, time.Hour) {
		t.Error("Expired")
	}
}

func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-99/1000", "bytes */0", "Bytes 1-1/2", "bytes 9-", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseContentRange(s)
		if err != nil {
			return
		}
		if r.Total < 0 || r.First < 0 || (r.Total > 0 && (r.First > r.Last || r.Last >= r.Total)) {
			t.Fatalf("%q gave an impossible range %+v", s, r)
		}
		if again, err := ParseContentRange(r.String()); err != nil || again != r {
			t.Fatalf("%q: round trip %+v %v", s, again, err)
		}
	})
}

func FuzzParseHeaders(f *testing.F) {
	f.Add("Create-Session", "{7df0354d-249b-430f-820d-3d2a9bef4931}", "0x8020001F", "0x5", "213")
	f.Add("fragment", "7DF0354D-249B-430F-820D-3D2A9BEF4931", "80070057", "7", "0")
	f.Fuzz(func(t *testing.T, packet, session, code, ctx, received string) {
		if p, err := ParsePacketType(packet); err == nil {
			if again, err := ParsePacketType(p.String()); err != nil || again != p {
				t.Fatalf("packet %q round trip", packet)
			}
		}
		if id, err := ParseSessionID(session); err == nil {
			if again, err := ParseSessionID(id.String()); err != nil || again != id {
				t.Fatalf("session %q round trip", session)
			}
		}
		if e, err := ParseError(code, ctx); err == nil && e != nil {
			if again, err := ParseError(e.CodeHeader(), e.ContextHeader()); err != nil || *again != *e {
				t.Fatalf("error %q %q round trip", code, ctx)
			}
		}
		if n, err := ParseReceivedRange(received); err == nil && n < 0 {
			t.Fatalf("negative offset from %q", received)
		}
		SupportsProtocol15(session)
	})
}

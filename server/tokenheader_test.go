package server

import (
	"encoding/base64"
	"testing"
)

// TestTokenHeader: the value is the scheme, a space and the standard
// base64 of the token, for every length across the 48-byte chunks.
func TestTokenHeader(t *testing.T) {
	if h := tokenHeader("Negotiate", nil); len(h) != 1 || h[0] != "Negotiate" {
		t.Fatalf("%q", h)
	}
	tok := make([]byte, 300)
	for i := range tok {
		tok[i] = byte(i * 7)
	}
	for n := 0; n <= len(tok); n++ {
		want := "Negotiate " + base64.StdEncoding.EncodeToString(tok[:n])
		if h := tokenHeader("Negotiate", tok[:n]); len(h) != 1 || h[0] != want {
			t.Fatalf("%d bytes: %q, want %q", n, h, want)
		}
	}
}

package basic

import (
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	// RFC 7617 §2: Aladdin / open sesame.
	u, p, err := Parse("QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
	if err != nil || u != "Aladdin" || p != "open sesame" {
		t.Fatal(u, p, err)
	}
	// §2.1: test / 123£ in UTF-8.
	u, p, err = Parse("dGVzdDoxMjPCow==")
	if err != nil || u != "test" || p != "123£" {
		t.Fatal(u, p, err)
	}
	// passwords may contain colons
	if u, p, _ := Parse(Encode("a", "b:c")); u != "a" || p != "b:c" {
		t.Fatal(u, p)
	}
	for _, bad := range []string{"", "!!", Encode("nocolon", "")[:4], "YQ==", Encode("a\x01", "b"), "/w==" /* 0xff */, Encode(strings.Repeat("a", 5000), "")} {
		if _, _, err := Parse(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
	f.Add("dGVzdDoxMjPCow==")
	f.Fuzz(func(t *testing.T, s string) {
		u, p, err := Parse(s)
		if err == nil {
			if strings.Contains(u, ":") {
				t.Fatal("colon in user-id")
			}
			if u2, p2, err := Parse(Encode(u, p)); err != nil || u2 != u || p2 != p {
				t.Fatal("round trip")
			}
		}
	})
}

package authheader

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseCredentials(t *testing.T) {
	tests := []struct {
		in   string
		want Credentials
	}{
		{"Basic dXNlcjpwYXNz", Credentials{Scheme: "Basic", Token68: "dXNlcjpwYXNz"}},
		{"negotiate YII=", Credentials{Scheme: "negotiate", Token68: "YII="}},
		{"NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw==", Credentials{Scheme: "NTLM", Token68: "TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw=="}},
		{`Digest username="Mufasa", realm="a \"b\"",nc=00000001 , qop=auth`, Credentials{Scheme: "Digest", Params: []Param{
			{"username", "Mufasa"}, {"realm", `a "b"`}, {"nc", "00000001"}, {"qop", "auth"}}}},
		{"Bearer", Credentials{Scheme: "Bearer"}},
	}
	for _, tt := range tests {
		got, err := ParseCredentials(tt.in)
		if err != nil {
			t.Fatalf("%q: %v", tt.in, err)
		}
		if !reflect.DeepEqual(*got, tt.want) {
			t.Errorf("%q: got %+v want %+v", tt.in, *got, tt.want)
		}
	}
}

func TestParseCredentialsErrors(t *testing.T) {
	for _, in := range []string{"", " ", "Basic a b", `Digest a="x`, `Digest a=1, a=2`, "Digest a=1 b=2",
		"Digest " + strings.Repeat("a=1,", MaxParams+1), "Digest a=\"\x01\"", "=x"} {
		if _, err := ParseCredentials(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: got %v, want ErrMalformed", in, err)
		}
	}
	if _, err := ParseCredentials("Basic " + strings.Repeat("A", MaxHeaderLen)); !errors.Is(err, ErrTooLong) {
		t.Error("long header accepted")
	}
}

func TestParseChallenges(t *testing.T) {
	got, err := ParseChallenges([]string{
		`Negotiate, NTLM`,
		`Digest realm="x, y", nonce="n", algorithm=SHA-256, Basic realm="r", charset="UTF-8"`,
		`Negotiate oRQwEqADCgEAoQsGCSqGSIb3EgECAg==`,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []Challenge{
		{Scheme: "Negotiate"}, {Scheme: "NTLM"},
		{Scheme: "Digest", Params: []Param{{"realm", "x, y"}, {"nonce", "n"}, {"algorithm", "SHA-256"}}},
		{Scheme: "Basic", Params: []Param{{"realm", "r"}, {"charset", "UTF-8"}}},
		{Scheme: "Negotiate", Token68: "oRQwEqADCgEAoQsGCSqGSIb3EgECAg=="},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestQuoteRoundTrip(t *testing.T) {
	for _, s := range []string{"", "plain", `a"b\c`, "ümlaut"} {
		c, err := ParseCredentials("X p=" + Quote(s))
		if err != nil || c.Params[0].Value != s {
			t.Errorf("%q: %v %+v", s, err, c)
		}
	}
}

func FuzzParseCredentials(f *testing.F) {
	f.Add("Basic dXNlcjpwYXNz")
	f.Add(`Digest username="Mufasa", realm="x", nc=00000001, qop=auth`)
	f.Add("Negotiate YIIB==")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCredentials(s)
		if err == nil && c.Scheme == "" {
			t.Fatal("no scheme")
		}
	})
}

func FuzzParseChallenges(f *testing.F) {
	f.Add(`Negotiate, NTLM, Digest realm="x", nonce="y", Basic realm="r"`)
	f.Fuzz(func(t *testing.T, s string) {
		cs, err := ParseChallenges([]string{s})
		if err == nil {
			for _, c := range cs {
				if c.Scheme == "" {
					t.Fatal("no scheme")
				}
			}
		}
	})
}

package epa

import (
	"fmt"
	"testing"
)

// TestOutcomeTable walks every combination of enforcement, scenario,
// transport, front end with a known certificate, channel binding (right / wrong / none) and service binding
// (right / wrong / none sent by an aware client / client not aware) and
// checks the outcome the seed documents give, with the ServiceName value.
func TestOutcomeTable(t *testing.T) {
	p := Policy{ServiceNames: []string{"HTTP/localhost", "HTTP/localhost:8443"}}
	type cb int
	const (
		cbRight cb = iota
		cbWrong
		cbNone
	)
	type spn int
	const (
		spnRight spn = iota
		spnWrong
		spnEmpty   // aware client, no SPN: ServiceName ""
		spnUnaware // down-level client: ServiceName null
	)
	n := 0
	for _, enf := range []Enforcement{Never, WhenSupported, Always} {
		for _, sc := range []Scenario{TransportSelected, TrustedProxy} {
			for _, tls := range []bool{false, true} {
				for _, fe := range []bool{false, true} {
					for _, c := range []cb{cbRight, cbWrong, cbNone} {
						for _, s := range []spn{spnRight, spnWrong, spnEmpty, spnUnaware} {
							e := Evidence{TLS: tls, FrontEnd: fe, BindingSent: c != cbNone, BindingMatch: c == cbRight, SPNCapable: s != spnUnaware}
							switch s {
							case spnRight:
								e.SPN = "HTTP/LOCALHOST@EXAMPLE.TEST"
							case spnWrong:
								e.SPN = "HTTP/evil.example"
							}
							var want bool
							switch {
							case enf == Never:
								want = true
							case sc == TransportSelected && tls, // HTTPS cases 2-3
								sc == TrustedProxy && fe: // TLS at a front end whose certificate is known
								want = c == cbRight || (c == cbNone && enf == WhenSupported)
							default: // HTTP cases 2-4, and trusted proxy
								want = s == spnRight || (s == spnUnaware && enf == WhenSupported)
							}
							pp := p
							pp.Enforcement, pp.Scenario = enf, sc
							d := pp.Check(e)
							name := fmt.Sprintf("enf=%d sc=%d tls=%v fe=%v cb=%d spn=%d", enf, sc, tls, fe, c, s)
							if d.Allow != want {
								t.Errorf("%s: allow=%v want %v (%s)", name, d.Allow, want, d.Reason)
							}
							if !d.Allow && d.Reason == "" {
								t.Errorf("%s: refusal without a reason", name)
							}
							switch {
							case s == spnUnaware && d.ServiceName != nil:
								t.Errorf("%s: ServiceName %q, want null", name, *d.ServiceName)
							case s == spnEmpty && (d.ServiceName == nil || *d.ServiceName != ""):
								t.Errorf("%s: ServiceName want \"\"", name)
							case s == spnRight && (d.ServiceName == nil || *d.ServiceName != e.SPN):
								t.Errorf("%s: ServiceName want the SPN", name)
							}
							wantCB := "not_applicable"
							if tls || sc == TrustedProxy && fe {
								wantCB = "absent"
								if c == cbRight {
									wantCB = "verified"
								}
							}
							if d.ChannelBinding != wantCB {
								t.Errorf("%s: channel_binding %s want %s", name, d.ChannelBinding, wantCB)
							}
							n++
						}
					}
				}
			}
		}
	}
	if n != 288 {
		t.Fatal(n)
	}
}

func TestDefaultServiceNames(t *testing.T) {
	got := DefaultServiceNames([]string{"127.0.0.1:8080", "127.0.0.1:8443", "[::1]:0"}, []string{"web.example.test"})
	want := map[string]bool{"HTTP/localhost": true, "HTTP/localhost:8080": true, "HTTP/localhost:8443": true,
		"HTTP/web.example.test": true, "HTTP/web.example.test:8080": true, "HTTP/web.example.test:8443": true}
	if len(got) != len(want) {
		t.Fatalf("%v", got)
	}
	for _, g := range got {
		if !want[g] {
			t.Fatalf("unexpected %s in %v", g, got)
		}
	}
	for _, s := range []string{"never", "when_supported", "always", "x"} {
		if _, err := ParseEnforcement(s); (err != nil) != (s == "x") {
			t.Error(s)
		}
	}
}

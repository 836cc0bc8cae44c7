package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/cbt"
	"github.com/gatehouse-auth/gatehouse/epa"
)

func testCert(t *testing.T, cn string) *x509.Certificate {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

func bindingOf(t *testing.T, c *x509.Certificate) [16]byte {
	h, err := cbt.ServerEndPoint(c)
	if err != nil {
		t.Fatal(err)
	}
	return cbt.ForServerEndPoint(h).Hash()
}

// TestGuardFrontEnd: behind a trusted proxy with front_end_certificates,
// the client's binding is checked against those certificates under the
// enforcement, as on direct TLS; a request from anyone else is held to
// transport_selected; without front_end_certificates the SPN decides.
func TestGuardFrontEnd(t *testing.T) {
	fe1, fe2 := testCert(t, "front.example.test"), testCert(t, "front2.example.test")
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.5/32")}
	right, other, wrong := bindingOf(t, fe1), bindingOf(t, fe2), bindingOf(t, testCert(t, "relay.example.test"))
	for _, enf := range []epa.Enforcement{epa.WhenSupported, epa.Always} {
		p := epa.Policy{Enforcement: enf, Scenario: epa.TrustedProxy, ServiceNames: []string{"HTTP/localhost"}}
		g, err := newGuard(p, proxies, []*x509.Certificate{fe1, fe2}, nil)
		if err != nil {
			t.Fatal(err)
		}
		fromProxy := httptest.NewRequest("GET", "http://localhost/", nil)
		fromProxy.RemoteAddr = "10.0.0.5:4000"
		for _, tc := range []struct {
			name  string
			sent  [16]byte
			spn   string
			allow bool
			cb    string
		}{
			{"right", right, "HTTP/localhost", true, "verified"},
			{"second certificate", other, "HTTP/localhost", true, "verified"},
			{"right binding, SPN not checked", right, "HTTP/elsewhere", true, "verified"},
			{"wrong", wrong, "HTTP/localhost", false, "absent"},
			{"none", [16]byte{}, "HTTP/localhost", enf == epa.WhenSupported, "absent"},
			{"empty bindings", emptyBindings, "HTTP/localhost", enf == epa.WhenSupported, "absent"},
		} {
			d := g.check(fromProxy, tc.sent, true, tc.spn)
			if d.Allow != tc.allow || d.ChannelBinding != tc.cb {
				t.Errorf("enforcement %d, %s: allow=%v channel_binding=%s (%s), want %v %s", enf, tc.name, d.Allow, d.ChannelBinding, d.Reason, tc.allow, tc.cb)
			}
			if !d.Allow && !strings.Contains(d.Reason, "CN=front.example.test") {
				t.Errorf("%s: the refusal does not name the front end's certificate: %s", tc.name, d.Reason)
			}
		}
		// Not from a trusted proxy, over plain HTTP: transport_selected,
		// the service binding decides, whatever binding was sent.
		direct := httptest.NewRequest("GET", "http://localhost/", nil)
		direct.RemoteAddr = "10.0.0.9:4000"
		if d := g.check(direct, right, true, "HTTP/localhost"); !d.Allow || d.ChannelBinding != "not_applicable" {
			t.Errorf("direct, right SPN: %+v", d)
		}
		if d := g.check(direct, right, true, "HTTP/elsewhere"); d.Allow {
			t.Errorf("direct, wrong SPN admitted with a front end's binding: %+v", d)
		}
		// Without front_end_certificates: service binding only.
		spnOnly, _ := newGuard(p, proxies, nil, nil)
		if d := spnOnly.check(fromProxy, wrong, true, "HTTP/localhost"); !d.Allow || d.ChannelBinding != "not_applicable" {
			t.Errorf("SPN only, right SPN: %+v", d)
		}
		if d := spnOnly.check(fromProxy, right, true, "HTTP/elsewhere"); d.Allow {
			t.Errorf("SPN only, wrong SPN: %+v", d)
		}
	}
}

func TestLoadFrontEndCertificates(t *testing.T) {
	dir := t.TempDir()
	c := testCert(t, "front.example.test")
	// HAProxy's crt file: certificate, then the key.
	pemBytes := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("not parsed")})...)
	good := filepath.Join(dir, "fe.pem")
	os.WriteFile(good, pemBytes, 0o600)
	got, err := LoadFrontEndCertificates([]string{good})
	if err != nil || len(got) != 1 || !got[0].Equal(c) {
		t.Fatalf("%v %v", got, err)
	}
	bad := filepath.Join(dir, "key.pem")
	os.WriteFile(bad, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("x")}), 0o600)
	for _, p := range []string{bad, filepath.Join(dir, "missing.pem")} {
		if _, err := LoadFrontEndCertificates([]string{p}); err == nil {
			t.Errorf("%s: no error", p)
		}
	}
}

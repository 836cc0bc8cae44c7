package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCA{c, k}
}

// upnSAN is a SubjectAltName extension with a UPN otherName, as AD puts
// on smart-card logon certificates.
func upnSAN(upn string) pkix.Extension {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oidUPN)
			b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.UTF8String, func(b *cryptobyte.Builder) { b.AddBytes([]byte(upn)) })
			})
		})
	})
	return pkix.Extension{Id: asn1.ObjectIdentifier(oidSAN), Value: b.BytesOrPanic()}
}

func (ca *testCA) issue(t *testing.T, mod func(*x509.Certificate)) *x509.Certificate {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "alice"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	if mod != nil {
		mod(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &k.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

func TestCertificateAuthentication(t *testing.T) {
	ca, other := newTestCA(t, "Clients CA"), newTestCA(t, "Someone else")
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	g, err := New(Options{Store: testStore(t), Secret: make([]byte, 32), ClientCAs: pool,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
		[]Site{{Path: "/", Schemes: []string{"certificate"}}, {Path: "/either", Schemes: []string{"certificate", "basic"}}})
	if err != nil {
		t.Fatal(err)
	}
	h := g.Wrap(WhoAmI())
	get := func(path string, chain ...*x509.Certificate) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", path, nil)
		r.TLS = &tls.ConnectionState{PeerCertificates: chain}
		r.Header.Set("Accept", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for _, c := range []struct {
		name             string
		cert             *x509.Certificate
		user, dom, group string
	}{
		{"UPN first", ca.issue(t, func(c *x509.Certificate) {
			c.ExtraExtensions = []pkix.Extension{upnSAN("alice@EXAMPLE.TEST")}
		}), "alice@EXAMPLE.TEST", "EXAMPLE.TEST", "Admins"},
		{"email", ca.issue(t, func(c *x509.Certificate) { c.EmailAddresses = []string{"bob@example.test"} }), "bob@example.test", "example.test", ""},
		{"CN", ca.issue(t, nil), "alice", "", "Admins"},
	} {
		w := get("/", c.cert)
		if w.Code != 200 {
			t.Fatalf("%s: %d %s", c.name, w.Code, w.Body)
		}
		m := whoami(t, w)
		if m["user"] != c.user || m["domain"] != c.dom || m["scheme"] != "Certificate" || m["mechanism"] != "certificate" {
			t.Fatalf("%s: %v", c.name, m)
		}
		if gs, _ := m["groups"].([]any); c.group != "" && (len(gs) != 1 || gs[0] != c.group) {
			t.Fatalf("%s: groups %v", c.name, m["groups"])
		}
	}
	for _, c := range []struct {
		name string
		cert *x509.Certificate
	}{
		{"another CA", other.issue(t, nil)},
		{"server-only usage", ca.issue(t, func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth} })},
		{"expired", ca.issue(t, func(c *x509.Certificate) { c.NotAfter = time.Now().Add(-time.Minute) })},
		{"no name", ca.issue(t, func(c *x509.Certificate) { c.Subject = pkix.Name{Organization: []string{"x"}} })},
	} {
		if w := get("/", c.cert); w.Code != 403 {
			t.Errorf("%s: %d, want 403", c.name, w.Code)
		}
	}
	// No certificate: 403 saying one is needed (no HTTP challenge exists
	// for it); where Basic is offered too, the usual 401.
	if w := get("/"); w.Code != 403 || !strings.Contains(w.Body.String(), "client certificate") {
		t.Errorf("no certificate: %d %s", w.Code, w.Body)
	}
	if w := get("/either"); w.Code != 401 {
		t.Errorf("no certificate, Basic offered: %d", w.Code)
	}
}

func TestCertificateRequireAccount(t *testing.T) {
	ca := newTestCA(t, "CA")
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	g, err := New(Options{Store: testStore(t), Secret: make([]byte, 32), ClientCAs: pool, CertificateRequireAccount: true,
		CertificateMap: []string{"cn"}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
		[]Site{{Path: "/", Schemes: []string{"certificate"}}})
	if err != nil {
		t.Fatal(err)
	}
	h := g.Wrap(WhoAmI())
	for cn, want := range map[string]int{"alice": 200, "mallory": 403} {
		r := httptest.NewRequest("GET", "/", nil)
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{ca.issue(t, func(c *x509.Certificate) { c.Subject.CommonName = cn })}}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("%s: %d, want %d", cn, w.Code, want)
		}
	}
	if _, err := New(Options{Secret: make([]byte, 32)}, []Site{{Path: "/", Schemes: []string{"certificate"}}}); err == nil {
		t.Error("certificate authentication without client CAs accepted")
	}
}

func TestCertificateRevocation(t *testing.T) {
	ca := newTestCA(t, "CA")
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	good, revoked := ca.issue(t, nil), ca.issue(t, func(c *x509.Certificate) { c.Subject.CommonName = "bob" })
	mkCRL := func(next time.Time) *x509.RevocationList {
		der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
			Number: big.NewInt(1), ThisUpdate: time.Now().Add(-time.Hour), NextUpdate: next,
			RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: revoked.SerialNumber, RevocationTime: time.Now().Add(-time.Minute)}},
		}, ca.cert, ca.key)
		if err != nil {
			t.Fatal(err)
		}
		crl, _ := x509.ParseRevocationList(der)
		// through LoadCRLs, as PEM
		p := filepath.Join(t.TempDir(), "ca.crl")
		os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), 0o600)
		crls, err := LoadCRLs([]string{p})
		if err != nil || len(crls) != 1 || crls[0].Number.Cmp(crl.Number) != 0 {
			t.Fatalf("LoadCRLs: %v", err)
		}
		return crls[0]
	}
	for _, c := range []struct {
		name      string
		crl       *x509.RevocationList
		good, bad int
	}{
		{"current CRL", mkCRL(time.Now().Add(time.Hour)), 200, 403},
		{"expired CRL: fails closed", mkCRL(time.Now().Add(-time.Minute)), 403, 403},
	} {
		g, err := New(Options{Secret: make([]byte, 32), ClientCAs: pool, ClientCRLs: []*x509.RevocationList{c.crl},
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, []Site{{Path: "/", Schemes: []string{"certificate"}}})
		if err != nil {
			t.Fatal(err)
		}
		h := g.Wrap(WhoAmI())
		for cert, want := range map[*x509.Certificate]int{good: c.good, revoked: c.bad} {
			r := httptest.NewRequest("GET", "/", nil)
			r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != want {
				t.Errorf("%s, %s: %d, want %d", c.name, cert.Subject.CommonName, w.Code, want)
			}
		}
	}
	if _, err := LoadCRLs([]string{"/nonexistent.crl"}); err == nil {
		t.Error("missing CRL file accepted")
	}
}

// FuzzCertUPN: the SubjectAltName walk that finds the UPN otherName.
func FuzzCertUPN(f *testing.F) {
	f.Add(upnSAN("alice@EXAMPLE.TEST").Value)
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		certUPN(&x509.Certificate{Extensions: []pkix.Extension{{Id: asn1.ObjectIdentifier(oidSAN), Value: b}}})
	})
}

package interop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// TestClientCertificate: gatehouse get presents --cert/--key to a server
// that requires a client certificate, and fails clearly without one.
func TestClientCertificate(t *testing.T) {
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(name string, client bool) (certPEM, keyPEM []byte) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
		if client {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		} else {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			tmpl.DNSNames, tmpl.IPAddresses = []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")}
		}
		der, _ := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		kb, _ := x509.MarshalPKCS8PrivateKey(k)
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb})
	}
	srvCert, srvKey := issue("localhost", false)
	cliCert, cliKey := issue("alice", true)
	pair, _ := tls.X509KeyPair(srvCert, srvKey)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s\n", r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	s.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	s.StartTLS()
	defer s.Close()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o600)
		return p
	}
	caFile := write("ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
	u := strings.Replace(s.URL, "127.0.0.1", "localhost", 1)
	out, e, ok := get(t, nil, "--cacert", caFile, "--cert", write("c.pem", cliCert), "--key", write("k.pem", cliKey), u+"/")
	if !ok || out != "hello alice\n" {
		t.Fatalf("with a client certificate: %q %s", out, e)
	}
	if _, e, ok := get(t, nil, "--cacert", caFile, u+"/"); ok || e == "" {
		t.Errorf("without a client certificate: ok=%v %s", ok, e)
	}
	if _, e, ok := get(t, nil, "--cert", write("c2.pem", cliCert), u+"/"); ok || !strings.Contains(e, "--key") {
		t.Errorf("--cert without --key: %s", e)
	}
	// the server's certificate is verified unless -k
	if _, e, ok := get(t, nil, "--cert", write("c3.pem", cliCert), "--key", write("k3.pem", cliKey), u+"/"); ok || !strings.Contains(e, "certificate") {
		t.Errorf("unknown server CA accepted: %s", e)
	}
}

// TestCertificateAuthentication: `gatehouse serve` with client_ca and a
// site using certificate authentication, against curl (OpenSSL), Python
// requests and gatehouse get presenting client certificates.
func TestCertificateAuthentication(t *testing.T) {
	dir := t.TempDir()
	mkCA := func(name string) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name}, IsCA: true,
			BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
		c, _ := x509.ParseCertificate(der)
		return c, k, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	ca, caKey, caPEM := mkCA("Clients CA")
	rogue, rogueKey, _ := mkCA("Rogue CA")
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o600)
		return p
	}
	issue := func(name string, by *x509.Certificate, byKey *ecdsa.PrivateKey) (certFile, keyFile string) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
			EmailAddresses: []string{name + "@example.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
		der, _ := x509.CreateCertificate(rand.Reader, tmpl, by, &k.PublicKey, byKey)
		kb, _ := x509.MarshalPKCS8PrivateKey(k)
		return write(name+by.Subject.CommonName+".crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
			write(name+by.Subject.CommonName+".key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}))
	}
	write("clients-ca.pem", caPEM)
	daveCrt, daveKey := issue("dave", ca, caKey)
	daveBlock, _ := pem.Decode(mustRead(t, daveCrt))
	dave, _ := x509.ParseCertificate(daveBlock.Bytes)
	crlDER, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1),
		ThisUpdate: time.Now().Add(-time.Hour), NextUpdate: time.Now().Add(time.Hour),
		RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: dave.SerialNumber, RevocationTime: time.Now()}}}, ca, caKey)
	if err != nil {
		t.Fatal(err)
	}
	write("clients.crl", crlDER) // DER, as CAs publish them
	sdir := t.TempDir()
	addAccount(t, sdir, "alice", "alicepw", "Admins")
	s := serve(t, sdir, `
state_dir: ./state
accounts: ./gatehouse.db
listen:
  - addr: 127.0.0.1:0
    tls: {}
    client_certs: optional
    client_ca: `+filepath.Join(dir, "clients-ca.pem")+`
certificate: {map: [email], crl: [`+filepath.Join(dir, "clients.crl")+`]}
sites:
  - {path: /, auth: [anonymous]}
  - {path: /whoami, auth: [certificate]}
`, 1)
	aliceCrt, aliceKey := issue("alice", ca, caKey)
	rogueCrt, rogueKeyFile := issue("alice", rogue, rogueKey)
	curl := testenv.LookPath(t, "curl")
	out, err := run(t, nil, curl, "-sk", "--cert", aliceCrt, "--key", aliceKey, "-H", "Accept: application/json", s.HTTPS+"/whoami")
	if w := parseWhoami(t, out); err != nil || w.User != "alice@example.test" || w.Scheme != "Certificate" || len(w.Groups) != 1 || w.Groups[0] != "Admins" {
		t.Fatalf("curl with a client certificate: %v %s", err, out)
	}
	for name, args := range map[string][]string{
		"no certificate": nil,
		"another CA's":   {"--cert", rogueCrt, "--key", rogueKeyFile},
		"revoked":        {"--cert", daveCrt, "--key", daveKey},
	} {
		out, _ := run(t, nil, curl, append([]string{"-sk", "-o", "/dev/null", "-w", "%{http_code}"}, append(args, s.HTTPS+"/whoami")...)...)
		if out != "403" {
			t.Errorf("curl, %s: %s, want 403", name, out)
		}
	}
	if l := s.waitLog(func(l string) bool { return strings.Contains(l, "not trusted") }); !strings.Contains(l, "not trusted") {
		t.Errorf("the refused certificate is not logged:\n%s", l)
	}
	// Python requests (OpenSSL through urllib3)
	py := testenv.File(t, "/usr/bin/python3", "Debian's python3")
	out, err = run(t, nil, py, "-c", `
import sys, requests, urllib3
urllib3.disable_warnings()
r = requests.get(sys.argv[1], cert=(sys.argv[2], sys.argv[3]), verify=False, headers={"Accept": "application/json"})
print(r.status_code, r.json()["user"])
`, s.HTTPS+"/whoami", aliceCrt, aliceKey)
	if err != nil || strings.TrimSpace(out) != "200 alice@example.test" {
		t.Errorf("python requests with a client certificate: %v %s", err, out)
	}
	// our client
	out, e, ok := get(t, nil, "-k", "--cert", aliceCrt, "--key", aliceKey, "-H", "Accept: application/json", s.HTTPS+"/whoami")
	if w := parseWhoami(t, out); !ok || w.User != "alice@example.test" {
		t.Errorf("gatehouse get --cert: %q %s", out, e)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCertificateOCSP: client certificates checked with OpenSSL's OCSP
// responder (openssl ocsp -index), the URL taken from each certificate:
// good is let in, revoked refused, and no responder refuses (fail closed).
func TestCertificateOCSP(t *testing.T) {
	openssl := testenv.LookPath(t, "openssl")
	curl := testenv.LookPath(t, "curl")
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o600)
		return p
	}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "OCSP CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	ca, _ := x509.ParseCertificate(caDER)
	caFile := write("ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
	kb, _ := x509.MarshalPKCS8PrivateKey(caKey)
	caKeyFile := write("ca.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}))
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ocspURL := "http://" + ln.Addr().String()
	ln.Close()
	var index strings.Builder
	issue := func(name string, serial int64, revoked bool, responder string) (string, string) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), OCSPServer: []string{responder},
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
		der, _ := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		exp := tmpl.NotAfter.UTC().Format("060102150405Z")
		if revoked {
			fmt.Fprintf(&index, "R\t%s\t%s\t%X\tunknown\t/CN=%s\n", exp, time.Now().UTC().Format("060102150405Z"), serial, name)
		} else {
			fmt.Fprintf(&index, "V\t%s\t\t%X\tunknown\t/CN=%s\n", exp, serial, name)
		}
		kb, _ := x509.MarshalPKCS8PrivateKey(k)
		return write(name+".crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
			write(name+".key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}))
	}
	aliceCrt, aliceKey := issue("alice", 0x1001, false, ocspURL)
	daveCrt, daveKey := issue("dave", 0x1002, true, ocspURL)
	lostCrt, lostKey := issue("erin", 0x1003, false, "http://127.0.0.1:1") // a responder that is not there
	write("index.txt", []byte(index.String()))
	responder := exec.Command(openssl, "ocsp", "-index", filepath.Join(dir, "index.txt"), "-port", strconv.Itoa(ln.Addr().(*net.TCPAddr).Port),
		"-rsigner", caFile, "-rkey", caKeyFile, "-CA", caFile, "-ndays", "1")
	var rlog syncBuffer
	rlog.mu = make(chan struct{}, 1)
	responder.Stdout, responder.Stderr = &rlog, &rlog
	if err := responder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { responder.Process.Kill(); responder.Wait() })
	// (not probed with a connection: the responder serves one connection
	// at a time, and an empty one stalls it)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if strings.Contains(rlog.String(), "waiting for OCSP client connections") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("openssl ocsp did not start:\n%s", rlog.String())
		}
	}
	sdir := t.TempDir()
	s := serve(t, sdir, `
state_dir: ./state
accounts: ./gatehouse.db
listen: [{addr: 127.0.0.1:0, tls: {}, client_certs: optional, client_ca: `+caFile+`}]
certificate: {map: [cn], ocsp: true}
sites: [{path: /, auth: [certificate]}]
`, 1)
	for _, c := range []struct {
		name, crt, key, want string
	}{{"good", aliceCrt, aliceKey, "200"}, {"revoked", daveCrt, daveKey, "403"}, {"no responder", lostCrt, lostKey, "403"}} {
		out, _ := run(t, nil, curl, "-sk", "-o", "/dev/null", "-w", "%{http_code}", "--cert", c.crt, "--key", c.key, s.HTTPS+"/")
		if out != c.want {
			t.Errorf("%s: %s, want %s\nserver:\n%s\nresponder:\n%s", c.name, out, c.want, s.log, rlog.String())
		}
	}
	if l := s.waitLog(func(l string) bool { return strings.Contains(l, "revoked") }); !strings.Contains(l, "revoked") {
		t.Errorf("revocation not logged:\n%s", l)
	}
}

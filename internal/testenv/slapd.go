package testenv

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Slapd is a private OpenLDAP server (Debian's slapd) on a loopback port,
// LDAPS only, with suffix dc=example,dc=test, the memberof overlay and
// the core, cosine, nis and inetorgperson schemas. It starts empty but for
// the base entries ou=people and ou=groups; Add writes as the rootdn.
type Slapd struct {
	URL    string         // ldaps://127.0.0.1:PORT
	CAFile string         // PEM of the CA that issued its certificate
	CAs    *x509.CertPool // the same, as a pool
	Base   string         // dc=example,dc=test
	admin  *ldap.Conn
	out    *syncBuffer
}

// StartSlapd starts slapd for the test (stopped at its end) or calls
// Missing.
func StartSlapd(t testing.TB) *Slapd {
	t.Helper()
	slapd := File(t, "/usr/sbin/slapd", "OpenLDAP (Debian package slapd)")
	dir := t.TempDir()
	pool := writeTestCA(t, dir)
	os.MkdirAll(filepath.Join(dir, "db"), 0o700)
	conf := `include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
pidfile ` + dir + `/slapd.pid
TLSCertificateFile ` + dir + `/cert.pem
TLSCertificateKeyFile ` + dir + `/key.pem
database mdb
suffix "dc=example,dc=test"
rootdn "cn=admin,dc=example,dc=test"
rootpw admin-pw
directory ` + dir + `/db
overlay memberof
`
	os.WriteFile(filepath.Join(dir, "slapd.conf"), []byte(conf), 0o600)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	s := &Slapd{URL: "ldaps://127.0.0.1:" + port, CAFile: filepath.Join(dir, "ca.pem"), CAs: pool, Base: "dc=example,dc=test", out: &syncBuffer{}}
	cmd := exec.Command(slapd, "-f", filepath.Join(dir, "slapd.conf"), "-h", s.URL+"/", "-d", "0")
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s.admin != nil {
			s.admin.Close()
		}
		cmd.Process.Kill()
		cmd.Wait()
	})
	tc := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		s.admin, err = ldap.DialURL(s.URL, ldap.DialWithTLSConfig(tc))
		if err == nil {
			if err = s.admin.Bind("cn=admin,"+s.Base, "admin-pw"); err == nil {
				break
			}
			s.admin.Close()
			s.admin = nil
		}
		if time.Now().After(deadline) {
			t.Fatalf("slapd did not start: %v\n%s", err, s.out)
		}
	}
	s.Add(t, s.Base, map[string][]string{"objectClass": {"dcObject", "organization"}, "dc": {"example"}, "o": {"Example"}})
	s.Add(t, "ou=people,"+s.Base, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"people"}})
	s.Add(t, "ou=groups,"+s.Base, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"groups"}})
	return s
}

// Add writes an entry as the rootdn.
func (s *Slapd) Add(t testing.TB, dn string, attrs map[string][]string) {
	t.Helper()
	r := ldap.NewAddRequest(dn, nil)
	for k, v := range attrs {
		r.Attribute(k, v)
	}
	if err := s.admin.Add(r); err != nil {
		t.Fatalf("slapd: add %s: %v", dn, err)
	}
}

// AddUser adds uid=name,ou=people with password name+"-pw".
func (s *Slapd) AddUser(t testing.TB, name string) string {
	t.Helper()
	dn := "uid=" + name + ",ou=people," + s.Base
	s.Add(t, dn, map[string][]string{"objectClass": {"inetOrgPerson"}, "uid": {name}, "cn": {name}, "sn": {name}, "userPassword": {name + "-pw"}})
	return dn
}

// Admin is the rootdn's connection, for searches and changes.
func (s *Slapd) Admin() *ldap.Conn { return s.admin }

// writeTestCA writes ca.pem, cert.pem and key.pem (a server certificate
// for 127.0.0.1 and localhost) into dir and returns the CA as a pool.
func writeTestCA(t testing.TB, dir string) *x509.CertPool {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test LDAP CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalPKCS8PrivateKey(key)
	os.WriteFile(filepath.Join(dir, "ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644)
	os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600)
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return pool
}

// syncBuffer collects a process's output (written from exec's goroutines).
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

package directory

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// testCA writes a CA and a server certificate for 127.0.0.1 into dir and
// returns the CA's pool.
func testCA(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test LDAP CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalPKCS8PrivateKey(key)
	os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600)
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return pool
}

// TestOpenLDAP: a directory that is not Active Directory (OpenLDAP's
// slapd, started by the test on a loopback port, LDAPS): ann's groups come
// from memberOf (kept by the memberof overlay for groupOfNames), ben's —
// who is in no groupOfNames — from the posixGroup whose memberUid names
// him. Names are the groups' cn, without a domain; there are no SIDs.
func TestOpenLDAP(t *testing.T) {
	slapd := testenv.File(t, "/usr/sbin/slapd", "OpenLDAP (Debian package slapd)")
	dir := t.TempDir()
	pool := testCA(t, dir)
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
	url := "ldaps://127.0.0.1:" + port
	cmd := exec.Command(slapd, "-f", filepath.Join(dir, "slapd.conf"), "-h", url+"/", "-d", "0")
	out := &syncWriter{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	var admin *ldap.Conn
	tc := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		admin, err = ldap.DialURL(url, ldap.DialWithTLSConfig(tc))
		if err == nil {
			if err = admin.Bind("cn=admin,dc=example,dc=test", "admin-pw"); err == nil {
				break
			}
			admin.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("slapd did not start: %v\n%s", err, out)
		}
	}
	defer admin.Close()
	add := func(dn string, attrs map[string][]string) {
		t.Helper()
		r := ldap.NewAddRequest(dn, nil)
		for k, v := range attrs {
			r.Attribute(k, v)
		}
		if err := admin.Add(r); err != nil {
			t.Fatalf("add %s: %v", dn, err)
		}
	}
	add("dc=example,dc=test", map[string][]string{"objectClass": {"dcObject", "organization"}, "dc": {"example"}, "o": {"Example"}})
	add("ou=people,dc=example,dc=test", map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"people"}})
	add("ou=groups,dc=example,dc=test", map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"groups"}})
	for _, u := range []string{"ann", "ben", "reader"} {
		add("uid="+u+",ou=people,dc=example,dc=test", map[string][]string{"objectClass": {"inetOrgPerson"}, "uid": {u}, "cn": {u}, "sn": {u}, "userPassword": {u + "-pw"}})
	}
	add("cn=Engineers,ou=groups,dc=example,dc=test", map[string][]string{"objectClass": {"groupOfNames"}, "cn": {"Engineers"}, "member": {"uid=ann,ou=people,dc=example,dc=test"}})
	add("cn=Payroll,ou=groups,dc=example,dc=test", map[string][]string{"objectClass": {"groupOfNames"}, "cn": {"Payroll"}, "member": {"uid=ann,ou=people,dc=example,dc=test"}})
	add("cn=ops,ou=groups,dc=example,dc=test", map[string][]string{"objectClass": {"posixGroup"}, "cn": {"ops"}, "gidNumber": {"5000"}, "memberUid": {"ben"}})

	// the overlay keeps memberOf, so ann's groups come from it
	res, err := admin.Search(ldap.NewSearchRequest("uid=ann,ou=people,dc=example,dc=test", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false, "(objectClass=*)", []string{"memberOf"}, nil))
	if err != nil || len(res.Entries) != 1 || len(res.Entries[0].GetAttributeValues("memberOf")) != 2 {
		t.Fatalf("memberOf of ann: %v", err)
	}
	d, err := New(Config{URL: url, RootCAs: pool, Bind: BindSimple, BindDN: "uid=reader,ou=people,dc=example,dc=test", Password: "reader-pw"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	m, err := d.UserGroups("ann")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(m.Names)
	if !slices.Equal(m.Names, []string{"Engineers", "Payroll"}) || len(m.SIDs) != 0 || d.Domain() != "" {
		t.Errorf("ann (memberOf): %+v, domain %q", m, d.Domain())
	}
	if m, err := d.UserGroups("ben"); err != nil || !slices.Equal(m.Names, []string{"ops"}) {
		t.Errorf("ben (memberUid): %v %+v", err, m)
	}
	if _, err := d.UserGroups("nobody"); !errors.Is(err, ErrNoUser) {
		t.Errorf("unknown user: %v", err)
	}
	if m, err := d.ResolveSIDs([]string{"S-1-5-21-1-2-3-1105"}); err != nil || len(m.Names) != 0 {
		t.Errorf("SIDs on a directory without them: %v %+v", err, m)
	}
	bad, _ := New(Config{URL: url, RootCAs: pool, Bind: BindSimple, BindDN: "uid=reader,ou=people,dc=example,dc=test", Password: "wrong"})
	if err := bad.Check(); !errors.Is(err, ErrUnavailable) {
		t.Errorf("wrong password: %v", err)
	}
}

// syncWriter collects slapd's output (written from exec's goroutines).
type syncWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

package docs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"gopkg.in/yaml.v3"
)

// fixtures makes the files a config example names, so that `serve --check`
// can load it as it would on the reader's machine: a keytab with the
// principals the example names, a certificate and its key, a CA and a CRL,
// password files (0600), static roots. Absolute paths (/etc/gatehouse/…,
// /var/lib/gatehouse/…) are moved under the test's directory; relative
// ones are relative to the config file, which is written there too. Only
// values of the keys below are paths; nothing else of the example changes.
type fixtures struct {
	t   *testing.T
	dir string

	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caPEM  []byte
	keyPEM []byte

	principals []string // kerberos.service_principals and service_account
}

// config writes the example, its paths moved, and the files it names, and
// returns the config file's path.
func (f *fixtures) config(text string) string {
	f.t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		f.t.Fatalf("not YAML: %v\n%s", err, text)
	}
	f.findPrincipals(&doc)
	f.walk(&doc, "")
	out, err := yaml.Marshal(&doc)
	if err != nil {
		f.t.Fatal(err)
	}
	p := filepath.Join(f.dir, "gatehouse.yaml")
	if err := os.WriteFile(p, out, 0o600); err != nil {
		f.t.Fatal(err)
	}
	return p
}

func (f *fixtures) findPrincipals(n *yaml.Node) {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i].Value, n.Content[i+1]
			switch {
			case k == "service_principals" && v.Kind == yaml.SequenceNode:
				for _, s := range v.Content {
					f.principals = append(f.principals, s.Value)
				}
			case k == "service_account" && v.Kind == yaml.ScalarNode:
				f.principals = append(f.principals, v.Value)
			}
		}
	}
	for _, c := range n.Content {
		f.findPrincipals(c)
	}
}

// walk visits every mapping; parent is the key whose value n is.
func (f *fixtures) walk(n *yaml.Node, parent string) {
	if n.Kind == yaml.MappingNode {
		if parent == "tls" {
			f.tls(n)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i].Value, n.Content[i+1]
			each := func(make func(path string)) {
				switch v.Kind {
				case yaml.ScalarNode:
					if v.Value != "" {
						make(f.move(v))
					}
				case yaml.SequenceNode:
					for _, s := range v.Content {
						make(f.move(s))
					}
				}
			}
			switch {
			case k == "keytab":
				each(f.keytab)
			case k == "krb5_conf":
				each(func(p string) {
					f.write(p, "[libdefaults]\n default_realm = EXAMPLE.TEST\n[realms]\n EXAMPLE.TEST = {\n  kdc = 127.0.0.1:88\n }\n", 0o644)
				})
			case k == "client_ca" || k == "ca_file" || k == "front_end_certificates":
				each(func(p string) { f.write(p, string(f.caCert()), 0o644) })
			case k == "crl":
				each(f.crl)
			case k == "password_file":
				each(func(p string) { f.write(p, "example-password\n", 0o600) })
			case k == "upstream_credentials":
				each(func(p string) { f.write(p, "EXAMPLE\\svc-app\nexample-password\n", 0o600) })
			case k == "root":
				each(f.root)
			case k == "key" && parent == "identity_token":
				each(func(p string) { f.caCert(); f.write(p, string(f.keyPEM), 0o600) })
			case k == "ccache_dir":
				each(func(p string) {
					if err := os.MkdirAll(p, 0o700); err != nil {
						f.t.Fatal(err)
					}
				})
			case k == "state_dir" || k == "accounts":
				each(func(string) {})
			}
			f.walk(v, k)
		}
		return
	}
	for _, c := range n.Content {
		f.walk(c, parent)
	}
}

// move rewrites an absolute path to the same path under the test's
// directory and returns where the file is to be.
func (f *fixtures) move(v *yaml.Node) string {
	if filepath.IsAbs(v.Value) {
		v.Value = filepath.Join(f.dir, v.Value)
		return v.Value
	}
	return filepath.Join(f.dir, v.Value)
}

func (f *fixtures) write(path, content string, mode os.FileMode) {
	f.t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		f.t.Fatal(err)
	}
}

// tls: a listener's tls: {cert, key}, made as a pair.
func (f *fixtures) tls(n *yaml.Node) {
	var cert, key *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch n.Content[i].Value {
		case "cert":
			cert = n.Content[i+1]
		case "key":
			key = n.Content[i+1]
		}
	}
	if cert == nil || key == nil || cert.Value == "" {
		return
	}
	f.write(f.move(cert), string(f.caCert()), 0o644)
	f.write(f.move(key), string(f.keyPEM), 0o600)
}

// caCert is one self-signed certificate for localhost that is also a CA:
// the listeners' certificate, the client CA, the directory's CA.
func (f *fixtures) caCert() []byte {
	if f.caPEM != nil {
		return f.caPEM
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "localhost"},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		f.t.Fatal(err)
	}
	f.ca, _ = x509.ParseCertificate(der)
	f.caKey = key
	f.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	k, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		f.t.Fatal(err)
	}
	f.keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: k})
	return f.caPEM
}

func (f *fixtures) crl(path string) {
	f.caCert()
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:     big.NewInt(1),
		ThisUpdate: time.Now().Add(-time.Hour),
		NextUpdate: time.Now().Add(24 * time.Hour),
	}, f.ca, f.caKey)
	if err != nil {
		f.t.Fatal(err)
	}
	f.write(path, string(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})), 0o644)
}

// keytab holds AES keys for HTTP/localhost and every principal the example
// names (realm EXAMPLE.TEST unless the name has one).
func (f *fixtures) keytab(path string) {
	kt := keytab.New()
	names := append([]string{"HTTP/localhost"}, f.principals...)
	for _, p := range names {
		name, realm, ok := strings.Cut(p, "@")
		if !ok {
			realm = "EXAMPLE.TEST"
		}
		for _, et := range []int32{etypeID.AES256_CTS_HMAC_SHA1_96, etypeID.AES128_CTS_HMAC_SHA1_96} {
			if err := kt.AddEntry(name, realm, "example-password", time.Now(), 2, et); err != nil {
				f.t.Fatal(err)
			}
		}
	}
	b, err := kt.Marshal()
	if err != nil {
		f.t.Fatal(err)
	}
	f.write(path, string(b), 0o600)
}

// root: a static site's directory with an index.html, or the one file
// when the name has an extension.
func (f *fixtures) root(path string) {
	if filepath.Ext(path) != "" {
		f.write(path, "<p>hello</p>\n", 0o644)
		return
	}
	f.write(filepath.Join(path, "index.html"), "<p>hello</p>\n", 0o644)
}

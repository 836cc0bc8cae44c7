package daemon

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/gatehouse-auth/gatehouse/config"
)

// loadCert loads listener i's configured pair or, with none configured,
// the self-signed pair in the state directory, generating it on first use
// (in memory only when dry). Errors name the listener and the files.
func loadCert(i int, l config.Listener, cfg *config.Config, stateDir string, log *slog.Logger, dry bool) (tls.Certificate, error) {
	key := fmt.Sprintf("listen[%d] (%s).tls", i, l.Addr)
	if l.TLS.Cert != "" {
		crt, k := cfg.Path(l.TLS.Cert), cfg.Path(l.TLS.Key)
		c, err := tls.LoadX509KeyPair(crt, k)
		if err != nil {
			return c, fmt.Errorf("daemon: %s: cert %s, key %s: %w", key, crt, k, err)
		}
		return c, nil
	}
	crt, k := filepath.Join(stateDir, "server.crt"), filepath.Join(stateDir, "server.key")
	if _, err := os.Stat(crt); os.IsNotExist(err) {
		if dry {
			return tls.Certificate{}, nil // made at the first real start
		}
		if err := writeSelfSigned(crt, k); err != nil {
			return tls.Certificate{}, fmt.Errorf("daemon: %s: %w", key, err)
		}
		log.Info("generated a self-signed certificate", "cert", crt)
	}
	c, err := tls.LoadX509KeyPair(crt, k)
	if err != nil {
		return c, fmt.Errorf("daemon: %s: self-signed cert %s, key %s: %w", key, crt, k, err)
	}
	return c, nil
}

// leaf is the parsed leaf certificate of c, or nil.
func leaf(c tls.Certificate) *x509.Certificate {
	if c.Leaf != nil {
		return c.Leaf
	}
	if len(c.Certificate) == 0 {
		return nil
	}
	l, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return nil
	}
	return l
}

// selfSignedLifetime: long enough not to expire under a test server,
// short enough to be replaced now and then.
const selfSignedLifetime = 825 * 24 * time.Hour

func writeSelfSigned(crtPath, keyPath string) error {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("daemon: key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return fmt.Errorf("daemon: serial: %w", err)
	}
	host, _ := os.Hostname()
	names := []string{"localhost"}
	if host != "" && host != "localhost" {
		names = append(names, host)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "localhost", Organization: []string{"Gatehouse self-signed"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(selfSignedLifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              names,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return fmt.Errorf("daemon: certificate: %w", err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return fmt.Errorf("daemon: key: %w", err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	if err := os.WriteFile(crtPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	return nil
}

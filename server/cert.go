package server

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

// loadCert loads the configured pair or, with none configured, the
// self-signed pair in the state directory, generating it on first use.
func loadCert(t *config.TLS, cfg *config.Config, stateDir string, log *slog.Logger) (tls.Certificate, error) {
	if t.Cert != "" {
		c, err := tls.LoadX509KeyPair(cfg.Path(t.Cert), cfg.Path(t.Key))
		if err != nil {
			return c, fmt.Errorf("server: tls: %w", err)
		}
		return c, nil
	}
	crt, key := filepath.Join(stateDir, "server.crt"), filepath.Join(stateDir, "server.key")
	if _, err := os.Stat(crt); os.IsNotExist(err) {
		if err := writeSelfSigned(crt, key); err != nil {
			return tls.Certificate{}, err
		}
		log.Info("generated a self-signed certificate", "cert", crt)
	}
	c, err := tls.LoadX509KeyPair(crt, key)
	if err != nil {
		return c, fmt.Errorf("server: tls: %w", err)
	}
	return c, nil
}

// selfSignedLifetime: long enough not to expire under a test server,
// short enough to be replaced now and then.
const selfSignedLifetime = 825 * 24 * time.Hour

func writeSelfSigned(crtPath, keyPath string) error {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("server: key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return fmt.Errorf("server: serial: %w", err)
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
		return fmt.Errorf("server: certificate: %w", err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return fmt.Errorf("server: key: %w", err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	if err := os.WriteFile(crtPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	return nil
}

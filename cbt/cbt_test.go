package cbt

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"testing"
	"time"
)

func TestServerEndPoint(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "x"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), SignatureAlgorithm: x509.ECDSAWithSHA256}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	c, _ := x509.ParseCertificate(der)
	h, err := ServerEndPoint(c)
	want := sha256.Sum256(der)
	if err != nil || hex.EncodeToString(h) != hex.EncodeToString(want[:]) {
		t.Fatal(err)
	}
	// SHA-1 signed certificates are hashed with SHA-256 (RFC 5929 §4.1)
	c.SignatureAlgorithm = x509.SHA1WithRSA
	if h, _ := ServerEndPoint(c); hex.EncodeToString(h) != hex.EncodeToString(want[:]) {
		t.Fatal("SHA-1 cert not hashed with SHA-256")
	}
	c.SignatureAlgorithm = x509.UnknownSignatureAlgorithm
	if _, err := ServerEndPoint(c); err == nil {
		t.Fatal("unknown algorithm accepted")
	}
}

func TestEmptyBindingsHash(t *testing.T) {
	// The MD5 of an all-empty structure (five zero words), which some
	// clients send instead of leaving the field out.
	h := (&Bindings{}).Hash()
	if got := hex.EncodeToString(h[:]); got != "441018525208457705bf09a8ee3c1093" {
		t.Fatal(got)
	}
	a := ForServerEndPoint([]byte{1, 2, 3}).Hash()
	b := ForServerEndPoint([]byte{1, 2, 4}).Hash()
	if a == b {
		t.Fatal("hash ignores application data")
	}
}

package server

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Certificate authentication: IIS's client certificate mapping, portable.
// The TLS listener asks for a client certificate (client_certs) and names
// the CAs it trusts for them (client_ca); a site with "certificate" among
// its schemes verifies the chain (client-authentication usage, validity)
// and maps the certificate to a user name, from the first of these it
// finds (CertificateMap):
//
//	upn    the SAN otherName UPN (1.3.6.1.4.1.311.20.2.3), as AD smart cards carry
//	email  the first SAN rfc822Name
//	cn     the subject's common name
//
// A name that is a local account gets that account's groups; with
// CertificateRequireAccount only such names are accepted. Revocation:
// each certificate of the chain whose issuer has a CRL among
// ClientCRLs is checked against it (signed by that issuer, not past its
// next update: a stale CRL fails closed, as IIS's 403.13); with
// CertificateOCSP, the leaf is also checked with the OCSP responder its
// certificate names (ocsp.go).

// DefaultCertificateMap is the order names are taken from a certificate.
var DefaultCertificateMap = []string{"upn", "email", "cn"}

var oidUPN = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 20, 2, 3}
var oidSAN = asn1.ObjectIdentifier{2, 5, 29, 17}

// errNoClientCert: the site wants a certificate and the client sent none.
var errNoClientCert = errors.New("no client certificate")

type certAuth struct {
	crls           []*x509.RevocationList
	ocsp           *ocspChecker // nil: OCSP not used
	roots          *x509.CertPool
	sources        []string
	store          Accounts
	requireAccount bool
	now            func() time.Time
}

func newCertAuth(o *Options) (*certAuth, error) {
	if o.ClientCAs == nil {
		return nil, errors.New("certificate authentication needs Options.ClientCAs (the CAs of client certificates: a listener's client_ca)")
	}
	src := o.CertificateMap
	if len(src) == 0 {
		src = DefaultCertificateMap
	}
	for _, s := range src {
		if s != "upn" && s != "email" && s != "cn" {
			return nil, fmt.Errorf("Options.CertificateMap: %q: want upn, email or cn", s)
		}
	}
	if o.CertificateRequireAccount && o.Store == nil {
		return nil, errors.New("Options.CertificateRequireAccount (certificate.require_account) needs Options.Store")
	}
	var oc *ocspChecker
	if o.CertificateOCSP {
		oc = newOCSPChecker()
	}
	return &certAuth{ocsp: oc, crls: o.ClientCRLs, roots: o.ClientCAs, sources: src, store: o.Store, requireAccount: o.CertificateRequireAccount, now: time.Now}, nil
}

// identify verifies the client's certificate chain and maps it to an
// identity; errNoClientCert when there is none.
func (c *certAuth) identify(cs *tls.ConnectionState) (*Identity, error) {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return nil, errNoClientCert
	}
	leaf := cs.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, ic := range cs.PeerCertificates[1:] {
		inter.AddCert(ic)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots: c.roots, Intermediates: inter, CurrentTime: c.now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return nil, fmt.Errorf("certificate of %q not trusted: %v", leaf.Subject.CommonName, err)
	}
	if err := c.checkRevocation(chains[0]); err != nil {
		return nil, fmt.Errorf("certificate of %q: %v", leaf.Subject.CommonName, err)
	}
	if c.ocsp != nil && len(chains[0]) > 1 {
		if err := c.ocsp.check(leaf, chains[0][1], c.now()); err != nil {
			return nil, fmt.Errorf("certificate of %q: %v", leaf.Subject.CommonName, err)
		}
	}
	var user, src string
	for _, s := range c.sources {
		switch s {
		case "upn":
			user = certUPN(leaf)
		case "email":
			if len(leaf.EmailAddresses) > 0 {
				user = leaf.EmailAddresses[0]
			}
		case "cn":
			user = leaf.Subject.CommonName
		}
		if user != "" {
			src = s
			break
		}
	}
	if user == "" {
		return nil, fmt.Errorf("certificate of %q has no %s to map to a user", leaf.Subject, strings.Join(c.sources, ", "))
	}
	id := &Identity{User: user, Name: user, Scheme: "Certificate", Mechanism: "certificate", ChannelBinding: "absent"}
	if src != "cn" {
		if n, d, ok := strings.Cut(user, "@"); ok {
			id.Name, id.Domain = n, d
		}
	}
	if c.store != nil {
		if cr, err := c.store.Lookup(id.Name); err == nil {
			// a session of this identity is revalidated against the
			// account (its groups; deleted: the session ends and the next
			// request maps the certificate afresh)
			id.Groups, id.account = cr.Groups, "local"
		} else if c.requireAccount {
			return nil, fmt.Errorf("certificate maps to %q, which is not a local account", id.Name)
		}
	}
	return id, nil
}

// checkRevocation looks up each certificate of chain (leaf first, root
// last) in the CRLs of its issuer.
func (c *certAuth) checkRevocation(chain []*x509.Certificate) error {
	for i := 0; i+1 < len(chain); i++ {
		cert, issuer := chain[i], chain[i+1]
		for _, crl := range c.crls {
			if !bytes.Equal(crl.RawIssuer, issuer.RawSubject) || crl.CheckSignatureFrom(issuer) != nil {
				continue
			}
			if !crl.NextUpdate.IsZero() && c.now().After(crl.NextUpdate) {
				return fmt.Errorf("the CRL of %q expired on %s (revocation cannot be checked)", issuer.Subject.CommonName, crl.NextUpdate.Format(time.RFC3339))
			}
			for _, e := range crl.RevokedCertificateEntries {
				if e.SerialNumber.Cmp(cert.SerialNumber) == 0 {
					return fmt.Errorf("revoked on %s by %q", e.RevocationTime.Format(time.RFC3339), issuer.Subject.CommonName)
				}
			}
		}
	}
	return nil
}

// LoadCRLs reads certificate revocation lists, PEM ("X509 CRL") or DER.
func LoadCRLs(paths []string) ([]*x509.RevocationList, error) {
	var out []*x509.RevocationList
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("server: CRL: %w", err)
		}
		ders := [][]byte{b}
		if bytes.Contains(b, []byte("-----BEGIN")) {
			ders = nil
			for rest := b; ; {
				var blk *pem.Block
				if blk, rest = pem.Decode(rest); blk == nil {
					break
				}
				if blk.Type == "X509 CRL" {
					ders = append(ders, blk.Bytes)
				}
			}
			if len(ders) == 0 {
				return nil, fmt.Errorf("server: CRL %s: no X509 CRL block", p)
			}
		}
		for _, d := range ders {
			crl, err := x509.ParseRevocationList(d)
			if err != nil {
				return nil, fmt.Errorf("server: CRL %s: %w", p, err)
			}
			out = append(out, crl)
		}
	}
	return out, nil
}

// certUPN returns the UPN otherName of the certificate's SAN, "" if none.
//
//	GeneralName ::= CHOICE { otherName [0] IMPLICIT SEQUENCE {
//	    type-id OBJECT IDENTIFIER, value [0] EXPLICIT ANY }, ... }
func certUPN(c *x509.Certificate) string {
	for _, e := range c.Extensions {
		if !e.Id.Equal(oidSAN) {
			continue
		}
		s := cryptobyte.String(e.Value)
		var names cryptobyte.String
		if !s.ReadASN1(&names, cbasn1.SEQUENCE) {
			return ""
		}
		for !names.Empty() {
			var gn cryptobyte.String
			var tag cbasn1.Tag
			if !names.ReadAnyASN1(&gn, &tag) {
				return ""
			}
			if tag != cbasn1.Tag(0).ContextSpecific().Constructed() {
				continue
			}
			var oid asn1.ObjectIdentifier
			var val, str cryptobyte.String
			if !gn.ReadASN1ObjectIdentifier(&oid) || !oid.Equal(oidUPN) ||
				!gn.ReadASN1(&val, cbasn1.Tag(0).ContextSpecific().Constructed()) ||
				!val.ReadASN1(&str, cbasn1.UTF8String) {
				continue
			}
			return string(str)
		}
	}
	return ""
}

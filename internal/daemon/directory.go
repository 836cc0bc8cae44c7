package daemon

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/go-ldap/ldap/v3"
	krbclient "github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/gatehouse-auth/gatehouse/client"
	"github.com/gatehouse-auth/gatehouse/config"
	"github.com/gatehouse-auth/gatehouse/directory"
	"github.com/gatehouse-auth/gatehouse/server"
)

// newDirectory builds the directory of cfg.Directory and tries it once:
// a configuration the directory refuses (its certificate, the bind) stops
// the start with one line saying so; a directory that does not answer is
// logged and tried again on each lookup (requests whose rules need groups
// are refused meanwhile). With connect false (gatehouse serve --check) the
// files are read and the settings checked, and the directory is not asked.
func newDirectory(cfg *config.Config, kt *keytab.Keytab, krb5Conf string, log *slog.Logger, connect bool) (*directory.Directory, error) {
	dc := cfg.Directory
	c := directory.Config{URL: dc.URL, StartTLS: dc.StartTLS, Bind: dc.Bind, BindDN: dc.BindDN, BaseDN: dc.BaseDN, CacheTTL: dc.Cache, Logger: log}
	var err error
	if dc.CAFile != "" {
		if c.RootCAs, err = directory.LoadCAFile(cfg.Path(dc.CAFile)); err != nil {
			return nil, fmt.Errorf("daemon: %w", err)
		}
	}
	switch dc.Bind {
	case directory.BindSimple:
		if c.Password, err = directory.ReadPasswordFile(cfg.Path(dc.PasswordFile)); err != nil {
			return nil, fmt.Errorf("daemon: %w", err)
		}
	case directory.BindKerberos:
		kcfg, err := client.LoadKrb5Config(krb5Conf)
		if err != nil {
			return nil, fmt.Errorf("daemon: directory.bind kerberos: %w", err)
		}
		name, realm, err := serviceAccountName(cfg, kt)
		if err != nil {
			return nil, err
		}
		c.Kerberos = krbclient.NewWithKeytab(name, realm, kt, kcfg, krbclient.DisablePAFXFAST(true))
	}
	d, err := directory.New(c)
	if err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	if !connect {
		return d, nil
	}
	if err := d.Check(); err != nil {
		if refusedConfig(err) {
			return nil, fmt.Errorf("daemon: %w", err)
		}
		log.Error("directory unavailable; rules that need groups refuse requests until it answers", "directory", dc.URL, "error", err)
	} else {
		log.Info("directory", "url", dc.URL, "domain", d.Domain())
	}
	return d, nil
}

// refusedConfig: an error that retrying will not cure (the certificate
// is not trusted, the bind is refused).
func refusedConfig(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var le *ldap.Error
	if errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) {
		return true
	}
	if errors.As(err, &le) {
		switch le.ResultCode {
		case ldap.LDAPResultInvalidCredentials, ldap.LDAPResultStrongAuthRequired, ldap.LDAPResultAuthMethodNotSupported,
			ldap.LDAPResultInappropriateAuthentication, ldap.LDAPResultConfidentialityRequired:
			return true
		}
	}
	return strings.Contains(err.Error(), "no base DN")
}

// serviceAccountName is kerberos.service_account as name and realm (the
// realm from the keytab when the name has none).
func serviceAccountName(cfg *config.Config, kt *keytab.Keytab) (string, string, error) {
	name, realm, _ := strings.Cut(cfg.Kerberos.ServiceAccount, "@")
	if realm == "" {
		for _, e := range kt.Entries {
			if strings.Join(e.Principal.Components, "/") == name {
				realm = e.Principal.Realm
				break
			}
		}
	}
	if realm == "" {
		return "", "", fmt.Errorf("daemon: kerberos.service_account %q: no realm, and no keytab entry names it", cfg.Kerberos.ServiceAccount)
	}
	return name, realm, nil
}

// newBasicKDC builds basic.verifier: kerberos.
func newBasicKDC(cfg *config.Config, kt *keytab.Keytab, krb5Conf string) (*server.KDCVerifier, error) {
	kcfg, err := client.LoadKrb5Config(krb5Conf)
	if err != nil {
		return nil, fmt.Errorf("daemon: basic.verifier kerberos: %w", err)
	}
	spn := ""
	if len(cfg.Kerberos.ServicePrincipals) > 0 {
		spn = cfg.Kerberos.ServicePrincipals[0]
	}
	return server.NewKDCVerifier(kcfg, kt, spn, "")
}

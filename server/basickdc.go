package server

import (
	"errors"
	"fmt"
	"strings"

	krbclient "github.com/jcmturner/gokrb5/v8/client"
	krbconfig "github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/krberror"
)

// KDCVerifier checks a Basic password with the KDC, as pam_krb5 and
// mod_auth_gssapi's GssapiBasicAuth do: an AS exchange with the password
// gets a TGT, then the TGT gets a ticket for this service, which must
// decrypt with the service's keytab. The second step is what makes a
// forged KDC answer worthless: whoever answers the AS exchange for the
// KDC can make any password work, but cannot make a ticket in a key only
// the real KDC and this service have.
type KDCVerifier struct {
	krb5  *krbconfig.Config
	kt    *keytab.Keytab
	spn   string // this service's principal, e.g. HTTP/www.example.test
	realm string // default realm for names without one
}

// Errors of Verify: ErrKDCRefused for credentials the KDC refuses (401),
// ErrKDCUnavailable when no KDC answered (503).
var (
	ErrKDCRefused     = errors.New("server: the KDC refused the credentials")
	ErrKDCUnavailable = errors.New("server: the KDC cannot be reached")
)

// NewKDCVerifier: spn is this service's principal (its keys are in kt);
// realm the realm of names given without one (default: krb5.conf's).
func NewKDCVerifier(krb5 *krbconfig.Config, kt *keytab.Keytab, spn, realm string) (*KDCVerifier, error) {
	if realm == "" {
		realm = krb5.LibDefaults.DefaultRealm
	}
	if realm == "" {
		return nil, errors.New("server: basic.verifier kerberos: no realm (set default_realm in krb5.conf)")
	}
	if spn == "" {
		for _, e := range kt.Entries {
			if len(e.Principal.Components) > 0 && e.Principal.Components[0] != "krbtgt" {
				spn = strings.Join(e.Principal.Components, "/")
				break
			}
		}
	}
	if spn == "" {
		return nil, errors.New("server: basic.verifier kerberos: the keytab names no service")
	}
	return &KDCVerifier{krb5: krb5, kt: kt, spn: spn, realm: realm}, nil
}

// Verify checks user's password and returns the principal's name and
// realm as the KDC spells them. user is "name", "name@REALM" or
// "DOMAIN\name" (the domain is then the default realm's).
func (k *KDCVerifier) Verify(user, password string) (name, realm string, err error) {
	name, realm = user, k.realm
	if i := strings.IndexByte(user, '\\'); i >= 0 {
		name = user[i+1:]
	} else if i := strings.LastIndexByte(user, '@'); i >= 0 {
		name, realm = user[:i], strings.ToUpper(user[i+1:])
	}
	if name == "" || realm == "" || strings.ContainsAny(name, "/\x00") {
		return "", "", fmt.Errorf("%w: not a user name: %q", ErrKDCRefused, user)
	}
	cl := krbclient.NewWithPassword(name, realm, password, k.krb5, krbclient.DisablePAFXFAST(true))
	defer cl.Destroy()
	if err := cl.Login(); err != nil {
		return "", "", kdcErr(err)
	}
	tkt, _, err := cl.GetServiceTicket(k.spn)
	if err != nil {
		return "", "", kdcErr(err)
	}
	if err := tkt.DecryptEncPart(k.kt, nil); err != nil {
		return "", "", fmt.Errorf("%w: the ticket for %s does not decrypt with the keytab (a forged KDC answer, or a keytab out of date): %v", ErrKDCRefused, k.spn, err)
	}
	p := tkt.DecryptedEncPart
	if !strings.EqualFold(p.CName.PrincipalNameString(), name) || !strings.EqualFold(p.CRealm, realm) {
		return "", "", fmt.Errorf("%w: the ticket is for %s@%s, not %s@%s", ErrKDCRefused, p.CName.PrincipalNameString(), p.CRealm, name, realm)
	}
	return p.CName.PrincipalNameString(), p.CRealm, nil
}

// kdcErr sorts gokrb5's errors: no KDC reachable is ErrKDCUnavailable,
// everything else (wrong password, unknown or disabled user, a realm
// without KDC) a refusal. The password is never in gokrb5's messages.
func kdcErr(err error) error {
	var ke krberror.Krberror
	if errors.As(err, &ke) && ke.RootCause == krberror.NetworkingError {
		return fmt.Errorf("%w: %v", ErrKDCUnavailable, err)
	}
	return fmt.Errorf("%w: %v", ErrKDCRefused, err)
}

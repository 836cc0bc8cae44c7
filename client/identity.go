package client

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strings"

	krbclient "github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/keytab"
)

// Identity is an implicit identity of a Transport's own, in place of the
// process's (KRB5CCNAME, KRB5_CLIENT_KTNAME, NTLM_USER_FILE): what BITS
// calls a helper token, a service transferring for a user with the user's
// credentials. With an Identity the process's environment is never
// consulted, so a worker never falls back to its own tickets.
//
// The contents, not paths, are kept: a job seals them in its store when
// it is added.
type Identity struct {
	CCache []byte `json:"ccache,omitempty"` // a FILE ccache's contents
	// Keytab and Principal: tickets got (and got again when they expire)
	// from the keytab's key for Principal ("user@REALM"; empty: the
	// keytab's first entry).
	Keytab    []byte `json:"keytab,omitempty"`
	Principal string `json:"principal,omitempty"`
	// NTLMUsers is an NTLM user file (gss-ntlmssp's NTLM_USER_FILE
	// formats); NTLMUser picks its line (empty: the only line).
	NTLMUsers []byte `json:"ntlm_users,omitempty"`
	NTLMUser  string `json:"ntlm_user,omitempty"`
}

// ErrNoIdentity is returned when a Transport's Identity has no
// credentials for a mechanism.
var ErrNoIdentity = errors.New("client: the job's identity has no credentials for this mechanism")

// identityKerberos logs in from the Identity's ccache or keytab.
func identityKerberos(id *Identity) (*krbclient.Client, *credentials.CCache, error) {
	cfg, err := krb5Config()
	if err != nil {
		return nil, nil, err
	}
	switch {
	case len(id.CCache) > 0:
		cc, err := parseCCache(id.CCache)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: the job's ccache: %v", ErrNoKerberos, err)
		}
		cl, err := krbclient.NewFromCCache(cc, cfg, krbclient.DisablePAFXFAST(true))
		return cl, cc, err
	case len(id.Keytab) > 0:
		kt := keytab.New()
		if err := kt.Unmarshal(id.Keytab); err != nil {
			return nil, nil, fmt.Errorf("%w: the job's keytab: %v", ErrNoKerberos, err)
		}
		if len(kt.Entries) == 0 {
			return nil, nil, fmt.Errorf("%w: the job's keytab is empty", ErrNoKerberos)
		}
		user, realm, _ := strings.Cut(id.Principal, "@")
		if user == "" {
			p := kt.Entries[0].Principal
			user, realm = strings.Join(p.Components, "/"), p.Realm
		}
		if realm == "" {
			realm = cfg.LibDefaults.DefaultRealm
		}
		// gokrb5 logs in again from the keytab when the TGT expires.
		cl := krbclient.NewWithKeytab(user, realm, kt, cfg, krbclient.DisablePAFXFAST(true))
		if err := cl.Login(); err != nil {
			return nil, nil, fmt.Errorf("client: kerberos login from the job's keytab as %s@%s: %w", user, realm, err)
		}
		return cl, nil, nil
	}
	return nil, nil, fmt.Errorf("%w (no ccache or keytab)", ErrNoKerberos)
}

// identityNTLM reads the Identity's NTLM user: NTLMUser's line, else the
// only line.
func identityNTLM(id *Identity) (*Credentials, error) {
	if len(id.NTLMUsers) == 0 {
		return nil, fmt.Errorf("%w (no NTLM user file)", ErrNoImplicitNTLM)
	}
	var all []*Credentials
	sc := bufio.NewScanner(bytes.NewReader(id.NTLMUsers))
	for line := 1; sc.Scan(); line++ {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		c, name, err := parseUserLine(l)
		if err != nil {
			return nil, fmt.Errorf("client: the job's NTLM user file line %d: %w", line, err)
		}
		if id.NTLMUser != "" && strings.EqualFold(name, id.NTLMUser) {
			return c, nil
		}
		all = append(all, c)
	}
	if len(all) == 1 {
		return all[0], nil
	}
	return nil, fmt.Errorf("%w: no entry for %q among the %d of the job's NTLM user file", ErrNoImplicitNTLM, id.NTLMUser, len(all))
}

// Check parses what the Identity holds (without logging in), so that a
// job is refused when it is added rather than when it runs.
func (id *Identity) Check() error {
	if len(id.CCache) > 0 {
		if _, err := parseCCache(id.CCache); err != nil {
			return fmt.Errorf("client: ccache: %w", err)
		}
	}
	if len(id.Keytab) > 0 {
		kt := keytab.New()
		if err := kt.Unmarshal(id.Keytab); err != nil {
			return fmt.Errorf("client: keytab: %w", err)
		}
	}
	if len(id.NTLMUsers) > 0 {
		if _, err := identityNTLM(id); err != nil {
			return err
		}
	}
	return nil
}

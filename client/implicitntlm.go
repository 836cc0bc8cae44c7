package client

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
)

// Implicit NTLM credentials: what a Windows client takes from the logged-on
// user, a Linux user keeps where gss-ntlmssp looks (gssntlmssp(8)):
// NTLM_USER_FILE names a file of users, the user is NTLMUSER, else USER.
// Two line formats, as gss-ntlmssp reads them:
//
//	DOMAIN:user:password                      (Heimdal's NTLM backend)
//	user:uid:LM hash:NT hash:[flags]:LCT-...  (Samba's smbpasswd; only the NT hash is used)
//
// Like the Kerberos ccache, they go only to hosts in ImplicitAllow.

// ErrNoImplicitNTLM is returned when no implicit NTLM credentials are set.
var ErrNoImplicitNTLM = errors.New("client: no implicit NTLM credentials (NTLM_USER_FILE)")

// maxUserFile bounds the NTLM_USER_FILE read.
const maxUserFile = 1 << 20

// implicitNTLM reads the current user's entry of NTLM_USER_FILE.
func implicitNTLM() (*Credentials, error) {
	path := os.Getenv("NTLM_USER_FILE")
	if path == "" {
		return nil, ErrNoImplicitNTLM
	}
	user := os.Getenv("NTLMUSER")
	if user == "" {
		user = os.Getenv("USER")
	}
	if user == "" {
		return nil, fmt.Errorf("%w: neither NTLMUSER nor USER is set", ErrNoImplicitNTLM)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("client: NTLM_USER_FILE: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > maxUserFile {
		return nil, fmt.Errorf("client: NTLM_USER_FILE %s is larger than %d bytes", path, maxUserFile)
	}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		c, name, err := parseUserLine(line)
		if err != nil {
			return nil, fmt.Errorf("client: NTLM_USER_FILE %s line %d: %w", path, n, err)
		}
		if strings.EqualFold(name, user) {
			return c, nil
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("client: NTLM_USER_FILE: %w", err)
	}
	return nil, fmt.Errorf("%w: no entry for %q in %s", ErrNoImplicitNTLM, user, path)
}

// parseUserLine reads one line of either format; name is the user name
// to match. The password or hash is never put in an error.
func parseUserLine(line string) (c *Credentials, name string, err error) {
	f := strings.Split(line, ":")
	if len(f) >= 6 && len(f[3]) == 32 { // smbpasswd
		h, err := hex.DecodeString(f[3])
		if err != nil {
			return nil, "", errors.New("smbpasswd NT hash is not hex")
		}
		var nt [16]byte
		copy(nt[:], h)
		u := f[0]
		if d := os.Getenv("NETBIOS_DOMAIN_NAME"); d != "" {
			u = d + `\` + u
		}
		return &Credentials{User: u, NTHash: &nt}, f[0], nil
	}
	dom, rest, ok := strings.Cut(line, ":")
	user, pw, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || user == "" {
		return nil, "", errors.New(`want DOMAIN:user:password or an smbpasswd line`)
	}
	u := user
	if dom != "" {
		u = dom + `\` + user
	}
	return &Credentials{User: u, Password: pw}, user, nil
}

// withImplicitNTLM returns tg with the implicit NTLM credentials when the
// target may receive implicit credentials and there are some, else nil
// and why not.
func (t *Transport) withImplicitNTLM(req *http.Request, tg *target) (*target, error) {
	if err := t.implicitAllowed(req, tg); err != nil {
		return nil, err
	}
	t.krbMu.Lock()
	if !t.ntlmLoaded {
		if t.Identity != nil {
			t.ntlmImplicit, t.ntlmErr = identityNTLM(t.Identity) // never the process's own
		} else {
			t.ntlmImplicit, t.ntlmErr = implicitNTLM()
		}
		t.ntlmLoaded = true
	}
	c, err := t.ntlmImplicit, t.ntlmErr
	t.krbMu.Unlock()
	if err != nil {
		return nil, err
	}
	cp := *tg
	cp.creds = c
	return &cp, nil
}

package client

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/gatehouse-auth/gatehouse/authheader"
	"github.com/gatehouse-auth/gatehouse/ntlm"
	"github.com/gatehouse-auth/gatehouse/spnego"
)

// splitUser reads "DOMAIN\user" or "user@domain" (NTLM wants them apart).
func splitUser(u string) (user, domain string) {
	if d, n, ok := strings.Cut(u, `\`); ok {
		return n, d
	}
	if n, d, ok := strings.Cut(u, "@"); ok {
		return n, d
	}
	return u, ""
}

func ntHash(c *Credentials) []byte {
	if c.NTHash == nil {
		return nil
	}
	return c.NTHash[:]
}

// handshake is a connection-bound exchange in progress: an
// *ntlm.Initiator for the NTLM scheme, an *spnego.Initiator (NTLM inside)
// for Negotiate.
type handshake interface {
	Step(in []byte) (out []byte, done bool, err error)
}

// answerNTLM runs the NTLM legs, bare (scheme "NTLM") or inside SPNEGO
// (scheme "Negotiate", for servers that offer only Negotiate when no
// Kerberos can be had): no token in the challenge starts a handshake, a
// token answers it. "" means NTLM does not apply here. The check returned
// verifies the server's last SPNEGO token (its mechListMIC) when it sends
// one.
func (t *Transport) answerNTLM(req *http.Request, resp *http.Response, tg *target, st *hostState, ch *authheader.Challenge, scheme string) (string, func(*http.Response) error, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ch.Token68 == "" {
		user, domain := splitUser(tg.creds.User)
		ni := ntlm.NewInitiator(ntlm.ClientConfig{
			User: user, Domain: domain, Password: tg.creds.Password, Workstation: workstation(),
			NTHash:     ntHash(tg.creds),
			TargetName: t.spnFor(req, tg), ChannelBindings: bindings(resp),
		})
		var hs handshake = ni
		if scheme == "Negotiate" {
			hs = spnego.NewInitiator(spnego.Mechanism{OID: spnego.OIDNTLM, New: func() (spnego.Context, error) { return ni, nil }})
		}
		out, _, err := hs.Step(nil)
		if err != nil {
			return "", nil, err
		}
		if st.conn == nil {
			st.conn = t.dedicated()
		}
		st.hs, st.hsScheme = hs, scheme
		st.scheme, st.basic, st.digest = "", "", nil
		return tokenValue(scheme, out), nil, nil
	}
	hs := st.hs
	if hs == nil || st.hsScheme != scheme {
		return "", nil, nil
	}
	st.hs = nil
	tok, err := decodeToken(ch)
	if err != nil {
		return "", nil, err
	}
	out, _, err := hs.Step(tok)
	if err != nil {
		return "", nil, fmt.Errorf("client: %s: %w", scheme, err)
	}
	st.scheme = NTLM
	var check func(*http.Response) error
	if ini, ok := hs.(*spnego.Initiator); ok {
		check = func(r *http.Response) error {
			v := r.Header.Get("WWW-Authenticate")
			if v == "" {
				return nil // the server sent no final token: nothing to check
			}
			return finishNegotiate(ini, v)
		}
	}
	return tokenValue(scheme, out), check, nil
}

func workstation() string {
	h, _ := osHostname()
	h, _, _ = strings.Cut(h, ".")
	return strings.ToUpper(h)
}

package client

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/gatehouse-auth/gatehouse/authheader"
	"github.com/gatehouse-auth/gatehouse/spnego"
)

// tokenValue and decodeToken are the one place the client encodes and
// decodes the tokens of Negotiate and NTLM headers.
func tokenValue(scheme string, tok []byte) string {
	return scheme + " " + base64.StdEncoding.EncodeToString(tok)
}

func decodeToken(ch *authheader.Challenge) ([]byte, error) {
	tok, err := base64.StdEncoding.DecodeString(ch.Token68)
	if err != nil {
		return nil, fmt.Errorf("client: %s token is not base64: %w", ch.Scheme, err)
	}
	return tok, nil
}

// finishNegotiate steps a SPNEGO initiator with the token of the server's
// final WWW-Authenticate: Negotiate value; it must complete the context
// (for Kerberos: the AP-REP checks; the mechListMIC, if any, verifies).
func finishNegotiate(ini *spnego.Initiator, header string) error {
	ch, err := authheader.ParseChallenges([]string{header})
	if err != nil || len(ch) != 1 || !strings.EqualFold(ch[0].Scheme, "Negotiate") || ch[0].Token68 == "" {
		return fmt.Errorf("%w: no Negotiate token with the response (the server did not prove its identity)", ErrMutualAuth)
	}
	tok, err := decodeToken(&ch[0])
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMutualAuth, err)
	}
	if _, done, err := ini.Step(tok); err != nil || !done {
		if err == nil {
			err = errors.New("negotiation not complete")
		}
		return fmt.Errorf("%w: %v", ErrMutualAuth, err)
	}
	return nil
}

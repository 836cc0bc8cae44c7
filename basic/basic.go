// Package basic is the HTTP Basic scheme's wire format, RFC 7617: the
// challenge with charset="UTF-8" and the decoding of user-pass from the
// token68. Verifying the password is the account store's job; whether Basic
// may be used at all (only over TLS by default) is the HTTP layer's.
package basic

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse-auth/gatehouse/authheader"
)

// ErrMalformed is returned for credentials that do not follow RFC 7617.
var ErrMalformed = errors.New("basic: malformed credentials")

// maxUserPass bounds the decoded user-pass; authheader already bounds the
// header, this keeps absurd passwords away from Argon2id.
const maxUserPass = 4096

// Challenge is the WWW-Authenticate value for realm (§2, §2.1).
func Challenge(realm string) string {
	return "Basic realm=" + authheader.Quote(realm) + `, charset="UTF-8"`
}

// Parse decodes a Basic token68 into user-id and password. The user-id may
// not contain a colon (§2) or control characters; both must be UTF-8, as
// the charset="UTF-8" challenge asks.
func Parse(token68 string) (user, pass string, err error) {
	if token68 == "" {
		return "", "", fmt.Errorf("%w: no token68", ErrMalformed)
	}
	raw, err := base64.StdEncoding.DecodeString(token68)
	if err != nil {
		return "", "", fmt.Errorf("%w: not base64", ErrMalformed)
	}
	if len(raw) > maxUserPass {
		return "", "", fmt.Errorf("%w: longer than %d bytes", ErrMalformed, maxUserPass)
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", fmt.Errorf("%w: no ':' between user-id and password", ErrMalformed)
	}
	if !utf8.ValidString(user) || !utf8.ValidString(pass) {
		return "", "", fmt.Errorf("%w: not UTF-8", ErrMalformed)
	}
	for _, r := range user {
		if r < 0x20 || r == 0x7f {
			return "", "", fmt.Errorf("%w: control character in user-id", ErrMalformed)
		}
	}
	return user, pass, nil
}

// Encode is the token68 a client sends.
func Encode(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}

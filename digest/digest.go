package digest

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/url"
	"strings"

	"github.com/gatehouse-auth/gatehouse/authheader"
)

// Errors. A failed login (ErrAuthFailed, ErrStale, ErrReplay) is kept apart
// from a request that does not follow the RFC (ErrMalformed).
var (
	ErrMalformed  = errors.New("digest: malformed response")
	ErrAuthFailed = errors.New("digest: authentication failed")
	ErrStale      = errors.New("digest: nonce expired")
	ErrReplay     = errors.New("digest: nonce count replayed")
	// ErrUnavailable: the shared nonce-count store (NonceCounts) could
	// not answer; the request fails closed (the server answers 503).
	ErrUnavailable = errors.New("digest: nonce counts unavailable")
)

// Algorithm is an RFC 7616 §3.3 algorithm name.
type Algorithm string

// Supported algorithms, in the order they are offered (§3.7: the server
// SHOULD list the preferred one first).
const (
	SHA256 Algorithm = "SHA-256"
	MD5    Algorithm = "MD5"
)

// Algorithms lists the supported algorithms, strongest first.
var Algorithms = []Algorithm{SHA256, MD5}

func (a Algorithm) newHash() hash.Hash {
	if a == SHA256 {
		return sha256.New()
	}
	return md5.New()
}

// H is H(data) of §3.4.1: lowercase hex.
func (a Algorithm) H(data string) string {
	h := a.newHash()
	h.Write([]byte(data))
	return hex.EncodeToString(h.Sum(nil))
}

// HA1 is H(username:realm:password), §3.4.2: what an account store keeps
// instead of the password.
func (a Algorithm) HA1(user, realm, password string) string {
	return a.H(user + ":" + realm + ":" + password)
}

// UserHash is H(username:realm), §3.4.4.
func (a Algorithm) UserHash(user, realm string) string { return a.H(user + ":" + realm) }

// KD is KD(secret, data) = H(secret:data), §3.4.1.
func (a Algorithm) KD(secret, data string) string { return a.H(secret + ":" + data) }

// ParseAlgorithm maps a wire name (case-insensitive; absent means MD5,
// §3.3) to an Algorithm.
func ParseAlgorithm(s string) (Algorithm, error) {
	switch {
	case s == "" || strings.EqualFold(s, "MD5"):
		return MD5, nil
	case strings.EqualFold(s, "SHA-256"):
		return SHA256, nil
	}
	return "", fmt.Errorf("%w: unsupported algorithm %q", ErrMalformed, s)
}

// Response is the client's Authorization: Digest credentials, §3.4.
type Response struct {
	Username  string // username or the decoded username* (§3.4.4, RFC 8187)
	UserHash  bool   // Username is H(username:realm), §3.4.4
	Realm     string
	Nonce     string
	URI       string // request-target as the client saw it, §3.4.6
	Response  string // the request-digest, lowercase hex
	Algorithm Algorithm
	CNonce    string
	Opaque    string
	QOP       string // "auth"
	NC        string // 8 hex digits
	ncValue   uint32
}

// maxParamLen bounds any single Digest parameter; real ones are short.
const maxParamLen = 1024

// ParseResponse reads the auth-params of a Digest Authorization header.
func ParseResponse(params []authheader.Param) (*Response, error) {
	r := &Response{}
	var hasUser, hasUserStar bool
	var alg string
	for _, p := range params {
		if len(p.Value) > maxParamLen {
			return nil, fmt.Errorf("%w: %s too long", ErrMalformed, p.Name)
		}
		switch p.Name {
		case "username":
			r.Username, hasUser = p.Value, true
		case "username*":
			u, err := decodeExtValue(p.Value)
			if err != nil {
				return nil, err
			}
			r.Username, hasUserStar = u, true
		case "userhash":
			r.UserHash = strings.EqualFold(p.Value, "true")
		case "realm":
			r.Realm = p.Value
		case "nonce":
			r.Nonce = p.Value
		case "uri":
			r.URI = p.Value
		case "response":
			r.Response = strings.ToLower(p.Value)
		case "algorithm":
			alg = p.Value
		case "cnonce":
			r.CNonce = p.Value
		case "opaque":
			r.Opaque = p.Value
		case "qop":
			r.QOP = p.Value
		case "nc":
			r.NC = p.Value
		}
	}
	var err error
	if r.Algorithm, err = ParseAlgorithm(alg); err != nil {
		return nil, err
	}
	switch {
	case hasUser && hasUserStar:
		return nil, fmt.Errorf("%w: both username and username*", ErrMalformed)
	case !hasUser && !hasUserStar:
		return nil, fmt.Errorf("%w: no username", ErrMalformed)
	case hasUserStar && r.UserHash:
		return nil, fmt.Errorf("%w: username* with userhash", ErrMalformed)
	case r.Nonce == "" || r.URI == "" || r.Response == "":
		return nil, fmt.Errorf("%w: nonce, uri and response are required", ErrMalformed)
	case r.QOP == "":
		// RFC 2069 compatibility (no qop) is not supported: it has no cnonce
		// and no nonce count, so it cannot be protected against replay.
		return nil, fmt.Errorf("%w: qop missing (RFC 2069 digest is not supported)", ErrMalformed)
	case r.QOP != "auth":
		return nil, fmt.Errorf("%w: unsupported qop %q", ErrMalformed, r.QOP)
	case r.CNonce == "" || len(r.NC) != 8:
		return nil, fmt.Errorf("%w: cnonce and an 8-digit nc are required with qop", ErrMalformed)
	}
	var nc uint32
	for _, c := range []byte(r.NC) {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return nil, fmt.Errorf("%w: nc %q is not hex", ErrMalformed, r.NC)
		}
		nc = nc<<4 | uint32(d)
	}
	if nc == 0 {
		return nil, fmt.Errorf("%w: nc is zero", ErrMalformed)
	}
	r.ncValue = nc
	if want := 2 * r.Algorithm.newHash().Size(); len(r.Response) != want {
		return nil, fmt.Errorf("%w: response is %d hex digits, want %d", ErrMalformed, len(r.Response), want)
	}
	return r, nil
}

// decodeExtValue decodes an RFC 8187 ext-value (UTF-8 only).
func decodeExtValue(v string) (string, error) {
	charset, rest, ok := strings.Cut(v, "'")
	if !ok || !strings.EqualFold(charset, "UTF-8") {
		return "", fmt.Errorf("%w: username* must be UTF-8''…", ErrMalformed)
	}
	_, enc, ok := strings.Cut(rest, "'")
	if !ok {
		return "", fmt.Errorf("%w: bad username*", ErrMalformed)
	}
	s, err := url.PathUnescape(enc)
	if err != nil {
		return "", fmt.Errorf("%w: bad username*: %v", ErrMalformed, err)
	}
	return s, nil
}

// Expected computes the request-digest for qop=auth (§3.4.1) from HA1:
// KD(HA1, nonce:nc:cnonce:qop:H(method:uri)).
func (r *Response) Expected(ha1, method string) string {
	ha2 := r.Algorithm.H(method + ":" + r.URI)
	return r.Algorithm.KD(ha1, r.Nonce+":"+r.NC+":"+r.CNonce+":"+r.QOP+":"+ha2)
}

// RspAuth is the Authentication-Info rspauth of §3.5: the request digest
// with an empty method.
func (r *Response) RspAuth(ha1 string) string { return r.Expected(ha1, "") }

// AuthenticationInfo is the value of the Authentication-Info header for a
// successful response (§3.5).
func (r *Response) AuthenticationInfo(ha1 string) string {
	return fmt.Sprintf("qop=%s, rspauth=%s, cnonce=%s, nc=%s",
		r.QOP, authheader.Quote(r.RspAuth(ha1)), authheader.Quote(r.CNonce), r.NC)
}

package digest

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/gatehouse-auth/gatehouse/authheader"
)

// ClientSession answers one Digest challenge and then keeps using its
// nonce with a rising nonce count (§3.4: a client may re-use a nonce until
// the server says stale), so a series of requests costs one 401.
type ClientSession struct {
	Algorithm Algorithm
	Realm     string
	Nonce     string
	Opaque    string
	UserHash  bool
	user      string
	ha1       string
	nc        uint32
}

// NewClientSession reads a Digest challenge. It returns an error for a
// challenge it cannot answer (unknown algorithm, no qop=auth).
func NewClientSession(ch *authheader.Challenge, user, password string) (*ClientSession, error) {
	alg, _ := ch.Param("algorithm")
	a, err := ParseAlgorithm(alg)
	if err != nil {
		return nil, err
	}
	qop, _ := ch.Param("qop")
	ok := false
	for _, q := range strings.Split(qop, ",") {
		if strings.TrimSpace(q) == "auth" {
			ok = true
		}
	}
	if !ok {
		return nil, fmt.Errorf("%w: challenge offers no qop=auth", ErrMalformed)
	}
	realm, _ := ch.Param("realm")
	nonce, _ := ch.Param("nonce")
	if nonce == "" {
		return nil, fmt.Errorf("%w: challenge has no nonce", ErrMalformed)
	}
	opaque, _ := ch.Param("opaque")
	uh, _ := ch.Param("userhash")
	s := &ClientSession{Algorithm: a, Realm: realm, Nonce: nonce, Opaque: opaque, UserHash: strings.EqualFold(uh, "true"), user: user}
	s.ha1 = a.H(user + ":" + realm + ":" + password)
	return s, nil
}

// Authorization returns the next Authorization header value for a
// request, and the check of the server's Authentication-Info for that
// request (§3.5: rspauth proves the server knows the password too; an
// absent rspauth is not an error, the header being optional).
// The caller serializes calls.
func (s *ClientSession) Authorization(method, uri string) (string, func(authInfo string) error) {
	s.nc++
	var cb [16]byte
	rand.Read(cb[:])
	r := &Response{
		Username: s.user, Realm: s.Realm, Nonce: s.Nonce, URI: uri, Algorithm: s.Algorithm,
		CNonce: hex.EncodeToString(cb[:]), Opaque: s.Opaque, QOP: "auth", NC: fmt.Sprintf("%08x", s.nc),
	}
	r.Response = r.Expected(s.ha1, method)
	name := "username=" + authheader.Quote(s.user)
	if s.UserHash {
		name = "username=" + authheader.Quote(s.Algorithm.UserHash(s.user, s.Realm)) + ", userhash=true"
	} else if needsExt(s.user) {
		name = "username*=UTF-8''" + extEscape(s.user)
	}
	v := fmt.Sprintf("Digest %s, realm=%s, nonce=%s, uri=%s, algorithm=%s, response=%s, qop=auth, nc=%s, cnonce=%s",
		name, authheader.Quote(s.Realm), authheader.Quote(s.Nonce), authheader.Quote(uri), s.Algorithm,
		authheader.Quote(r.Response), r.NC, authheader.Quote(r.CNonce))
	if s.Opaque != "" {
		v += ", opaque=" + authheader.Quote(s.Opaque)
	}
	want := r.RspAuth(s.ha1)
	return v, func(info string) error { return checkAuthInfo(info, want) }
}

func checkAuthInfo(v, want string) error {
	if v == "" {
		return nil
	}
	cs, err := authheader.ParseChallenges([]string{"X " + v})
	if err != nil || len(cs) != 1 {
		return fmt.Errorf("%w: bad Authentication-Info", ErrMalformed)
	}
	got, ok := cs[0].Param("rspauth")
	if !ok {
		return nil
	}
	if subtle.ConstantTimeCompare([]byte(strings.ToLower(got)), []byte(want)) != 1 {
		return fmt.Errorf("%w: server's rspauth does not match (not the server that knows the password)", ErrAuthFailed)
	}
	return nil
}

func needsExt(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 || s[i] == '"' || s[i] == '\\' {
			return true
		}
	}
	return false
}

func extEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x80 && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0) {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

package digest

import (
	"testing"

	"github.com/gatehouse-auth/gatehouse/authheader"
)

// FuzzClientChallenge: a server's Digest challenge and Authentication-Info
// (attacker-controlled to a client) through the client session.
func FuzzClientChallenge(f *testing.F) {
	f.Add(`Digest realm="r", nonce="n", qop="auth", algorithm=SHA-256, opaque="o", userhash=true`, `rspauth="00", cnonce="c", nc=00000001, qop=auth`)
	f.Add(`Digest realm="r", nonce="n", algorithm=MD5-sess, stale=true`, `nextnonce="x"`)
	f.Fuzz(func(t *testing.T, challenge, info string) {
		chs, err := authheader.ParseChallenges([]string{challenge})
		if err != nil {
			return
		}
		for i := range chs {
			s, err := NewClientSession(&chs[i], "alice", "pw")
			if err != nil {
				continue
			}
			_, check := s.Authorization("GET", "/")
			if check != nil {
				check(info)
			}
		}
	})
}

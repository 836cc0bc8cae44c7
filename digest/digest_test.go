package digest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/authheader"
)

// RFC 7616 §3.9.1: the same request with MD5 and SHA-256.
func TestRFC7616Example(t *testing.T) {
	const (
		user   = "Mufasa"
		realm  = "http-auth@example.org"
		pass   = "Circle of Life"
		nonce  = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
		cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
		uri    = "/dir/index.html"
	)
	for alg, want := range map[Algorithm]string{
		MD5:    "8ca523f5e9506fed4657c9700eebdbec",
		SHA256: "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
	} {
		hdr := fmt.Sprintf(`Digest username="%s", realm="%s", uri="%s", algorithm=%s, nonce="%s", nc=00000001, cnonce="%s", qop=auth, response="%s", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`,
			user, realm, uri, alg, nonce, cnonce, want)
		c, err := authheader.ParseCredentials(hdr)
		if err != nil {
			t.Fatal(err)
		}
		r, err := ParseResponse(c.Params)
		if err != nil {
			t.Fatal(err)
		}
		ha1 := alg.H(user + ":" + realm + ":" + pass)
		if got := r.Expected(ha1, "GET"); got != want {
			t.Errorf("%s: got %s want %s", alg, got, want)
		}
	}
}

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func newTestServer(t *testing.T) (*Server, *fakeClock) {
	s, err := NewServer("test realm", make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	s.Now = clk.now
	return s, clk
}

// clientResponse builds what a client would send for a challenge.
func clientResponse(t *testing.T, challenge, user, pass, method, uri string, nc int, userhash bool) *Response {
	t.Helper()
	cs, err := authheader.ParseChallenges([]string{challenge})
	if err != nil || len(cs) != 1 {
		t.Fatalf("challenge %q: %v", challenge, err)
	}
	ch := cs[0]
	realm, _ := ch.Param("realm")
	nonce, _ := ch.Param("nonce")
	opaque, _ := ch.Param("opaque")
	algName, _ := ch.Param("algorithm")
	alg, _ := ParseAlgorithm(algName)
	ncs := fmt.Sprintf("%08x", nc)
	ha1 := alg.H(user + ":" + realm + ":" + pass)
	ha2 := alg.H(method + ":" + uri)
	resp := alg.KD(ha1, nonce+":"+ncs+":cn:auth:"+ha2)
	name := user
	if userhash {
		name = alg.H(user + ":" + realm)
	}
	hdr := fmt.Sprintf(`Digest username=%s, realm=%s, uri=%s, algorithm=%s, nonce=%s, nc=%s, cnonce="cn", qop=auth, response="%s", opaque=%s, userhash=%v`,
		authheader.Quote(name), authheader.Quote(realm), authheader.Quote(uri), alg, authheader.Quote(nonce), ncs, resp, authheader.Quote(opaque), userhash)
	c, err := authheader.ParseCredentials(hdr)
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseResponse(c.Params)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestServerFlow(t *testing.T) {
	s, clk := newTestServer(t)
	chs := s.Challenges(false)
	if len(chs) != 2 || !strings.Contains(chs[0], "SHA-256") || !strings.Contains(chs[1], "MD5") {
		t.Fatalf("challenges %q", chs)
	}
	for i := range chs {
		ch := s.Challenges(false)[i] // a fresh nonce for each algorithm
		alg := Algorithms[i]
		ha1 := alg.H("alice:test realm:pw")
		r := clientResponse(t, ch, "alice", "pw", "GET", "/x?y=1", 1, i == 0)
		if err := s.CheckRequest(r, "/x?y=1"); err != nil {
			t.Fatal(err)
		}
		if err := s.CheckRequest(r, "/other"); !errors.Is(err, ErrAuthFailed) {
			t.Fatal("uri mismatch accepted")
		}
		if err := s.Verify(r, "GET", ha1); err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if err := s.Verify(r, "GET", ha1); !errors.Is(err, ErrReplay) {
			t.Fatalf("replay: %v", err)
		}
		if err := s.Verify(r, "POST", ha1); !errors.Is(err, ErrAuthFailed) {
			t.Fatalf("method changed: %v", err)
		}
		bad := clientResponse(t, ch, "alice", "wrong", "GET", "/x?y=1", 2, false)
		if err := s.Verify(bad, "GET", ha1); !errors.Is(err, ErrAuthFailed) {
			t.Fatalf("wrong password: %v", err)
		}
		// out-of-order counts are fine once each
		for _, nc := range []int{5, 3, 4} {
			if err := s.Verify(clientResponse(t, ch, "alice", "pw", "GET", "/x?y=1", nc, false), "GET", ha1); err != nil {
				t.Fatalf("nc %d: %v", nc, err)
			}
		}
		if !strings.Contains(r.AuthenticationInfo(ha1), "rspauth=") {
			t.Fatal("no rspauth")
		}
	}
	// expiry: right password on an old nonce -> stale
	ch := s.Challenges(false)[1]
	clk.t = clk.t.Add(DefaultNonceLifetime + time.Second)
	r := clientResponse(t, ch, "alice", "pw", "GET", "/", 1, false)
	if err := s.Verify(r, "GET", MD5.H("alice:test realm:pw")); !errors.Is(err, ErrStale) {
		t.Fatalf("expired nonce: %v", err)
	}
	if !strings.Contains(s.Challenges(true)[0], "stale=true") {
		t.Fatal("no stale=true")
	}
}

func TestForeignNonceRefused(t *testing.T) {
	s, _ := newTestServer(t)
	other, _ := NewServer("test realm", []byte(strings.Repeat("k", 32)))
	r := clientResponse(t, other.Challenges(false)[0], "a", "b", "GET", "/", 1, false)
	r.Opaque = s.Opaque
	if err := s.CheckRequest(r, "/"); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("foreign nonce: %v", err)
	}
}

func TestNCTrackerBounded(t *testing.T) {
	tr := newNCTracker(ncShards * 4)
	base := time.Unix(1000, 0)
	far := base.Add(time.Hour)
	var first string
	for i := 0; i < 1000; i++ {
		n := fmt.Sprintf("nonce-%d", i)
		if i == 0 {
			first = n
		}
		if tr.use(n, base.Add(time.Duration(i)*time.Millisecond), 1, far, base) != ncOK {
			t.Fatalf("nonce %d refused", i)
		}
	}
	total := 0
	for i := range tr.shards {
		total += len(tr.shards[i].m)
	}
	if total > ncShards*4 {
		t.Fatalf("tracker holds %d", total)
	}
	// a forgotten nonce is never accepted again
	if got := tr.use(first, base, 1, far, base); got == ncOK {
		t.Fatal("evicted nonce replay accepted")
	}
}

func TestParseResponseErrors(t *testing.T) {
	for _, h := range []string{
		`Digest realm="r", nonce="n", uri="/", response="00", qop=auth, nc=00000001, cnonce="c"`,
		`Digest username="a", realm="r", nonce="n", uri="/", response="8ca523f5e9506fed4657c9700eebdbec"`,
		`Digest username="a", realm="r", nonce="n", uri="/", response="8ca523f5e9506fed4657c9700eebdbec", qop=auth-int, nc=00000001, cnonce="c"`,
		`Digest username="a", realm="r", nonce="n", uri="/", response="8ca523f5e9506fed4657c9700eebdbec", qop=auth, nc=0000000g, cnonce="c"`,
		`Digest username="a", realm="r", nonce="n", uri="/", response="8ca5", qop=auth, nc=00000001, cnonce="c"`,
		`Digest username="a", realm="r", nonce="n", uri="/", response="8ca523f5e9506fed4657c9700eebdbec", qop=auth, nc=00000001, cnonce="c", algorithm=SHA-512-256`,
		`Digest username="a", username*=UTF-8''a, realm="r", nonce="n", uri="/", response="8ca523f5e9506fed4657c9700eebdbec", qop=auth, nc=00000001, cnonce="c"`,
	} {
		c, err := authheader.ParseCredentials(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseResponse(c.Params); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", h, err)
		}
	}
}

func TestUsernameStar(t *testing.T) {
	c, _ := authheader.ParseCredentials(`Digest username*=UTF-8''J%C3%A4s%C3%B8n%20Doe, realm="r", nonce="n", uri="/", response="8ca523f5e9506fed4657c9700eebdbec", qop=auth, nc=00000001, cnonce="c"`)
	r, err := ParseResponse(c.Params)
	if err != nil || r.Username != "Jäsøn Doe" {
		t.Fatalf("%v %q", err, r.Username)
	}
}

func FuzzParseResponse(f *testing.F) {
	f.Add(`Digest username="Mufasa", realm="r", uri="/", algorithm=SHA-256, nonce="n", nc=00000001, cnonce="c", qop=auth, response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"`)
	s, _ := NewServer("r", make([]byte, 32))
	f.Fuzz(func(t *testing.T, h string) {
		c, err := authheader.ParseCredentials(h)
		if err != nil {
			return
		}
		r, err := ParseResponse(c.Params)
		if err != nil {
			return
		}
		if s.CheckRequest(r, "/") == nil {
			_ = s.Verify(r, "GET", "x")
		}
	})
}

func TestClientSessionAgainstServer(t *testing.T) {
	s, _ := newTestServer(t)
	for i, user := range []string{"alice", "Jäsøn Doe"} {
		for k := range Algorithms {
			ch := s.Challenges(false)[k] // fresh nonce per algorithm
			cs, _ := authheader.ParseChallenges([]string{ch})
			c, err := NewClientSession(&cs[0], user, "pw")
			if err != nil {
				t.Fatal(err)
			}
			if i == 1 {
				c.UserHash = false // exercise username*
			}
			ha1 := c.Algorithm.H(user + ":test realm:pw")
			for n := 0; n < 3; n++ {
				v, check := c.Authorization("GET", "/p")
				creds, err := authheader.ParseCredentials(v)
				if err != nil {
					t.Fatal(err)
				}
				r, err := ParseResponse(creds.Params)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.CheckRequest(r, "/p"); err != nil {
					t.Fatal(err)
				}
				if err := s.Verify(r, "GET", ha1); err != nil {
					t.Fatalf("%s nc %d: %v", c.Algorithm, n, err)
				}
				if err := check(r.AuthenticationInfo(ha1)); err != nil {
					t.Fatal(err)
				}
				if err := check(`rspauth="00", qop=auth`); err == nil {
					t.Fatal("bad rspauth accepted")
				}
			}
		}
	}
}

// nonCanonical returns another base64url (unpadded) spelling that decodes
// to the same bytes as s: the last character's unused low bits set. It
// returns "" when s has no unused bits.
func nonCanonical(s string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	unused := (len(s) * 6) % 8
	if unused == 0 {
		return ""
	}
	last := strings.IndexByte(alphabet, s[len(s)-1])
	return s[:len(s)-1] + string(alphabet[last|1])
}

// A nonce is accepted only in the spelling the server minted: another
// base64 spelling of the same bytes would start a fresh nonce-count window.
func TestNonceCanonicalOnly(t *testing.T) {
	s, _ := newTestServer(t)
	ch := s.Challenges(false)[1]
	r := clientResponse(t, ch, "alice", "pw", "GET", "/", 1, false)
	if err := s.CheckRequest(r, "/"); err != nil {
		t.Fatal(err)
	}
	for _, other := range []string{nonCanonical(r.Nonce), r.Nonce[:20] + "\n" + r.Nonce[20:]} {
		if other == "" || other == r.Nonce {
			t.Fatalf("no other spelling of %q", r.Nonce)
		}
		r2 := *r
		r2.Nonce = other
		if err := s.CheckRequest(&r2, "/"); !errors.Is(err, ErrAuthFailed) {
			t.Fatalf("nonce spelled %q accepted: %v", other, err)
		}
	}
}

package identitytoken_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-auth/gatehouse/identitytoken"
)

// Claims and Verify are the Go snippet of docs/FRONT_ENDS.md, as printed.

// Claims are the assertion's claims beyond the registered ones.
type Claims struct {
	Name   string   `json:"name"`
	Domain string   `json:"domain"`
	Groups []string `json:"groups"`
	SIDs   []string `json:"sids"`
	Scheme string   `json:"scheme"`
}

// Verify checks token against the JWKS (fetch it once and again on an unknown kid
// in a real app) and returns the user and the other claims.
func Verify(jwksURL, audience, token string) (string, *Claims, error) {
	resp, err := http.Get(jwksURL)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		return "", nil, err
	}
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return "", nil, err
	}
	keys := set.Key(tok.Headers[0].KeyID)
	if len(keys) != 1 {
		return "", nil, fmt.Errorf("unknown kid %q", tok.Headers[0].KeyID)
	}
	var std jwt.Claims
	var c Claims
	if err := tok.Claims(keys[0].Key, &std, &c); err != nil {
		return "", nil, err
	}
	want := jwt.Expected{Issuer: "gatehouse", AnyAudience: jwt.Audience{audience}, Time: time.Now()}
	if err := std.ValidateWithLeeway(want, time.Minute); err != nil {
		return "", nil, err
	}
	return std.Subject, &c, nil
}

func Example_verify() {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s, _ := identitytoken.New([]*ecdsa.PrivateKey{k}, "gatehouse", 0)
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(s.JWKS()) }))
	defer jwks.Close()
	tok, _ := s.Sign(identitytoken.Identity{User: "alice@EXAMPLE.TEST", Name: "alice", Domain: "EXAMPLE.TEST", Groups: []string{"Staff"}, Scheme: "Negotiate"}, "https://app.example.test")

	user, c, err := Verify(jwks.URL, "https://app.example.test", tok)
	fmt.Println(user, c.Groups, c.Scheme, err)
	_, _, err = Verify(jwks.URL, "https://other.example.test", tok)
	fmt.Println(err != nil)
	// Output:
	// alice@EXAMPLE.TEST [Staff] Negotiate <nil>
	// true
}

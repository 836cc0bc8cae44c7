package identitytoken

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// verify checks tok against the published JWKS as an application would.
func verify(t *testing.T, jwks []byte, tok string) (map[string]any, string) {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(jwks, &set); err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	kid := parsed.Headers[0].KeyID
	keys := set.Key(kid)
	if len(keys) != 1 {
		t.Fatalf("kid %q: %d keys in the JWKS", kid, len(keys))
	}
	var out map[string]any
	if err := parsed.Claims(keys[0].Key, &out); err != nil {
		t.Fatalf("signature: %v", err)
	}
	return out, kid
}

func TestSignVerify(t *testing.T) {
	s, err := New([]*ecdsa.PrivateKey{newKey(t)}, "gatehouse", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	s.now = func() time.Time { return now }
	tok, err := s.Sign(Identity{User: "alice@EXAMPLE.TEST", Name: "alice", Domain: "EXAMPLE.TEST", Groups: []string{"Admins"}, Scheme: "Negotiate"}, "https://app.example.test")
	if err != nil {
		t.Fatal(err)
	}
	c, kid := verify(t, s.JWKS(), tok)
	if kid != s.KeyIDs()[0] {
		t.Errorf("kid %s, want %s", kid, s.KeyIDs()[0])
	}
	want := map[string]any{"iss": "gatehouse", "sub": "alice@EXAMPLE.TEST", "name": "alice", "domain": "EXAMPLE.TEST",
		"scheme": "Negotiate", "aud": "https://app.example.test", "iat": float64(now.Unix()), "exp": float64(now.Add(time.Minute).Unix())}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("%s = %v, want %v", k, c[k], v)
		}
	}
	if g, ok := c["groups"].([]any); !ok || len(g) != 1 || g[0] != "Admins" {
		t.Errorf("groups %v", c["groups"])
	}
	if s, ok := c["sids"].([]any); !ok || len(s) != 0 {
		t.Errorf("sids %v, want []", c["sids"])
	}
	// the header says what it is
	parsed, _ := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	if parsed.Headers[0].Algorithm != "ES256" || parsed.Headers[0].ExtraHeaders["typ"] != "JWT" {
		t.Errorf("header %+v", parsed.Headers[0])
	}
	// another key's signature does not verify against this JWKS
	other, _ := New([]*ecdsa.PrivateKey{newKey(t)}, "gatehouse", 0)
	bad, _ := other.Sign(Identity{User: "mallory"}, "")
	p2, _ := jwt.ParseSigned(bad, []jose.SignatureAlgorithm{jose.ES256})
	var set jose.JSONWebKeySet
	json.Unmarshal(s.JWKS(), &set)
	var out map[string]any
	if err := p2.Claims(set.Keys[0].Key, &out); err == nil {
		t.Error("a token signed with another key verified")
	}
}

func TestJWKSHasNoPrivateParts(t *testing.T) {
	s, _ := New([]*ecdsa.PrivateKey{newKey(t), newKey(t)}, "gatehouse", 0)
	var raw struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(s.JWKS(), &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw.Keys) != 2 {
		t.Fatalf("%d keys", len(raw.Keys))
	}
	for _, k := range raw.Keys {
		if _, ok := k["d"]; ok {
			t.Fatal("private key in the JWKS")
		}
		if k["kty"] != "EC" || k["crv"] != "P-256" || k["alg"] != "ES256" || k["use"] != "sig" || k["kid"] == "" {
			t.Errorf("key %v", k)
		}
	}
}

func TestNewRefusesOtherKeys(t *testing.T) {
	k384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if _, err := New([]*ecdsa.PrivateKey{k384}, "x", 0); !errors.Is(err, ErrKey) {
		t.Errorf("P-384: %v", err)
	}
	if _, err := New(nil, "x", 0); !errors.Is(err, ErrKey) {
		t.Errorf("no key: %v", err)
	}
	if _, err := New([]*ecdsa.PrivateKey{newKey(t)}, "x", 48*time.Hour); err == nil {
		t.Error("a 48h lifetime was accepted")
	}
}

func TestLoadOrCreate(t *testing.T) {
	p := filepath.Join(t.TempDir(), "identity.key")
	k1, err := LoadOrCreate(p)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode().Perm())
	}
	k2, err := LoadOrCreate(p)
	if err != nil || len(k2) != 1 || !k2[0].Equal(k1[0]) {
		t.Fatalf("reloaded %v %v", k2, err)
	}
	os.Chmod(p, 0o644)
	if _, err := LoadOrCreate(p); !errors.Is(err, ErrKey) {
		t.Errorf("a world-readable key file: %v", err)
	}
}

func TestParseKeysForms(t *testing.T) {
	k := newKey(t)
	sec1, _ := x509.MarshalECPrivateKey(k)
	p8, _ := x509.MarshalPKCS8PrivateKey(k)
	for name, blk := range map[string]*pem.Block{"SEC1": {Type: "EC PRIVATE KEY", Bytes: sec1}, "PKCS8": {Type: "PRIVATE KEY", Bytes: p8}} {
		keys, err := ParseKeys(pem.EncodeToMemory(blk), time.Now())
		if err != nil || len(keys) != 1 || !keys[0].Equal(k) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, b := range map[string][]byte{
		"empty":       nil,
		"certificate": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}),
		"garbage":     pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{1, 2, 3}}),
		"bad retire":  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Headers: map[string]string{RetireHeader: "soon"}, Bytes: sec1}),
	} {
		if _, err := ParseKeys(b, time.Now()); !errors.Is(err, ErrKey) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestRotate: a new key signs at once; the old one stays published for one
// lifetime (tokens it signed still verify), then leaves the set.
func TestRotate(t *testing.T) {
	p := filepath.Join(t.TempDir(), "identity.key")
	old, err := LoadOrCreate(p)
	if err != nil {
		t.Fatal(err)
	}
	s0, _ := New(old, "gatehouse", 5*time.Minute)
	oldTok, _ := s0.Sign(Identity{User: "alice"}, "")
	now := time.Now()
	kid, err := Rotate(p, 5*time.Minute, now)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode after rotation %v", st.Mode().Perm())
	}
	keys, err := LoadOrCreate(p)
	if err != nil || len(keys) != 2 {
		t.Fatalf("after rotation: %d keys, %v", len(keys), err)
	}
	s1, _ := New(keys, "gatehouse", 5*time.Minute)
	if s1.KeyIDs()[0] != kid || s1.KeyIDs()[1] != s0.KeyIDs()[0] {
		t.Fatalf("kids %v, want [%s %s]", s1.KeyIDs(), kid, s0.KeyIDs()[0])
	}
	newTok, _ := s1.Sign(Identity{User: "alice"}, "")
	if _, k := verify(t, s1.JWKS(), newTok); k != kid {
		t.Errorf("signed with %s", k)
	}
	verify(t, s1.JWKS(), oldTok) // the old key is still published
	// a lifetime later the old key is gone from the set
	b, _ := os.ReadFile(p)
	later, err := ParseKeys(b, now.Add(7*time.Minute))
	if err != nil || len(later) != 1 || !later[0].Equal(keys[0]) {
		t.Fatalf("later: %d keys, %v", len(later), err)
	}
	// a second rotation drops the expired key from the file
	if _, err := Rotate(p, 5*time.Minute, now.Add(7*time.Minute)); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(p)
	if all, _ := ParseKeys(b, now); len(all) != 2 {
		t.Errorf("after a second rotation the file holds %d keys, want 2", len(all))
	}
}

func BenchmarkSign(b *testing.B) {
	s, _ := New([]*ecdsa.PrivateKey{newKey(b)}, "gatehouse", 0)
	id := Identity{User: "alice@EXAMPLE.TEST", Name: "alice", Domain: "EXAMPLE.TEST", Groups: []string{"Admins", "Users"}, Scheme: "Negotiate"}
	for b.Loop() {
		if _, err := s.Sign(id, "https://app.example.test"); err != nil {
			b.Fatal(err)
		}
	}
}

func TestSignCached(t *testing.T) {
	s, _ := New([]*ecdsa.PrivateKey{newKey(t)}, "gatehouse", 4*time.Minute)
	now := time.Unix(1_800_000_000, 0)
	s.now = func() time.Time { return now }
	id := Identity{User: "alice", Groups: []string{"a"}}
	t1, _ := s.SignCached(id, "https://app")
	now = now.Add(59 * time.Second)
	if t2, _ := s.SignCached(id, "https://app"); t2 != t1 {
		t.Error("not reused within a quarter of the lifetime")
	}
	if t3, _ := s.SignCached(Identity{User: "alice", Groups: []string{"a", "b"}}, "https://app"); t3 == t1 {
		t.Error("reused for other groups")
	}
	if t4, _ := s.SignCached(id, "https://other"); t4 == t1 {
		t.Error("reused for another audience")
	}
	now = now.Add(2 * time.Second)
	if t5, _ := s.SignCached(id, "https://app"); t5 == t1 {
		t.Error("reused after a quarter of the lifetime")
	}
}

func BenchmarkSignCached(b *testing.B) {
	s, _ := New([]*ecdsa.PrivateKey{newKey(b)}, "gatehouse", 0)
	id := Identity{User: "alice@EXAMPLE.TEST", Name: "alice", Domain: "EXAMPLE.TEST", Groups: []string{"Admins", "Users"}, Scheme: "Negotiate"}
	for b.Loop() {
		if _, err := s.SignCached(id, "https://app.example.test"); err != nil {
			b.Fatal(err)
		}
	}
}

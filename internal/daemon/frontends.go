package daemon

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/gatehouse-auth/gatehouse/cluster"
	"github.com/gatehouse-auth/gatehouse/config"
	"github.com/gatehouse-auth/gatehouse/identitytoken"
	"github.com/gatehouse-auth/gatehouse/server"
)

// frontEnds builds the identity token signer and the delegated
// credentials directory, when configured. dry creates no file.
//
// With cluster.redis and no identity_token.key, the signing keys come
// from the shared secret "identity" (made by the first instance), so every
// instance signs with the same key and publishes the same JWKS.
func frontEnds(cfg *config.Config, stateDir string, redis *cluster.Store, log *slog.Logger, dry bool) (*identitytoken.Signer, *server.CcacheDir, error) {
	var tokens *identitytoken.Signer
	if it := cfg.IdentityToken; it != nil {
		var keys []*ecdsa.PrivateKey
		var err error
		switch path := filepath.Join(stateDir, "identity.key"); {
		case it.Key != "":
			keys, err = identitytoken.LoadKeys(cfg.Path(it.Key))
		case redis != nil && !dry:
			keys, err = sharedIdentityKeys(redis)
		case dry:
			if _, serr := os.Stat(path); errors.Is(serr, os.ErrNotExist) {
				var k *ecdsa.PrivateKey
				k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
				keys = []*ecdsa.PrivateKey{k}
				break
			}
			keys, err = identitytoken.LoadOrCreate(path)
		default:
			keys, err = identitytoken.LoadOrCreate(path)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("daemon: identity_token.key: %w", err)
		}
		if tokens, err = identitytoken.New(keys, it.Issuer, it.Lifetime); err != nil {
			return nil, nil, fmt.Errorf("daemon: identity_token: %w", err)
		}
		if !dry {
			log.Info("identity token", "jwks", server.JWKSPath, "kids", strings.Join(tokens.KeyIDs(), ","))
		}
	}
	var ccaches *server.CcacheDir
	if d := cfg.Delegation.CcacheDir; d != "" && !dry {
		var err error
		if ccaches, err = server.NewCcacheDir(cfg.Path(d), log); err != nil {
			return nil, nil, err
		}
	}
	return tokens, ccaches, nil
}

// withFrontEnds serves the forward-auth endpoint and the JWKS beside the
// gated sites.
func withFrontEnds(cfg *config.Config, gate *server.Gate, tokens *identitytoken.Signer, ccaches *server.CcacheDir, next http.Handler) http.Handler {
	var forward, jwks http.Handler
	faPath := cfg.ForwardAuth.Path
	if faPath != "" {
		fo := server.ForwardAuthOptions{Token: tokens, Ccaches: ccaches}
		for _, p := range cfg.ForwardAuth.TrustedProxies {
			pr, _ := config.ParsePrefix(p) // checked by config
			fo.TrustedProxies = append(fo.TrustedProxies, pr)
		}
		forward = gate.ForwardAuth(fo)
	}
	if tokens != nil {
		jwks = server.JWKS(tokens)
	}
	if forward == nil && jwks == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case forward != nil && r.URL.Path == faPath:
			forward.ServeHTTP(w, r)
		case jwks != nil && r.URL.Path == server.JWKSPath:
			jwks.ServeHTTP(w, r)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// sharedIdentityKeys turns the cluster's "identity" secrets (newest
// first) into P-256 signing keys: each 32-byte secret is hashed with a
// counter until it is a valid scalar (a random one almost always is).
func sharedIdentityKeys(redis *cluster.Store) ([]*ecdsa.PrivateKey, error) {
	secrets, err := sharedSecrets(redis, "identity")
	if err != nil {
		return nil, err
	}
	keys := make([]*ecdsa.PrivateKey, 0, len(secrets))
	for _, sec := range secrets {
		var k *ecdsa.PrivateKey
		for i := byte(0); k == nil; i++ {
			h := sha256.Sum256(append(append([]byte("gatehouse identity key:"), i), sec...))
			k, _ = ecdsa.ParseRawPrivateKey(elliptic.P256(), h[:])
			if i == 255 {
				return nil, errors.New("daemon: no P-256 key from the shared identity secret")
			}
		}
		keys = append(keys, k)
	}
	return keys, nil
}

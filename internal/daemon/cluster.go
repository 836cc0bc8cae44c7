package daemon

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/gatehouse-auth/gatehouse/cluster"
	"github.com/gatehouse-auth/gatehouse/config"
	"github.com/gatehouse-auth/gatehouse/digest"
)

// sharedStartWait is how long Start waits for the Redis of cluster.redis
// before it gives up: long enough for Redis and Gatehouse started together
// (a compose file, a unit with After=redis), short enough that a wrong
// address is an error a person sees.
const sharedStartWait = 10 * time.Second

// sharedKeySize is the size of the shared secrets (HMAC and AES-256 keys).
const sharedKeySize = 32

// openShared connects to cluster.redis (password from the URL, else
// REDIS_PASSWORD) and waits for it at start: the secrets every instance
// must agree on are read from it before anything is served.
func openShared(cfg *config.Config, log *slog.Logger) (*cluster.Store, error) {
	cas, err := clusterCAs(cfg)
	if err != nil {
		return nil, err
	}
	s, err := cluster.Open(cluster.Options{URL: cfg.Cluster.Redis, Password: os.Getenv("REDIS_PASSWORD"), RootCAs: cas, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	deadline := time.Now().Add(sharedStartWait)
	for s.Ready() != nil && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if err := s.Ready(); err != nil {
		s.Close()
		return nil, fmt.Errorf("daemon: cluster.redis: %w (waited %s)", err, sharedStartWait)
	}
	return s, nil
}

// clusterCAs reads cluster.ca_file; nil (the system's CAs) without one.
func clusterCAs(cfg *config.Config) (*x509.CertPool, error) {
	if cfg.Cluster.CAFile == "" {
		return nil, nil
	}
	p := cfg.Path(cfg.Cluster.CAFile)
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("daemon: cluster.ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("daemon: cluster.ca_file: no PEM certificate in %s", p)
	}
	return pool, nil
}

// sharedSecret is the newest shared secret name, created by the first
// instance to ask.
func sharedSecret(s *cluster.Store, name string) ([]byte, error) {
	keys, err := sharedSecrets(s, name)
	if err != nil {
		return nil, err
	}
	return keys[0], nil
}

// sharedSecrets are the shared secrets name, newest (the one that seals)
// first.
func sharedSecrets(s *cluster.Store, name string) ([][]byte, error) {
	keys, err := s.Secret(context.Background(), name, sharedKeySize)
	if err != nil {
		return nil, fmt.Errorf("daemon: cluster.redis: the shared %s key: %w", name, err)
	}
	return keys, nil
}

// sharedNonceCounts is the Digest nonce counts of the cluster, or nil (in
// memory) without one.
func sharedNonceCounts(s *cluster.Store) digest.NonceCounts {
	if s == nil {
		return nil
	}
	return s.DigestNonceCounts()
}

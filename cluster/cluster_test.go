package cluster

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

func open(t *testing.T, url string) *Store {
	t.Helper()
	s, err := Open(Options{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.Ready(); err != nil {
		t.Fatalf("not ready: %v", err)
	}
	return s
}

// TestSharedAcrossInstances: two Stores on one redis-server are two
// instances: what one saw, the other refuses.
func TestSharedAcrossInstances(t *testing.T) {
	r := testenv.StartRedis(t)
	a, b := open(t, "redis://"+r.Addr+"/0"), open(t, "redis://"+r.Addr+"/0")
	ctx := context.Background()

	if ok, err := a.Fresh(ctx, []byte("authenticator-1"), time.Minute); !ok || err != nil {
		t.Fatalf("first use: %v %v", ok, err)
	}
	if ok, err := b.Fresh(ctx, []byte("authenticator-1"), time.Minute); ok || err != nil {
		t.Fatalf("replay at the other instance: %v %v", ok, err)
	}
	if ok, _ := b.Fresh(ctx, []byte("authenticator-2"), 50*time.Millisecond); !ok {
		t.Fatal("a new authenticator refused")
	}
	time.Sleep(120 * time.Millisecond)
	if ok, _ := a.Fresh(ctx, []byte("authenticator-2"), time.Minute); !ok {
		t.Fatal("an expired entry still refuses")
	}
	keys, _ := r.CLI("--scan")
	if strings.Contains(keys, "authenticator") || !strings.Contains(keys, "gatehouse:rc:") {
		t.Fatalf("keys are not hashes of the authenticator: %q", keys)
	}

	// Digest nonce counts: nc 1 at A, refused at B; nc 2 fine at B.
	if ok, err := a.NonceCount(ctx, "nonce-x", 1, time.Minute); !ok || err != nil {
		t.Fatalf("nc 1: %v %v", ok, err)
	}
	if ok, err := b.NonceCount(ctx, "nonce-x", 1, time.Minute); ok || err != nil {
		t.Fatalf("nc 1 again at B: %v %v", ok, err)
	}
	if ok, err := b.NonceCount(ctx, "nonce-x", 2, time.Minute); !ok || err != nil {
		t.Fatalf("nc 2 at B: %v %v", ok, err)
	}
	if _, err := a.NonceCount(ctx, "nonce-x", maxNonceCount+1, time.Minute); !errors.Is(err, ErrNonceCount) {
		t.Fatalf("nc beyond the bound: %v", err)
	}
	if ttl, _ := r.CLI("--scan", "--pattern", "gatehouse:nc:*"); strings.TrimSpace(ttl) == "" {
		t.Fatal("no nonce key")
	}

	// Secrets: the first instance's is everyone's; a rotation keeps the
	// previous one second.
	sa, err := a.Secret(ctx, "digest", 32)
	if err != nil || len(sa) != 1 {
		t.Fatalf("secret: %v %v", sa, err)
	}
	sb, _ := b.Secret(ctx, "digest", 32)
	if string(sa[0]) != string(sb[0]) {
		t.Fatal("the instances disagree on the secret")
	}
	rot, err := b.RotateSecret(ctx, "digest", 32)
	if err != nil || len(rot) != 2 || string(rot[1]) != string(sa[0]) {
		t.Fatalf("rotation: %v", err)
	}
	sa, _ = a.Secret(ctx, "digest", 32)
	if len(sa) != 2 || string(sa[0]) != string(rot[0]) {
		t.Fatal("the other instance does not see the rotation")
	}
}

// TestFailsClosed: Redis killed → ErrUnavailable at once (no hang, no
// private fallback), not ready; Redis back → ready by itself.
func TestFailsClosed(t *testing.T) {
	r := testenv.StartRedis(t)
	s := open(t, "redis://"+r.Addr)
	ctx := context.Background()
	r.Stop()
	start := time.Now()
	var err error
	for i := 0; i < 3; i++ {
		_, err = s.Fresh(ctx, []byte(fmt.Sprint("after-kill-", i)), time.Minute)
	}
	took := time.Since(start)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("with Redis down: %v", err)
	}
	t.Logf("three checks with Redis down took %v", took)
	if took > 5*time.Second {
		t.Fatalf("hung for %v", took)
	}
	if s.Ready() == nil {
		t.Fatal("ready with Redis down")
	}
	if _, err := s.NonceCount(ctx, "n", 1, time.Minute); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("nonce with Redis down: %v", err)
	}
	r.Start()
	deadline := time.Now().Add(10 * time.Second)
	for s.Ready() != nil && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if err := s.Ready(); err != nil {
		t.Fatalf("not ready after Redis came back: %v", err)
	}
	if ok, err := s.Fresh(ctx, []byte("after-restart"), time.Minute); !ok || err != nil {
		t.Fatalf("after restart: %v %v", ok, err)
	}
}

// TestStartsDown: Redis not there at start is not an error; the Store
// connects when it comes.
func TestStartsDown(t *testing.T) {
	r := testenv.StartRedis(t)
	r.Stop()
	s, err := Open(Options{URL: "redis://" + r.Addr})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Fresh(context.Background(), []byte("x"), time.Minute); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("down at start: %v", err)
	}
	r.Start()
	deadline := time.Now().Add(10 * time.Second)
	for s.Ready() != nil && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if ok, err := s.Fresh(context.Background(), []byte("x"), time.Minute); !ok || err != nil {
		t.Fatalf("after Redis came: %v %v", ok, err)
	}
}

// TestRefusesEviction: a Redis that would evict unexpired replay keys is
// refused at start, with the fix in the message.
func TestRefusesEviction(t *testing.T) {
	for _, p := range []string{"allkeys-lru", "volatile-ttl"} {
		r := testenv.StartRedis(t, "--maxmemory", "64mb", "--maxmemory-policy", p)
		_, err := Open(Options{URL: "redis://" + r.Addr})
		if !errors.Is(err, ErrEvicts) || !strings.Contains(err.Error(), "noeviction") {
			t.Errorf("%s: %v", p, err)
		}
	}
}

// TestOutOfMemory: a full Redis (noeviction) is ErrOutOfMemory, which is
// a 503, never a skipped check.
func TestOutOfMemory(t *testing.T) {
	r := testenv.StartRedis(t, "--maxmemory", "2mb", "--maxmemory-policy", "noeviction")
	s := open(t, "redis://"+r.Addr)
	var err error
	for i := 0; i < 200000 && err == nil; i++ {
		_, err = s.Fresh(context.Background(), []byte(fmt.Sprint("fill-", i)), time.Minute)
	}
	if !errors.Is(err, ErrOutOfMemory) {
		t.Fatalf("full Redis: %v", err)
	}
	if s.Ready() != nil {
		t.Fatal("a full Redis is reachable: only the writes fail")
	}
}

// TestPassword: the URL's password, or Options.Password (REDIS_PASSWORD).
func TestPassword(t *testing.T) {
	r := testenv.StartRedis(t, "--requirepass", "s3cret-redis")
	open(t, "redis://:s3cret-redis@"+r.Addr+"/1")
	s, err := Open(Options{URL: "redis://" + r.Addr, Password: "s3cret-redis"})
	if err != nil || s.Ready() != nil {
		t.Fatalf("Options.Password: %v", err)
	}
	s.Close()
	s, err = Open(Options{URL: "redis://" + r.Addr})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Ready(); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("without the password: %v", err)
	}
	if _, err := Open(Options{URL: "http://nope"}); !errors.Is(err, ErrConfig) {
		t.Fatalf("bad URL: %v", err)
	}
}

// BenchmarkFresh is the replay check of one Kerberos request against a
// local redis-server, from as many goroutines as -cpu × GOMAXPROCS × 16
// (rueidis pipelines them on one connection). It reports Redis's memory
// per replay entry.
func BenchmarkFresh(b *testing.B) {
	r := testenv.StartRedis(b)
	s, err := Open(Options{URL: "redis://" + r.Addr})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	before := usedMemory(b, r)
	var n atomicCounter
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Fresh(context.Background(), []byte(fmt.Sprint("bench-", n.next())), 5*time.Minute); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	if keys := n.load(); keys > 10000 {
		b.ReportMetric(float64(usedMemory(b, r)-before)/float64(keys), "redis-bytes/entry")
	}
}

func usedMemory(b *testing.B, r *testenv.Redis) int64 {
	out, err := r.CLI("info", "memory")
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "used_memory:"); ok {
			var n int64
			fmt.Sscan(v, &n)
			return n
		}
	}
	return 0
}

type atomicCounter struct{ v atomic.Int64 }

func (c *atomicCounter) next() int64 { return c.v.Add(1) }
func (c *atomicCounter) load() int64 { return c.v.Load() }

// TestSecretsSurviveRedisRestart: a Redis restarted without persistence
// gets the fleet's secrets back from a running instance, so an instance
// started afterwards joins them instead of making its own.
func TestSecretsSurviveRedisRestart(t *testing.T) {
	r := testenv.StartRedis(t)
	a := open(t, "redis://"+r.Addr)
	ctx := context.Background()
	sa, err := a.Secret(ctx, "session", 32)
	if err != nil {
		t.Fatal(err)
	}
	r.Stop()
	a.Fresh(ctx, []byte("x"), time.Minute) // notices the outage
	r.Start()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if out, _ := r.CLI("exists", "gatehouse:secret:session"); strings.TrimSpace(out) == "1" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	c := open(t, "redis://"+r.Addr)
	sc, err := c.Secret(ctx, "session", 32)
	if err != nil || string(sc[0]) != string(sa[0]) {
		t.Fatalf("a new instance after the restart has other secrets: %v", err)
	}
}

// TestTLS: rediss:// to redis-server's TLS port, its certificate checked
// against Options.RootCAs (cluster.ca_file); without them (the system's
// CAs, which do not hold the test's CA) the Store stays down; a CA pool
// with a redis:// URL is refused.
func TestTLS(t *testing.T) {
	r := testenv.StartRedisTLS(t)
	b, err := os.ReadFile(r.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(b)
	_, port, _ := strings.Cut(r.Addr, ":")
	s, err := Open(Options{URL: "rediss://localhost:" + port + "/0", RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Ready(); err != nil {
		t.Fatalf("rediss:// with the CA: %v", err)
	}
	ctx := context.Background()
	if ok, err := s.Fresh(ctx, []byte("authenticator-tls"), time.Minute); !ok || err != nil {
		t.Fatalf("first use over TLS: %v %v", ok, err)
	}
	if ok, err := s.Fresh(ctx, []byte("authenticator-tls"), time.Minute); ok || err != nil {
		t.Fatalf("replay over TLS: %v %v", ok, err)
	}
	if keys, err := r.CLI("--scan"); err != nil || !strings.Contains(keys, "gatehouse:rc:") {
		t.Fatalf("redis-cli --tls: %q %v", keys, err)
	}
	// the server's certificate is checked: not with the system's CAs
	u, err := Open(Options{URL: "rediss://localhost:" + port + "/0"})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if err := u.Ready(); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("rediss:// without the CA: %v", err)
	}
	if _, err := Open(Options{URL: "redis://" + r.Addr, RootCAs: pool}); !errors.Is(err, ErrConfig) {
		t.Fatalf("a CA with redis://: %v", err)
	}
}

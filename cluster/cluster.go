// Package cluster is the state that several Gatehouse instances behind one
// load balancer share, kept in Redis (or Valkey, which speaks the same
// protocol): the Kerberos replay cache, Digest nonce counts, and the secrets
// that must agree on every instance (the Digest nonce key, session keys, the
// identity-token key).
//
// It is for that and nothing else. Sessions are not stored: a session
// cookie is sealed and carries itself, only its key is shared. NTLM
// handshakes stay connection-bound on one instance (the balancer keeps a
// connection on one instance). The embedded default needs no Redis: without
// cluster.redis nothing here is used.
//
// Failure is closed and fast. Every call has a deadline (Options.Timeout);
// an unreachable Redis is ErrUnavailable and a Redis out of memory is
// ErrOutOfMemory, which callers turn into 503 — never into a private cache
// that a replay at another instance would get past. A Redis whose
// maxmemory-policy evicts keys is refused (ErrEvicts): evicting a replay
// key before it expires would admit the replay.
//
// The client is github.com/redis/rueidis: it pipelines concurrent commands
// on one connection automatically, which is what a replay check per
// request needs (measured with SET NX PX at 32 concurrent callers against a
// local redis-server 7.0: 2.5× the operations per second of go-redis v9
// with a 64-connection pool, bench/redisclients; docs/SCALING.md).
package cluster

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/rueidis"
)

// Errors. Callers answer ErrUnavailable and ErrOutOfMemory with 503.
var (
	ErrUnavailable = errors.New("cluster: redis unavailable")
	ErrOutOfMemory = errors.New("cluster: redis out of memory")
	ErrEvicts      = errors.New("cluster: redis maxmemory-policy evicts keys")
	ErrConfig      = errors.New("cluster: configuration")
)

// DefaultTimeout bounds every Redis call: a request that needs shared
// state gets its 503 within this, not after a TCP timeout.
const DefaultTimeout = 500 * time.Millisecond

// maxNonceCount bounds a Digest nonce's count: the counts seen are a
// bitmap of nc/8 bytes per nonce in Redis, so a nonce is good for this
// many requests (clients then get stale=true and a new nonce).
const maxNonceCount = 1 << 16

// maxFlushDelay: see Open. Measured with bench/cluster.sh (Kerberos on
// every request, c=32): Gatehouse's CPU per request against the in-memory
// replay cache was 1.56× at 20 µs, 1.33× at 50 µs, 1.21× at 100 µs.
const maxFlushDelay = 100 * time.Microsecond

// reseedTries bounds the attempts to put secrets back after a reconnection.
const reseedTries = 8

// retryEvery is how often a Store that lost Redis tries it again, so it
// becomes ready without waiting for traffic.
const retryEvery = time.Second

// Options configure Open.
type Options struct {
	// URL is redis://[user:password@]host:port[/db] or rediss:// (TLS).
	URL string
	// Password overrides the URL's (the daemon passes REDIS_PASSWORD).
	Password string
	// RootCAs verify a rediss:// server's certificate (cluster.ca_file);
	// nil means the system's CAs (SSL_CERT_FILE and SSL_CERT_DIR honoured).
	// Set with a redis:// URL it is an error: the caller meant TLS.
	RootCAs *x509.CertPool
	// Timeout bounds each call; 0 means DefaultTimeout.
	Timeout time.Duration
	// Prefix starts every key; "" means "gatehouse:".
	Prefix string
	Logger *slog.Logger
	// Registerer, when set, gets gatehouse_redis_up,
	// gatehouse_redis_errors_total{op} and gatehouse_redis_seconds{op}.
	Registerer prometheus.Registerer
}

// Store is a connection to the shared state. Its methods are safe for
// concurrent use.
type Store struct {
	opt     rueidis.ClientOption
	timeout time.Duration
	prefix  string
	log     *slog.Logger
	where   string // host:port/db for log lines, without the password

	client atomic.Pointer[rueidis.Client]
	mu     sync.Mutex
	down   error       // why Redis is not usable now; nil when up
	isDown atomic.Bool // down != nil, read without the lock on every call
	// known are the secrets this Store read, by name, newest first: put
	// back into a Redis that lost them (restarted without persistence),
	// so a new instance joins the fleet's keys instead of making its own.
	known  map[string][][]byte
	closed chan struct{}
	once   sync.Once

	up      prometheus.Gauge
	errs    *prometheus.CounterVec
	latency *prometheus.HistogramVec
	// the replay check's own series, looked up once: it runs per request
	replayErrs    prometheus.Counter
	replayLatency prometheus.Observer
}

// Open connects to Redis and checks that it will not evict keys. A Redis
// that cannot be reached now is not an error: the Store starts down, says
// so in Ready, and connects by itself when Redis answers. A Redis that
// evicts is an error (ErrEvicts), as is a URL that does not parse.
func Open(o Options) (*Store, error) {
	opt, err := rueidis.ParseURL(o.URL)
	if err != nil {
		return nil, fmt.Errorf("%w: cluster.redis: %v", ErrConfig, err)
	}
	if o.Password != "" {
		opt.Password = o.Password
	}
	if o.RootCAs != nil {
		if opt.TLSConfig == nil {
			return nil, fmt.Errorf("%w: a CA file is for rediss:// (TLS), not %s://", ErrConfig, strings.SplitN(o.URL, ":", 2)[0])
		}
		opt.TLSConfig.RootCAs = o.RootCAs
	}
	s := &Store{timeout: o.Timeout, prefix: o.Prefix, log: o.Logger, closed: make(chan struct{}), known: map[string][][]byte{}}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	if s.prefix == "" {
		s.prefix = "gatehouse:"
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if u, err := url.Parse(o.URL); err == nil {
		s.where = u.Host + u.Path
	}
	opt.DisableCache = true // no client-side caching: every check asks Redis
	opt.Dialer.Timeout = s.timeout
	opt.ConnWriteTimeout = s.timeout
	opt.DisableRetry = true // a failed check is a 503 now, not a retry later
	// Concurrent checks wait up to this long to share one write: fewer
	// syscalls and wake-ups per request under load, for a latency far
	// below a request's.
	opt.MaxFlushDelay = maxFlushDelay
	s.opt = opt
	s.metrics(o.Registerer)
	if err := s.connect(); err != nil {
		if errors.Is(err, ErrEvicts) {
			return nil, err
		}
		s.setDown(err)
	} else {
		s.setUp()
	}
	go s.watch()
	return s, nil
}

// Collectors are the Store's metrics, for a registry made after Open (the
// daemon makes one per configuration generation).
func (s *Store) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.up, s.errs, s.latency}
}

func (s *Store) metrics(reg prometheus.Registerer) {
	s.up = prometheus.NewGauge(prometheus.GaugeOpts{Name: "gatehouse_redis_up", Help: "1 when the shared state in Redis is reachable and usable."})
	s.errs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_redis_errors_total", Help: "Redis calls that failed, by operation."}, []string{"op"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "gatehouse_redis_seconds", Help: "Redis call latency by operation.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}}, []string{"op"})
	s.replayErrs, s.replayLatency = s.errs.WithLabelValues("replay"), s.latency.WithLabelValues("replay")
	if reg != nil {
		reg.MustRegister(s.up, s.errs, s.latency)
	}
}

// connect makes the client and checks the eviction policy.
func (s *Store) connect() error {
	c, err := rueidis.NewClient(s.opt)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrUnavailable, s.where, err)
	}
	if err := s.checkPolicy(c); err != nil {
		c.Close()
		return err
	}
	if old := s.client.Swap(&c); old != nil {
		(*old).Close()
	}
	return nil
}

// checkPolicy refuses a Redis that evicts keys under memory pressure:
// only noeviction keeps every unexpired replay key (volatile-* policies
// evict exactly the keys that have a TTL, which all of ours have).
func (s *Store) checkPolicy(c rueidis.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	info, err := c.Do(ctx, c.B().Info().Section("memory").Build()).ToString()
	if err != nil {
		return fmt.Errorf("%w: %s: INFO memory: %v", ErrUnavailable, s.where, err)
	}
	policy := ""
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "maxmemory_policy:"); ok {
			policy = v
		}
	}
	if policy != "noeviction" {
		return fmt.Errorf("%w: %s has maxmemory-policy %q; set it to noeviction (an evicted replay-cache key would admit a replayed token)", ErrEvicts, s.where, policy)
	}
	return nil
}

// watch retries a Store that is down, so readiness comes back by itself.
func (s *Store) watch() {
	t := time.NewTicker(retryEvery)
	defer t.Stop()
	for {
		select {
		case <-s.closed:
			return
		case <-t.C:
		}
		if s.Ready() == nil {
			continue
		}
		var err error
		if s.client.Load() == nil {
			err = s.connect()
		} else {
			err = s.ping()
			if err == nil {
				err = s.checkPolicy(*s.client.Load())
			}
		}
		if err == nil {
			s.setUp()
		} else {
			s.setDown(err)
		}
	}
}

func (s *Store) ping() error {
	c := s.client.Load()
	if c == nil {
		return ErrUnavailable
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	if err := (*c).Do(ctx, (*c).B().Ping().Build()).Error(); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrUnavailable, s.where, err)
	}
	return nil
}

// Ready is nil when Redis is usable, else why not (for /readyz).
func (s *Store) Ready() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.down
}

// setDown records a failure, logging only the transition.
func (s *Store) setDown(err error) {
	s.mu.Lock()
	was := s.down
	s.down = err
	s.isDown.Store(true)
	s.mu.Unlock()
	s.up.Set(0)
	if was == nil {
		s.log.Error("shared state unavailable: requests that need it get 503", "redis", s.where, "error", err)
	}
}

func (s *Store) setUp() {
	s.mu.Lock()
	was := s.down
	s.down = nil
	s.isDown.Store(false)
	s.mu.Unlock()
	s.up.Set(1)
	if was != nil {
		s.log.Info("shared state available again", "redis", s.where)
		go s.reseed()
	}
}

// reseedScript restores a secret list that Redis lost.
var reseedScript = rueidis.NewLuaScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then
  for i = 1, #ARGV do redis.call('RPUSH', KEYS[1], ARGV[i]) end
end
return redis.call('LLEN', KEYS[1])`)

// reseed puts the secrets this Store knows back where Redis lost them.
func (s *Store) reseed() {
	s.mu.Lock()
	known := make(map[string][][]byte, len(s.known))
	for k, v := range s.known {
		known[k] = v
	}
	s.mu.Unlock()
	c := s.client.Load()
	if c == nil {
		return
	}
	for name, keys := range known {
		args := make([]string, len(keys))
		for i, k := range keys {
			args[i] = string(k)
		}
		// The first commands after a reconnection can still meet the old
		// connection's end (EOF): try a few times before saying so.
		var err error
		for try := 0; try < reseedTries; try++ {
			if try > 0 {
				time.Sleep(retryEvery / 4)
			}
			ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
			err = reseedScript.Exec(ctx, *c, []string{s.prefix + "secret:" + name}, args).Error()
			cancel()
			if err == nil {
				break
			}
		}
		if err != nil {
			s.log.Warn("could not put the shared secrets back into redis", "redis", s.where, "secret", name, "error", err)
		}
	}
}

// Close stops the Store.
func (s *Store) Close() {
	s.once.Do(func() {
		close(s.closed)
		if c := s.client.Load(); c != nil {
			(*c).Close()
		}
	})
}

// conn is the client, or why there is none (counted against errs).
func (s *Store) conn(errs prometheus.Counter) (rueidis.Client, error) {
	if cp := s.client.Load(); cp != nil {
		return *cp, nil
	}
	errs.Inc()
	if err := s.Ready(); err != nil {
		return nil, err
	}
	return nil, ErrUnavailable
}

func (s *Store) classify(op string, err error) error {
	if err == nil || rueidis.IsRedisNil(err) {
		if s.isDown.Load() {
			s.setUp()
		}
		return nil
	}
	s.errs.WithLabelValues(op).Inc()
	var re *rueidis.RedisError
	if errors.As(err, &re) {
		if strings.HasPrefix(re.Error(), "OOM") {
			return fmt.Errorf("%w: %s: %v", ErrOutOfMemory, s.where, err)
		}
		return fmt.Errorf("cluster: %s: %s: %w", op, s.where, err)
	}
	werr := fmt.Errorf("%w: %s: %v", ErrUnavailable, s.where, err)
	s.setDown(werr)
	return werr
}

// key is the Redis key for kind and an identifier: a prefix, the kind,
// and 128 bits of the identifier's SHA-256 — never the identifier (a
// token, a nonce) itself.
func (s *Store) key(kind string, id []byte) string {
	h := sha256.Sum256(id)
	b := make([]byte, 0, len(s.prefix)+len(kind)+1+32)
	b = append(b, s.prefix...)
	b = append(b, kind...)
	b = append(b, ':')
	b = hex.AppendEncode(b, h[:16])
	return string(b)
}

// Fresh records id (a Kerberos authenticator) for ttl and reports whether
// it was new: one SET NX PX, so two instances offered the same id at once
// agree on which saw it first.
func (s *Store) Fresh(ctx context.Context, id []byte, ttl time.Duration) (bool, error) {
	if ttl < time.Millisecond {
		ttl = time.Millisecond
	}
	c, err := s.conn(s.replayErrs)
	if err != nil {
		return false, err
	}
	k := s.key("rc", id)
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	start := time.Now()
	err = c.Do(ctx, c.B().Set().Key(k).Value("1").Nx().PxMilliseconds(ttl.Milliseconds()).Build()).Error()
	s.replayLatency.Observe(time.Since(start).Seconds())
	if rueidis.IsRedisNil(err) {
		if s.isDown.Load() {
			s.setUp()
		}
		return false, nil // the key was there: a replay
	}
	if err != nil {
		return false, s.classify("replay", err)
	}
	if s.isDown.Load() {
		s.setUp()
	}
	return true, nil
}

// nonceScript sets bit nc of the nonce's bitmap and returns its old value;
// the key lives as long as the nonce (PEXPIRE on first use of the key).
var nonceScript = rueidis.NewLuaScript(`
local old = redis.call('SETBIT', KEYS[1], ARGV[1], 1)
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return old`)

// ErrNonceCount is a Digest nonce count beyond maxNonceCount: the caller
// answers stale=true so the client takes a new nonce.
var ErrNonceCount = errors.New("cluster: nonce count too large")

// NonceCount records that nc was used with nonce, which is valid for ttl,
// and reports whether it was the first use of that count at any instance.
func (s *Store) NonceCount(ctx context.Context, nonce string, nc uint32, ttl time.Duration) (bool, error) {
	if nc == 0 || nc > maxNonceCount {
		return false, ErrNonceCount
	}
	if ttl < time.Millisecond {
		ttl = time.Millisecond
	}
	c, err := s.conn(s.errs.WithLabelValues("nonce"))
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	start := time.Now()
	res := nonceScript.Exec(ctx, c, []string{s.key("nc", []byte(nonce))}, []string{fmt.Sprint(nc), fmt.Sprint(ttl.Milliseconds())})
	s.latency.WithLabelValues("nonce").Observe(time.Since(start).Seconds())
	if err := s.classify("nonce", res.Error()); err != nil {
		return false, err
	}
	old, err := res.AsInt64()
	if err != nil {
		return false, fmt.Errorf("cluster: nonce: %w", err)
	}
	return old == 0, nil
}

// secretScript creates the secret list with ARGV[1] when it does not
// exist (the first instance's wins) and returns the newest two.
var secretScript = rueidis.NewLuaScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('RPUSH', KEYS[1], ARGV[1]) end
return redis.call('LRANGE', KEYS[1], 0, 1)`)

// rotateScript puts ARGV[1] first and keeps the one before it.
var rotateScript = rueidis.NewLuaScript(`
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, 1)
return redis.call('LRANGE', KEYS[1], 0, 1)`)

// Secret returns the shared secret name, newest first (the one to seal
// or sign with), then the previous one (still accepted after a rotation),
// creating it with size random bytes if no instance has yet.
func (s *Store) Secret(ctx context.Context, name string, size int) ([][]byte, error) {
	return s.secret(ctx, secretScript, name, size)
}

// RotateSecret makes a new newest secret; the previous one stays
// accepted until the next rotation.
func (s *Store) RotateSecret(ctx context.Context, name string, size int) ([][]byte, error) {
	return s.secret(ctx, rotateScript, name, size)
}

func (s *Store) secret(ctx context.Context, script *rueidis.Lua, name string, size int) ([][]byte, error) {
	fresh := make([]byte, size)
	if _, err := rand.Read(fresh); err != nil {
		return nil, err
	}
	c, err := s.conn(s.errs.WithLabelValues("secret"))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	res := script.Exec(ctx, c, []string{s.prefix + "secret:" + name}, []string{string(fresh)})
	if err := s.classify("secret", res.Error()); err != nil {
		return nil, err
	}
	vals, err := res.AsStrSlice()
	if err != nil {
		return nil, fmt.Errorf("cluster: secret %s: %w", name, err)
	}
	out := make([][]byte, 0, len(vals))
	for _, v := range vals {
		if len(v) != size {
			return nil, fmt.Errorf("cluster: secret %s in redis is %d bytes, want %d", name, len(v), size)
		}
		out = append(out, []byte(v))
	}
	s.mu.Lock()
	s.known[name] = out
	s.mu.Unlock()
	return out, nil
}

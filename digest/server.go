package digest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-auth/gatehouse/authheader"
)

// Nonce layout: 8-byte mint time (unix nanoseconds, big endian), 8 random
// bytes, and the first 16 bytes of HMAC-SHA256(key, time||random||realm).
// The server checks a nonce with the key alone; no table of issued nonces.
const (
	nonceTimeLen = 8
	nonceRandLen = 8
	nonceMACLen  = 16
	nonceLen     = nonceTimeLen + nonceRandLen + nonceMACLen
)

// DefaultNonceLifetime is how long a nonce is good for before the server
// answers stale=true. Clients then retry with the new nonce without asking
// the user again (§3.3), so a short life costs one round trip.
const DefaultNonceLifetime = 5 * time.Minute

// Server issues challenges and verifies responses for one realm.
type Server struct {
	Realm    string
	Opaque   string        // sent with every challenge and required back
	Lifetime time.Duration // nonce lifetime; DefaultNonceLifetime if zero
	// Algorithms offered, in order; nil means Algorithms (SHA-256, MD5).
	Offer []Algorithm
	Now   func() time.Time
	// Counts, when set, records the nonce counts used instead of this
	// process's memory, so that several servers sharing the nonce key
	// refuse a count used at any of them (cluster.redis).
	Counts NonceCounts

	key []byte
	nc  *ncTracker
}

// NonceCounts records which nonce counts were used, for Servers that share
// their nonces (several instances behind one balancer).
type NonceCounts interface {
	// Use records nc for nonce, valid until expires, and reports whether
	// it was the first use of that count. ErrStale asks the client for a
	// new nonce (a count the store cannot hold); any other error is a
	// technical failure, and Verify fails closed with ErrUnavailable.
	Use(nonce string, nc uint32, expires time.Time) (bool, error)
}

// NewServer returns a Server whose nonces are keyed by key (at least 32
// bytes; from the state directory so that they survive a restart).
func NewServer(realm string, key []byte) (*Server, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("digest: nonce key is %d bytes, want at least 32", len(key))
	}
	k := make([]byte, len(key))
	copy(k, key)
	mac := hmac.New(sha256.New, k)
	mac.Write([]byte("opaque:" + realm))
	return &Server{
		Realm:  realm,
		Opaque: base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:12]),
		key:    k,
		nc:     newNCTracker(defaultNCCapacity),
	}, nil
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Server) lifetime() time.Duration {
	if s.Lifetime > 0 {
		return s.Lifetime
	}
	return DefaultNonceLifetime
}

func (s *Server) mac(b []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write(b)
	m.Write([]byte(s.Realm))
	return m.Sum(nil)[:nonceMACLen]
}

// NewNonce mints a nonce.
func (s *Server) NewNonce() string {
	b := make([]byte, nonceLen)
	binary.BigEndian.PutUint64(b, uint64(s.now().UnixNano()))
	rand.Read(b[nonceTimeLen : nonceTimeLen+nonceRandLen])
	copy(b[nonceTimeLen+nonceRandLen:], s.mac(b[:nonceTimeLen+nonceRandLen]))
	return base64.RawURLEncoding.EncodeToString(b)
}

// checkNonce returns the nonce's mint time, whether it is ours, and whether
// it has expired.
func (s *Server) checkNonce(n string) (minted time.Time, ok, expired bool) {
	// Only the canonical spelling: Go's decoder would also take other
	// trailing bits and line breaks, and the nonce-count window is keyed by
	// the nonce as written.
	b, err := base64.RawURLEncoding.Strict().DecodeString(n)
	if err != nil || len(b) != nonceLen || len(n) != base64.RawURLEncoding.EncodedLen(nonceLen) {
		return time.Time{}, false, false
	}
	if !hmac.Equal(b[nonceTimeLen+nonceRandLen:], s.mac(b[:nonceTimeLen+nonceRandLen])) {
		return time.Time{}, false, false
	}
	minted = time.Unix(0, int64(binary.BigEndian.Uint64(b)))
	age := s.now().Sub(minted)
	return minted, true, age > s.lifetime() || age < -time.Minute
}

// Challenges returns one WWW-Authenticate value per algorithm, SHA-256
// first, sharing one nonce (clients that merge the headers still see a
// consistent nonce and realm).
func (s *Server) Challenges(stale bool) []string {
	nonce := s.NewNonce()
	offer := s.Offer
	if offer == nil {
		offer = Algorithms
	}
	out := make([]string, 0, len(offer))
	for _, a := range offer {
		var b strings.Builder
		fmt.Fprintf(&b, "Digest realm=%s, qop=\"auth\", algorithm=%s, nonce=%s, opaque=%s",
			authheader.Quote(s.Realm), a, authheader.Quote(nonce), authheader.Quote(s.Opaque))
		if stale {
			b.WriteString(", stale=true")
		}
		b.WriteString(", charset=UTF-8, userhash=true")
		out = append(out, b.String())
	}
	return out
}

// CheckRequest checks what can be checked before the user's HA1 is known:
// realm, opaque, request-target, nonce authenticity. requestURI is the
// request-target of the request line.
func (s *Server) CheckRequest(r *Response, requestURI string) error {
	if r.Realm != s.Realm {
		return fmt.Errorf("%w: realm %q is not ours", ErrAuthFailed, r.Realm)
	}
	if r.Opaque != s.Opaque {
		return fmt.Errorf("%w: opaque mismatch", ErrAuthFailed)
	}
	if r.URI != requestURI {
		return fmt.Errorf("%w: uri %q does not match request-target %q", ErrAuthFailed, r.URI, requestURI)
	}
	if _, ok, _ := s.checkNonce(r.Nonce); !ok {
		return fmt.Errorf("%w: nonce not issued by this server", ErrAuthFailed)
	}
	return nil
}

// Verify checks the response against the user's HA1 and, if it is right,
// the nonce's age and count. It returns ErrAuthFailed for a wrong digest,
// ErrStale for a right digest on an expired nonce (answer stale=true), and
// ErrReplay for a nonce count already seen. CheckRequest must have passed.
func (s *Server) Verify(r *Response, method, ha1 string) error {
	want := r.Expected(ha1, method)
	if subtle.ConstantTimeCompare([]byte(want), []byte(r.Response)) != 1 {
		return fmt.Errorf("%w: wrong response digest", ErrAuthFailed)
	}
	minted, ok, expired := s.checkNonce(r.Nonce)
	if !ok {
		return fmt.Errorf("%w: nonce not issued by this server", ErrAuthFailed)
	}
	if expired {
		return ErrStale
	}
	if s.Counts != nil {
		first, err := s.Counts.Use(r.Nonce, r.ncValue, minted.Add(s.lifetime()))
		switch {
		case errors.Is(err, ErrStale):
			return ErrStale
		case err != nil:
			return fmt.Errorf("%w: %v", ErrUnavailable, err)
		case !first:
			return fmt.Errorf("%w: nc=%s", ErrReplay, r.NC)
		}
		return nil
	}
	switch s.nc.use(r.Nonce, minted, r.ncValue, minted.Add(s.lifetime()), s.now()) {
	case ncOK:
		return nil
	case ncForgotten:
		return ErrStale
	default:
		return fmt.Errorf("%w: nc=%s", ErrReplay, r.NC)
	}
}

// ncTracker remembers, per nonce, the nonce counts seen, in bounded memory.
// Clients may send requests on several connections at once, so counts can
// arrive out of order: a 64-count window below the highest seen is kept.
// When the tracker is full it forgets the oldest nonces and refuses
// (stale=true) any nonce minted at or before the newest one it forgot, so
// forgetting never lets a replay through.
type ncTracker struct {
	shards [ncShards]ncShard
}

// ncShards spreads lock contention; defaultNCCapacity bounds memory at
// about 100 bytes per live nonce (key string, state, map overhead), i.e.
// ~6.5 MB when full.
const (
	ncShards          = 16
	defaultNCCapacity = 1 << 16
)

type ncShard struct {
	mu        sync.Mutex
	m         map[string]*ncState
	cap       int
	forgotten time.Time // newest mint time of an evicted nonce
}

type ncState struct {
	minted  time.Time
	expires time.Time
	max     uint32
	window  uint64 // bit i: count max-i seen
}

type ncResult int

const (
	ncOK ncResult = iota
	ncReplay
	ncForgotten
)

func newNCTracker(capacity int) *ncTracker {
	t := &ncTracker{}
	for i := range t.shards {
		t.shards[i].m = make(map[string]*ncState)
		t.shards[i].cap = capacity / ncShards
	}
	return t
}

func (t *ncTracker) use(nonce string, minted time.Time, nc uint32, expires, now time.Time) ncResult {
	var h uint32 = 2166136261
	for i := 0; i < len(nonce); i++ {
		h = (h ^ uint32(nonce[i])) * 16777619
	}
	sh := &t.shards[h%ncShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	st := sh.m[nonce]
	if st == nil {
		if !minted.After(sh.forgotten) {
			return ncForgotten
		}
		if len(sh.m) >= sh.cap {
			sh.evict(now)
		}
		st = &ncState{minted: minted, expires: expires}
		sh.m[nonce] = st
	}
	switch {
	case nc > st.max:
		shift := nc - st.max
		if shift >= 64 {
			st.window = 0
		} else {
			st.window <<= shift
		}
		st.window |= 1
		st.max = nc
	case st.max-nc >= 64:
		return ncReplay // too old to tell: refuse
	default:
		bit := uint64(1) << (st.max - nc)
		if st.window&bit != 0 {
			return ncReplay
		}
		st.window |= bit
	}
	return ncOK
}

// evict drops expired nonces, and if that frees nothing, the oldest one.
func (sh *ncShard) evict(now time.Time) {
	for k, st := range sh.m {
		if now.After(st.expires) {
			delete(sh.m, k)
		}
	}
	if len(sh.m) < sh.cap {
		return
	}
	var oldest string
	var ot time.Time
	for k, st := range sh.m {
		if oldest == "" || st.minted.Before(ot) {
			oldest, ot = k, st.minted
		}
	}
	delete(sh.m, oldest)
	if ot.After(sh.forgotten) {
		sh.forgotten = ot
	}
}

package krb

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"reflect"
	"sync"

	"github.com/jcmturner/gokrb5/v8/crypto/rfc3961"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
)

// The AES etypes' encryption (RFC 3962, RFC 8009) with the specific keys
// Ke, Ki and Kc derived once per base key and usage. gokrb5 re-derives them
// on every call (for RFC 3962 that includes an n-fold of the 5-byte
// constant, the largest single cost of Accept) and re-expands the AES key
// schedule; here the derived keys of the service keys are computed in
// NewAcceptor and those of ticket session keys, which recur for every new
// connection of a client until the ticket expires, are kept in a bounded
// cache (derivedKeyCache). RC4 and DES3 still go through gokrb5.

// Derived-key constants (RFC 3961 §5.3): the well-known constant is
// usage (4 bytes, big-endian) followed by one of these.
const (
	kindKc = 0x99 // checksum key
	kindKe = 0xAA // encryption key
	kindKi = 0x55 // integrity key
)

// aesProfile describes one AES etype.
type aesProfile struct {
	etype     int32
	keyLen    int              // protocol key and Ke length: 16 or 32
	macKeyLen int              // Ki and Kc length
	macLen    int              // truncated HMAC (h): 12, 16 or 24
	hash      func() hash.Hash // HMAC hash; for RFC 8009 also the KDF's
	rfc8009   bool             // KDF-HMAC-SHA2 and HMAC over IV|C, not DK and HMAC over the plaintext
}

var (
	// RFC 3962 §6: Ke, Ki, Kc are DK outputs, as long as the key;
	// HMAC-SHA1 truncated to 96 bits.
	aes128SHA1 = &aesProfile{etypeID.AES128_CTS_HMAC_SHA1_96, 16, 16, 12, sha1.New, false}
	aes256SHA1 = &aesProfile{etypeID.AES256_CTS_HMAC_SHA1_96, 32, 32, 12, sha1.New, false}
	// RFC 8009 §5: Ki and Kc of 128 / 192 bits, h of 128 / 192 bits.
	aes128SHA256 = &aesProfile{etypeID.AES128_CTS_HMAC_SHA256_128, 16, 16, 16, sha256.New, true}
	aes256SHA384 = &aesProfile{etypeID.AES256_CTS_HMAC_SHA384_192, 32, 24, 24, sha512.New384, true}
)

// profileOf returns the profile of an AES etype, nil for any other.
func profileOf(etype int32) *aesProfile {
	switch etype {
	case etypeID.AES128_CTS_HMAC_SHA1_96:
		return aes128SHA1
	case etypeID.AES256_CTS_HMAC_SHA1_96:
		return aes256SHA1
	case etypeID.AES128_CTS_HMAC_SHA256_128:
		return aes128SHA256
	case etypeID.AES256_CTS_HMAC_SHA384_192:
		return aes256SHA384
	}
	return nil
}

// nfoldUsage holds n-fold(usage | kind, 128) (RFC 3961 §5.1) for the key
// usages the acceptor derives keys for (ticket 2, authenticator 11,
// EncAPRepPart 12, PAC server signature 17), kinds Kc, Ke, Ki in that
// order. n-fold depends only on the constant and the block size, so it
// need not be recomputed per key; TestNfoldConstants checks these against
// gokrb5's rfc3961.Nfold, which other usages still use.
var nfoldUsage = map[uint32][3][16]byte{
	usageTicket: {
		{0xa5, 0x1f, 0x8f, 0xc7, 0xe2, 0xa5, 0xc8, 0x0a, 0x69, 0x34, 0x9a, 0x4d, 0x26, 0x40, 0x53, 0x49},
		{0xb5, 0xb0, 0x58, 0x2c, 0x14, 0xb6, 0x50, 0x0a, 0xad, 0x56, 0xab, 0x55, 0xaa, 0x80, 0x55, 0x6a},
		{0x62, 0xdc, 0x6e, 0x37, 0x1a, 0x63, 0xa8, 0x09, 0x58, 0xac, 0x56, 0x2b, 0x15, 0x40, 0x4a, 0xc5},
	},
	usageAuthenticator: {
		{0xed, 0xc3, 0xe1, 0xf1, 0x72, 0xf1, 0xca, 0x2f, 0x7b, 0x3d, 0x9e, 0xcf, 0x66, 0x41, 0x73, 0xd9},
		{0xfe, 0x54, 0xaa, 0x55, 0xa5, 0x02, 0x52, 0x2f, 0xbf, 0x5f, 0xaf, 0xd7, 0xea, 0x81, 0x75, 0xfa},
		{0xab, 0x80, 0xc0, 0x60, 0xaa, 0xaf, 0xaa, 0x2e, 0x6a, 0xb5, 0x5a, 0xad, 0x55, 0x41, 0x6b, 0x55},
	},
	usageAPRepEncPart: {
		{0xf5, 0x47, 0x24, 0x12, 0x82, 0xfa, 0xcb, 0x33, 0x7d, 0x3e, 0x9f, 0x4f, 0xa6, 0x41, 0x93, 0xe9},
		{0x05, 0xd7, 0xec, 0x76, 0xb5, 0x0b, 0x53, 0x33, 0xc1, 0x60, 0xb0, 0x58, 0x2a, 0x81, 0x96, 0x0b},
		{0xb3, 0x04, 0x02, 0x81, 0xba, 0xb8, 0xab, 0x32, 0x6c, 0xb6, 0x5b, 0x2d, 0x95, 0x41, 0x8b, 0x65},
	},
	usagePACServerSig: {
		{0x1d, 0xdb, 0x6d, 0xb6, 0xd3, 0x24, 0xcc, 0x48, 0x88, 0x43, 0xa1, 0xd0, 0xe6, 0x42, 0x34, 0x3a},
		{0x2e, 0x6c, 0x36, 0x1b, 0x05, 0x35, 0x54, 0x48, 0xcc, 0x65, 0xb2, 0xd9, 0x6a, 0x82, 0x36, 0x5b},
		{0xdb, 0x98, 0x4c, 0x26, 0x0a, 0xe2, 0xac, 0x47, 0x77, 0xbb, 0x5d, 0xae, 0xd5, 0x42, 0x2b, 0xb5},
	},
}

// usageConstant is the RFC 3961 §5.3 constant usage | kind.
func usageConstant(usage uint32, kind byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, usage), kind)
}

// nfold128 returns n-fold(usage | kind, 128), from nfoldUsage when there.
func nfold128(usage uint32, kind byte) []byte {
	if t, ok := nfoldUsage[usage]; ok {
		switch kind {
		case kindKc:
			return t[0][:]
		case kindKe:
			return t[1][:]
		case kindKi:
			return t[2][:]
		}
	}
	return rfc3961.Nfold(usageConstant(usage, kind), 128)
}

// deriveKey returns the specific key of kind (kindKc, kindKe, kindKi) for
// usage from the protocol key base.
func (p *aesProfile) deriveKey(base []byte, usage uint32, kind byte) ([]byte, error) {
	if len(base) != p.keyLen {
		return nil, fmt.Errorf("key of %d bytes for etype %d", len(base), p.etype)
	}
	if p.rfc8009 {
		// RFC 8009 §5: Ke = KDF-HMAC-SHA2(base, usage | 0xAA, 128 or 256),
		// Ki and Kc the same with 0x55 / 0x99 and 128 or 192 bits.
		n := p.macKeyLen
		if kind == kindKe {
			n = p.keyLen
		}
		return kdfHMACSHA2(p.hash, base, usageConstant(usage, kind), n), nil
	}
	// RFC 3962 §6 / RFC 3961 §5.1: DK(base, usage | kind) =
	// random-to-key(DR(base, n-fold(usage | kind, 128))); random-to-key is
	// the identity for AES.
	return deriveRandom(base, nfold128(usage, kind), p.keyLen)
}

// deriveRandom is DR(key, constant) of RFC 3961 §5.1 for AES: the n-folded
// constant encrypted, then each block encrypted again, until n bytes are
// produced. E here is the etype's encryption with a zero cipher state on
// one block, i.e. one AES block encryption.
func deriveRandom(key, folded []byte, n int) ([]byte, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	var blk [aes.BlockSize]byte
	copy(blk[:], folded)
	out := make([]byte, 0, n+aes.BlockSize)
	for len(out) < n {
		b.Encrypt(blk[:], blk[:])
		out = append(out, blk[:]...)
	}
	return out[:n], nil
}

// kdfHMACSHA2 is KDF-HMAC-SHA2(key, label, k) of RFC 8009 §3 with an empty
// context, for k of at most one hash output (true of every key it makes):
// k-truncate(HMAC(key, 0x00000001 | label | 0x00 | k in bits, 4 bytes)).
func kdfHMACSHA2(h func() hash.Hash, key, label []byte, n int) []byte {
	m := hmac.New(h, key)
	m.Write([]byte{0, 0, 0, 1})
	m.Write(label)
	m.Write([]byte{0})
	m.Write(binary.BigEndian.AppendUint32(nil, uint32(8*n)))
	return m.Sum(nil)[:n]
}

// macKey is an HMAC key with the inner and outer pads already hashed
// (FIPS 198-1 §6 allows precomputing them): each MAC restores the two
// saved hash states instead of hashing two key blocks again, in a hash
// taken from a pool shared by every key of that hash function, so a MAC
// costs no allocation.
type macKey struct {
	key          []byte
	hash         func() hash.Hash
	pool         *sync.Pool // of the bare hash; nil: hmac.New per MAC
	inner, outer []byte     // the hash states after key^ipad and key^opad
}

// hashPools hold bare SHA-1, SHA-256 and SHA-384 states for macKey.
var hashPools = []*sync.Pool{
	{New: func() any { return newMACState(sha1.New()) }},
	{New: func() any { return newMACState(sha256.New()) }},
	{New: func() any { return newMACState(sha512.New384()) }},
}

// macState is a pooled hash with room for the inner and outer digests
// (on the heap with it: a stack buffer handed to an interface method
// would escape, an allocation per MAC).
type macState struct {
	h       hash.Hash
	u       encoding.BinaryUnmarshaler
	in, out [sha512.Size]byte
}

func newMACState(h hash.Hash) *macState {
	u, _ := h.(encoding.BinaryUnmarshaler)
	return &macState{h: h, u: u}
}

func newMACKey(h func() hash.Hash, key []byte) *macKey {
	m := &macKey{key: key, hash: h}
	probe := h()
	for _, p := range hashPools {
		x := p.Get().(*macState)
		same := x.u != nil && reflect.TypeOf(x.h) == reflect.TypeOf(probe) && x.h.Size() == probe.Size() && x.h.BlockSize() == probe.BlockSize()
		p.Put(x)
		if same {
			m.pool = p
			break
		}
	}
	bs := probe.BlockSize()
	k := key
	if len(k) > bs {
		probe.Write(k)
		k = probe.Sum(nil)
		probe.Reset()
	}
	pad := make([]byte, bs)
	for i, xor := range []byte{0x36, 0x5c} {
		for j := range pad {
			pad[j] = xor
			if j < len(k) {
				pad[j] ^= k[j]
			}
		}
		probe.Reset()
		probe.Write(pad)
		bm, ok := probe.(encoding.BinaryMarshaler)
		if !ok {
			m.pool = nil
			break
		}
		st, err := bm.MarshalBinary()
		if err != nil {
			m.pool = nil
			break
		}
		if i == 0 {
			m.inner = st
		} else {
			m.outer = st
		}
	}
	clear(pad)
	return m
}

// sum returns HMAC(key, a | b) truncated to n bytes.
func (m *macKey) sum(a, b []byte, n int) []byte {
	var buf [sha512.Size]byte
	return m.sumTo(buf[:0], a, b)[:n]
}

// sumTo appends HMAC(key, a | b) to dst.
func (m *macKey) sumTo(dst, a, b []byte) []byte {
	if m.pool != nil {
		st := m.pool.Get().(*macState)
		if st.u.UnmarshalBinary(m.inner) == nil {
			st.h.Write(a)
			st.h.Write(b)
			inner := st.h.Sum(st.in[:0])
			if st.u.UnmarshalBinary(m.outer) == nil {
				st.h.Write(inner)
				dst = append(dst, st.h.Sum(st.out[:0])...)
				m.pool.Put(st)
				return dst
			}
		}
		// a state it saved itself always restores; never reached
	}
	h := hmac.New(m.hash, m.key)
	h.Write(a)
	h.Write(b)
	return h.Sum(dst)
}

// usageKeys are the keys for encrypting and decrypting with one base key
// and key usage.
type usageKeys struct {
	p  *aesProfile
	ke cipher.Block // AES with Ke, key schedule expanded
	ki *macKey
}

func (p *aesProfile) usageKeys(base []byte, usage uint32) (*usageKeys, error) {
	ke, err := p.deriveKey(base, usage, kindKe)
	if err != nil {
		return nil, err
	}
	ki, err := p.deriveKey(base, usage, kindKi)
	if err != nil {
		return nil, err
	}
	b, err := aes.NewCipher(ke)
	if err != nil {
		return nil, err
	}
	return &usageKeys{p: p, ke: b, ki: newMACKey(p.hash, ki)}, nil
}

// checksumKey returns Kc for usage, for checksum (RFC 3961 §5.4 get_mic;
// RFC 8009 §5 checksum).
func (p *aesProfile) checksumKey(base []byte, usage uint32) (*macKey, error) {
	kc, err := p.deriveKey(base, usage, kindKc)
	if err != nil {
		return nil, err
	}
	return newMACKey(p.hash, kc), nil
}

// checksum is the etype's keyed checksum of msg with Kc: HMAC truncated to
// h (hmac-sha1-96-aes128/256, hmac-sha256-128-aes128,
// hmac-sha384-192-aes256).
func (p *aesProfile) checksum(kc *macKey, msg []byte) []byte {
	return kc.sum(msg, nil, p.macLen)
}

// checksumTo appends the checksum of msg to dst.
func (p *aesProfile) checksumTo(dst []byte, kc *macKey, msg []byte) []byte {
	return kc.sumTo(dst, msg, nil)[:len(dst)+p.macLen]
}

var zeroIV [aes.BlockSize]byte

var errIntegrity = errors.New("integrity check failed")

// encrypt returns the ciphertext of plain with a random confounder
// (RFC 3961 §5.3 with RFC 3962, or RFC 8009 §5).
func (k *usageKeys) encrypt(plain []byte) ([]byte, error) {
	var conf [aes.BlockSize]byte
	if _, err := rand.Read(conf[:]); err != nil {
		return nil, err
	}
	return k.encryptWith(conf[:], plain), nil
}

// encryptWith encrypts with the given 16-byte confounder:
//
//	RFC 3962: C = AES-CTS(Ke, conf | plain); H = HMAC-SHA1(Ki, conf | plain)
//	RFC 8009: C = AES-CTS(Ke, conf | plain); H = HMAC-SHA2(Ki, IV | C), IV zero
//
// and returns C | H, H truncated to h.
func (k *usageKeys) encryptWith(conf, plain []byte) []byte {
	n := aes.BlockSize + len(plain)
	out := make([]byte, 2*n+k.p.macLen+2*aes.BlockSize) // C | H, then conf | plain and the CTS scratch
	pt := out[n+k.p.macLen : 2*n+k.p.macLen]
	copy(pt, conf)
	copy(pt[aes.BlockSize:], plain)
	ctsEncrypt(k.ke, out[:n], pt, out[2*n+k.p.macLen:])
	var sum [sha512.Size]byte
	var mac []byte
	if k.p.rfc8009 {
		mac = k.ki.sumTo(sum[:0], zeroIV[:], out[:n])
	} else {
		mac = k.ki.sumTo(sum[:0], pt, nil)
	}
	copy(out[n:], mac[:k.p.macLen])
	clear(pt)
	return out[: n+k.p.macLen : n+k.p.macLen]
}

// decrypt verifies and decrypts ct (C | H) and returns the plaintext
// without the confounder.
func (k *usageKeys) decrypt(ct []byte) ([]byte, error) {
	h := k.p.macLen
	if len(ct) < aes.BlockSize+h {
		return nil, fmt.Errorf("ciphertext of %d bytes is too short", len(ct))
	}
	c, mac := ct[:len(ct)-h], ct[len(ct)-h:]
	var sum [sha512.Size]byte
	if k.p.rfc8009 { // MAC over the ciphertext: check before decrypting
		if !hmac.Equal(k.ki.sumTo(sum[:0], zeroIV[:], c)[:h], mac) {
			return nil, errIntegrity
		}
	}
	pt := make([]byte, len(c)+2*aes.BlockSize) // the plaintext, then the CTS scratch
	pt, tmp := pt[:len(c):len(c)], pt[len(c):]
	ctsDecrypt(k.ke, pt, c, tmp)
	if !k.p.rfc8009 && !hmac.Equal(k.ki.sumTo(sum[:0], pt, nil)[:h], mac) {
		return nil, errIntegrity
	}
	return pt[aes.BlockSize:], nil
}

// ctsEncrypt is AES in CBC mode with ciphertext stealing and a zero IV
// (RFC 3962 §5, CBC-CS3: the last two blocks are always swapped, the
// output is as long as the input). len(src) >= 16; dst and src do not
// overlap; tmp is 32 bytes of scratch on the heap (a stack array handed
// to cipher.Block would escape: an allocation per message).
func ctsEncrypt(b cipher.Block, dst, src, tmp []byte) {
	n := len(src)
	if n == aes.BlockSize {
		b.Encrypt(dst, src)
		return
	}
	last := (n - 1) / aes.BlockSize * aes.BlockSize // start of the final (partial or full) block
	pen := last - aes.BlockSize
	cbcEncrypt(b, dst[:last], src[:last])
	// dst[pen:last] is E(n-1); the final block, zero padded, is chained to
	// it, and its encryption goes first, followed by E(n-1) truncated.
	en1, x := tmp[:aes.BlockSize], tmp[aes.BlockSize:2*aes.BlockSize]
	copy(en1, dst[pen:last])
	clear(x)
	copy(x, src[last:])
	subtle.XORBytes(x, x, en1)
	b.Encrypt(dst[pen:last], x)
	copy(dst[last:], en1[:n-last])
	clear(tmp[:2*aes.BlockSize])
}

// cbcEncrypt and cbcDecrypt are AES-CBC with a zero IV over whole blocks,
// dst and src not overlapping: what cipher.NewCBCEncrypter and
// NewCBCDecrypter do (Go has no assembly for CBC on amd64 either), without
// allocating a mode per message.
func cbcEncrypt(b cipher.Block, dst, src []byte) {
	for i := 0; i < len(src); i += aes.BlockSize {
		blk := dst[i : i+aes.BlockSize]
		if i == 0 {
			copy(blk, src[:aes.BlockSize])
		} else {
			subtle.XORBytes(blk, src[i:i+aes.BlockSize], dst[i-aes.BlockSize:i])
		}
		b.Encrypt(blk, blk)
	}
}

func cbcDecrypt(b cipher.Block, dst, src []byte) {
	for i := len(src) - aes.BlockSize; i >= 0; i -= aes.BlockSize {
		b.Decrypt(dst[i:i+aes.BlockSize], src[i:i+aes.BlockSize])
		if i > 0 {
			subtle.XORBytes(dst[i:i+aes.BlockSize], dst[i:i+aes.BlockSize], src[i-aes.BlockSize:i])
		}
	}
}

// ctsDecrypt undoes ctsEncrypt. len(src) >= 16; dst and src do not
// overlap; tmp as for ctsEncrypt.
func ctsDecrypt(b cipher.Block, dst, src, tmp []byte) {
	n := len(src)
	if n == aes.BlockSize {
		b.Decrypt(dst, src)
		return
	}
	last := (n - 1) / aes.BlockSize * aes.BlockSize
	pen := last - aes.BlockSize
	tail := n - last
	if pen > 0 {
		cbcDecrypt(b, dst[:pen], src[:pen])
	}
	// D = decrypt(src[pen:last]) = pad(P(n)) xor E(n-1): E(n-1) is the
	// stolen tail followed by the end of D.
	d, en1 := tmp[:aes.BlockSize], tmp[aes.BlockSize:2*aes.BlockSize]
	b.Decrypt(d, src[pen:last])
	copy(en1, src[last:])
	copy(en1[tail:], d[tail:])
	for i := 0; i < tail; i++ {
		dst[last+i] = d[i] ^ src[last+i]
	}
	b.Decrypt(dst[pen:last], en1)
	if pen > 0 {
		subtle.XORBytes(dst[pen:last], dst[pen:last], src[pen-aes.BlockSize:pen])
	}
	clear(tmp[:2*aes.BlockSize])
}

// derivedKeyCacheEntries bounds the cache of keys derived from ticket
// session keys, per Acceptor. An entry is one (session key, etype, key
// usage); a client with mutual authentication uses two (authenticator 11,
// AP-REP 12), so 4096 entries keep the keys of at least 1024 and up to
// 2048 clients whose tickets are in use (see derivedKeyCache for the
// eviction); beyond that, misses only cost the derivation gokrb5 did on
// every call. Memory: TestDerivedKeyCacheMemory measures about 1.8 KB per
// entry (the AES key schedule, 32-byte key, two pre-hashed HMAC states and
// the map entry), so about 7 MB when full.
const derivedKeyCacheEntries = 4096

// derivedKeyShards spreads the lock like replayShards; a power of two.
const derivedKeyShards = 16

// derivedKeyCache maps (session key, etype, usage) to usageKeys. Each shard
// keeps two generations: lookups hit the current map or promote from the
// previous one; when the current map holds its half of the shard's share
// it becomes the previous one (dropping the older) and a new current map
// starts. So at most derivedKeyCacheEntries entries are held, and a key in
// use survives as long as it is used at least once per generation.
//
// It is keyed by the key bytes themselves rather than a hash of them: a
// lookup cannot return another key's derived keys, and holding the session
// key is no worse than holding its derived keys, which are secret to the
// same degree. Only session keys from tickets that decrypted and verified
// with a service key get here, so only holders of valid tickets add
// entries.
type derivedKeyCache struct {
	shards [derivedKeyShards]derivedKeyShard
}

type derivedKeyShard struct {
	mu       sync.Mutex
	cur, old map[derivedKeyID]*usageKeys
}

type derivedKeyID struct {
	key   [32]byte // the session key, zero-padded when 16 bytes
	etype int32
	usage uint32
}

// derivedKeyGeneration is the size of one generation of one shard.
const derivedKeyGeneration = derivedKeyCacheEntries / derivedKeyShards / 2

// keys returns the usageKeys of an AES key for usage, from the cache or
// derived and added; an error when key has the wrong length.
func (c *derivedKeyCache) keys(p *aesProfile, key []byte, usage uint32) (*usageKeys, error) {
	if len(key) != p.keyLen {
		return nil, fmt.Errorf("key of %d bytes for etype %d", len(key), p.etype)
	}
	id := derivedKeyID{etype: p.etype, usage: usage}
	copy(id.key[:], key)
	s := &c.shards[key[0]%derivedKeyShards] // session keys are random
	s.mu.Lock()
	k, ok := s.cur[id]
	if !ok {
		if k, ok = s.old[id]; ok {
			s.put(id, k)
		}
	}
	s.mu.Unlock()
	if ok {
		return k, nil
	}
	k, err := p.usageKeys(key, usage) // outside the lock; a concurrent miss derives it twice
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.put(id, k)
	s.mu.Unlock()
	return k, nil
}

func (s *derivedKeyShard) put(id derivedKeyID, k *usageKeys) {
	if s.cur == nil || len(s.cur) >= derivedKeyGeneration {
		s.old, s.cur = s.cur, make(map[derivedKeyID]*usageKeys, derivedKeyGeneration)
	}
	s.cur[id] = k
}

// len returns the number of distinct entries held.
func (c *derivedKeyCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.cur)
		for id := range s.old {
			if _, ok := s.cur[id]; !ok {
				n++
			}
		}
		s.mu.Unlock()
	}
	return n
}

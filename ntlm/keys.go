package ntlm

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rc4"
	"encoding/binary"
	"hash"
	"strings"
	"sync"

	"golang.org/x/crypto/md4"
)

// NTHash is NTOWFv1: MD4(UNICODE(password)) (§3.3.1).
func NTHash(password string) []byte {
	h := md4.New()
	h.Write(utf16le(password))
	return h.Sum(nil)
}

// A handshake computes a dozen HMAC-MD5s; hmac.New would allocate two
// MD5 states and the pads for each. hmacMD5 does RFC 2104 itself with a
// pooled MD5 and pad (TestHMACMD5 checks it against crypto/hmac).
func hmacMD5(key []byte, data ...[]byte) []byte {
	st := md5Pool.Get().(*md5State)
	k := key
	if len(k) > md5.BlockSize {
		st.h.Reset()
		st.h.Write(k)
		k = st.h.Sum(st.sum[:0])
	}
	for i := range st.pad {
		st.pad[i] = 0x36
		if i < len(k) {
			st.pad[i] ^= k[i]
		}
	}
	st.h.Reset()
	st.h.Write(st.pad[:])
	for _, d := range data {
		st.h.Write(d)
	}
	inner := st.h.Sum(st.sum[:0])
	for i := range st.pad {
		st.pad[i] ^= 0x36 ^ 0x5c
	}
	st.h.Reset()
	st.h.Write(st.pad[:])
	st.h.Write(inner)
	out := st.h.Sum(make([]byte, 0, md5.Size))
	clear(st.pad[:])
	clear(st.sum[:])
	st.h.Reset()
	md5Pool.Put(st)
	return out
}

type md5State struct {
	h   hash.Hash
	pad [md5.BlockSize]byte
	sum [md5.Size]byte
}

var md5Pool = sync.Pool{New: func() any { return &md5State{h: md5.New()} }}

// NTOWFv2 is HMAC_MD5(NTHash, UNICODE(Uppercase(user) || domain)) (§3.3.2).
func NTOWFv2(ntHash []byte, user, domain string) []byte {
	return hmacMD5(ntHash, utf16le(strings.ToUpper(user)+domain))
}

// ntlmv2Blob is the "temp" of §3.3.2: Responserversion, HiResponserversion,
// Z(6), Time, ClientChallenge, Z(4), ServerName (AV pairs), Z(4).
func ntlmv2Blob(ts uint64, clientChallenge [8]byte, targetInfo []byte) []byte {
	b := make([]byte, 28, 28+len(targetInfo)+4)
	b[0], b[1] = 1, 1
	binary.LittleEndian.PutUint64(b[8:], ts)
	copy(b[16:], clientChallenge[:])
	b = append(b, targetInfo...)
	return append(b, 0, 0, 0, 0)
}

// ntProof computes NTProofStr = HMAC_MD5(ResponseKeyNT, ServerChallenge || temp).
func ntProof(responseKeyNT []byte, serverChallenge [8]byte, blob []byte) []byte {
	return hmacMD5(responseKeyNT, serverChallenge[:], blob)
}

// lmv2 is LMv2: HMAC_MD5(ResponseKeyLM, ServerChallenge || ClientChallenge) || ClientChallenge.
func lmv2(responseKeyLM []byte, serverChallenge, clientChallenge [8]byte) []byte {
	return append(hmacMD5(responseKeyLM, serverChallenge[:], clientChallenge[:]), clientChallenge[:]...)
}

// sessionBaseKey is HMAC_MD5(ResponseKeyNT, NTProofStr); for NTLMv2 the
// KeyExchangeKey is the same (§3.4.5.1).
func sessionBaseKey(responseKeyNT, proof []byte) []byte { return hmacMD5(responseKeyNT, proof) }

// rc4Once encrypts or decrypts data with key.
func rc4Once(key, data []byte) []byte {
	c, _ := rc4.NewCipher(key) // key length 16: cannot fail
	out := make([]byte, len(data))
	c.XORKeyStream(out, data)
	return out
}

// Magic constants of §3.4.5.2 and §3.4.5.3.
const (
	clientSignMagic = "session key to client-to-server signing key magic constant\x00"
	serverSignMagic = "session key to server-to-client signing key magic constant\x00"
	clientSealMagic = "session key to client-to-server sealing key magic constant\x00"
	serverSealMagic = "session key to server-to-client sealing key magic constant\x00"
)

func md5Of(parts ...[]byte) []byte {
	h := md5.New()
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

// Session holds the signing and sealing state after a handshake with
// extended session security, enough to compute and check SPNEGO's
// mechListMIC (RFC 4178 §5 with NTLM: a MAC per §3.4.4.2).
type Session struct {
	ExportedKey []byte
	flags       uint32
	sendSign    []byte
	recvSign    []byte
	sendSeal    *rc4.Cipher
	recvSeal    *rc4.Cipher
	sendSeq     uint32
	recvSeq     uint32
	client      bool // which direction is "send"; the keys are derived on first use
}

// newSession derives the keys; client tells which direction is "send".
// HTTP authentication uses them only for SPNEGO's mechListMIC, so they
// are derived when first needed (Sign, Verify), not in every handshake.
func newSession(exported []byte, flags uint32, client bool) *Session {
	return &Session{ExportedKey: exported, flags: flags, client: client}
}

// derive computes the signing and sealing keys (§3.4.5.2, §3.4.5.3) once.
func (s *Session) derive() {
	if s.sendSign != nil {
		return
	}
	exported, flags, client := s.ExportedKey, s.flags, s.client
	cs, ss := md5Of(exported, []byte(clientSignMagic)), md5Of(exported, []byte(serverSignMagic))
	sealKey := exported
	switch {
	case flags&Flag128 != 0:
	case flags&Flag56 != 0:
		sealKey = exported[:7]
	default:
		sealKey = exported[:5]
	}
	cz, sz := md5Of(sealKey, []byte(clientSealMagic)), md5Of(sealKey, []byte(serverSealMagic))
	cc, _ := rc4.NewCipher(cz)
	sc, _ := rc4.NewCipher(sz)
	if client {
		s.sendSign, s.recvSign, s.sendSeal, s.recvSeal = cs, ss, cc, sc
	} else {
		s.sendSign, s.recvSign, s.sendSeal, s.recvSeal = ss, cs, sc, cc
	}
}

// mac is the NTLMSSP_MESSAGE_SIGNATURE with extended session security
// (§3.4.4.2): version 1, the first 8 bytes of the HMAC (RC4-sealed when
// keys were exchanged), the sequence number.
func (s *Session) mac(signKey []byte, seal *rc4.Cipher, seq uint32, msg []byte) []byte {
	var sb [4]byte
	binary.LittleEndian.PutUint32(sb[:], seq)
	sum := hmacMD5(signKey, sb[:], msg)[:8]
	if s.flags&FlagKeyExch != 0 {
		seal.XORKeyStream(sum, sum)
	}
	out := make([]byte, 16)
	binary.LittleEndian.PutUint32(out, 1)
	copy(out[4:], sum)
	copy(out[12:], sb[:])
	return out
}

// Sign returns the MAC of msg for the peer and advances the sequence.
func (s *Session) Sign(msg []byte) []byte {
	s.derive()
	m := s.mac(s.sendSign, s.sendSeal, s.sendSeq, msg)
	s.sendSeq++
	return m
}

// Verify checks the peer's MAC of msg and advances the sequence.
func (s *Session) Verify(msg, sig []byte) bool {
	s.derive()
	want := s.mac(s.recvSign, s.recvSeal, s.recvSeq, msg)
	s.recvSeq++
	return hmac.Equal(want, sig)
}

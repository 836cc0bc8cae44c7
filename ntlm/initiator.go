package ntlm

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// ClientConfig configures an initiator.
type ClientConfig struct {
	User, Domain string
	Password     string // or NTHash
	NTHash       []byte
	Workstation  string
	// TargetName is the SPN the client means ("HTTP/host"), sent as
	// MsvAvTargetName (service binding).
	TargetName string
	// ChannelBindings is the MD5 of the GSS channel bindings (package
	// cbt); nil sends the all-zero value, as Windows does without TLS.
	ChannelBindings *[16]byte
	Now             func() time.Time
	Rand            io.Reader
}

// Client is one initiator handshake.
type Client struct {
	cfg       ClientConfig
	negotiate []byte
	session   *Session
}

// NewClient starts a handshake.
func NewClient(cfg ClientConfig) *Client { return &Client{cfg: cfg} }

const clientFlags = FlagUnicode | FlagRequestTarget | FlagSign | FlagNTLM | FlagAlwaysSign |
	FlagExtendedSessionSecurity | FlagTargetInfo | FlagVersion | Flag128 | FlagKeyExch | Flag56

// Negotiate is step 1: the NEGOTIATE message.
func (c *Client) Negotiate() ([]byte, error) {
	b, err := (&NegotiateMessage{Flags: clientFlags}).Marshal()
	if err != nil {
		return nil, err
	}
	c.negotiate = b
	return b, nil
}

// Authenticate is step 2: it answers the server's CHALLENGE.
func (c *Client) Authenticate(challenge []byte) ([]byte, error) {
	if c.negotiate == nil {
		return nil, errors.New("ntlm: Authenticate before Negotiate")
	}
	ch, err := ParseChallenge(challenge)
	if err != nil {
		return nil, err
	}
	rnd := c.cfg.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	hash := c.cfg.NTHash
	if hash == nil {
		hash = NTHash(c.cfg.Password)
	}
	now := time.Now
	if c.cfg.Now != nil {
		now = c.cfg.Now
	}
	// §3.1.5.1.2: use the server's timestamp when it sent one.
	ts := filetime(now())
	_, serverTS := ch.TargetInfo.Timestamp()
	if v, ok := ch.TargetInfo.Get(AvTimestamp); ok && len(v) == 8 {
		ts = binary.LittleEndian.Uint64(v)
	}
	var cc [8]byte
	if _, err := io.ReadFull(rnd, cc[:]); err != nil {
		return nil, fmt.Errorf("ntlm: client challenge: %w", err)
	}
	info := append(AVPairs(nil), ch.TargetInfo...)
	var fl [4]byte
	binary.LittleEndian.PutUint32(fl[:], ch.TargetInfo.Flags()|AvFlagMICPresent)
	info = info.set(AvFlags, fl[:])
	var cb [16]byte
	if c.cfg.ChannelBindings != nil {
		cb = *c.cfg.ChannelBindings
	}
	info = info.set(AvChannelBindings, cb[:])
	if c.cfg.TargetName != "" {
		info = info.set(AvTargetName, utf16le(c.cfg.TargetName))
	}
	blob := ntlmv2Blob(ts, cc, info.Marshal())
	key := NTOWFv2(hash, c.cfg.User, c.cfg.Domain)
	proof := ntProof(key, ch.Challenge, blob)
	lm := make([]byte, 24) // Z(24) when the server sent a timestamp
	if !serverTS {
		lm = lmv2(key, ch.Challenge, cc)
	}
	flags := clientFlags & ch.Flags
	kx := sessionBaseKey(key, proof)
	exported := kx
	var enc []byte
	if flags&FlagKeyExch != 0 {
		exported = make([]byte, 16)
		if _, err := io.ReadFull(rnd, exported); err != nil {
			return nil, fmt.Errorf("ntlm: session key: %w", err)
		}
		enc = rc4Once(kx, exported)
	}
	a := &AuthenticateMessage{
		LmResponse: lm, NtResponse: append(proof, blob...), Domain: c.cfg.Domain, User: c.cfg.User,
		Workstation: c.cfg.Workstation, EncryptedSessionKey: enc, Flags: flags, MIC: make([]byte, 16),
	}
	b, err := a.Marshal()
	if err != nil {
		return nil, err
	}
	mic := hmacMD5(exported, c.negotiate, challenge, b)
	copy(b[micOffset:], mic)
	c.session = newSession(exported, flags, true)
	return b, nil
}

// Session is the signing state once Authenticate has run.
func (c *Client) Session() *Session { return c.session }

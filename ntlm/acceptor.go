package ntlm

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// ErrUnknownUser is what a Lookup returns for an account it does not have.
var ErrUnknownUser = errors.New("ntlm: unknown user")

// TimestampWindow bounds how far the client's NTLMv2 timestamp may be from
// the server's clock. Clients copy the CHALLENGE's MsvAvTimestamp, so an
// honest one is seconds off; one that uses its own clock is within the
// usual Kerberos-style skew. The challenge itself is single-use, so this
// only limits how long a captured response stays meaningful.
const TimestampWindow = 15 * time.Minute

// ServerConfig configures an acceptor.
type ServerConfig struct {
	NetBIOSComputer, NetBIOSDomain string // MsvAvNbComputerName, MsvAvNbDomainName
	DNSComputer, DNSDomain         string // optional MsvAvDnsComputerName, MsvAvDnsDomainName
	// Lookup returns the NT hash of user, ErrUnknownUser when there is
	// none, another error for a technical failure.
	Lookup func(user, domain string) ([]byte, error)
	// Verify, when set instead of Lookup, hands the response to someone
	// who knows the password (a domain controller, through winbind's
	// ntlm_auth) and gets back the NTLMv2 session base key. It returns
	// an error wrapping ErrAuthFailed for a refused login.
	Verify Verifier
	Now    func() time.Time // time.Now when nil
	Rand   io.Reader        // crypto/rand when nil
}

// Result is a successful authentication.
type Result struct {
	User, Domain, Workstation string
	Flags                     uint32 // negotiated
	// ExportedKey is the exported session key (§3.4.5.1); Session signs
	// and verifies the mechListMIC.
	ExportedKey []byte
	Session     *Session
	// AVFlags is the client's MsvAvFlags.
	AVFlags uint32
	// TargetName is the client's MsvAvTargetName (the SPN it meant);
	// HasTargetName tells whether the pair was there at all.
	TargetName    string
	HasTargetName bool
	// ChannelBindings is the client's MsvAvChannelBindings (all zero when
	// it sent none: HasChannelBindings false).
	ChannelBindings    [16]byte
	HasChannelBindings bool
}

// Server is one acceptor handshake: NEGOTIATE in, CHALLENGE out,
// AUTHENTICATE in. It is used once and discarded.
type Server struct {
	cfg       ServerConfig
	negotiate *NegotiateMessage
	challenge *ChallengeMessage
	done      bool
}

// NewServer starts a handshake.
func NewServer(cfg ServerConfig) *Server { return &Server{cfg: cfg} }

func (s *Server) now() time.Time {
	if s.cfg.Now != nil {
		return s.cfg.Now()
	}
	return time.Now()
}

// Challenge is step 1: it reads the client's NEGOTIATE and returns the
// CHALLENGE to send.
func (s *Server) Challenge(negotiate []byte) ([]byte, error) {
	if s.challenge != nil {
		return nil, errors.New("ntlm: Challenge called twice on one handshake")
	}
	n, err := ParseNegotiate(negotiate)
	if err != nil {
		return nil, err
	}
	// Unicode is always chosen: clients that offer only OEM (curl) read
	// the CHALLENGE's flags and answer in Unicode.
	flags := FlagUnicode | FlagRequestTarget | FlagNTLM | FlagAlwaysSign | FlagExtendedSessionSecurity |
		FlagTargetInfo | FlagVersion | FlagTargetTypeServer
	flags |= n.Flags & (FlagSign | FlagSeal | FlagKeyExch | Flag128 | Flag56)
	m := &ChallengeMessage{Flags: flags, TargetName: s.cfg.NetBIOSDomain}
	r := s.cfg.Rand
	if r == nil {
		r = rand.Reader
	}
	if _, err := io.ReadFull(r, m.Challenge[:]); err != nil {
		return nil, fmt.Errorf("ntlm: challenge: %w", err)
	}
	var ts [8]byte
	binary.LittleEndian.PutUint64(ts[:], filetime(s.now()))
	ti := AVPairs{
		{ID: AvNbDomainName, Value: utf16le(s.cfg.NetBIOSDomain)},
		{ID: AvNbComputerName, Value: utf16le(s.cfg.NetBIOSComputer)},
	}
	if s.cfg.DNSDomain != "" {
		ti = append(ti, AVPair{ID: AvDnsDomainName, Value: utf16le(s.cfg.DNSDomain)})
	}
	if s.cfg.DNSComputer != "" {
		ti = append(ti, AVPair{ID: AvDnsComputerName, Value: utf16le(s.cfg.DNSComputer)})
	}
	m.TargetInfo = append(ti, AVPair{ID: AvTimestamp, Value: ts[:]})
	b, err := m.Marshal()
	if err != nil {
		return nil, err
	}
	m.Raw = b
	s.negotiate, s.challenge = n, m
	return b, nil
}

// Authenticate is step 2: it verifies the client's AUTHENTICATE.
func (s *Server) Authenticate(authenticate []byte) (*Result, error) {
	if s.challenge == nil || s.done {
		return nil, fmt.Errorf("%w: AUTHENTICATE without a CHALLENGE in this handshake", ErrAuthFailed)
	}
	s.done = true
	a, err := ParseAuthenticate(authenticate)
	if err != nil {
		return nil, err
	}
	switch {
	case a.User == "" && len(a.NtResponse) == 0:
		return nil, fmt.Errorf("%w: anonymous NTLM is not allowed", ErrAuthFailed)
	case len(a.NtResponse) == 24:
		return nil, fmt.Errorf("%w: NTLMv1 response refused (only NTLMv2 is accepted)", ErrAuthFailed)
	case len(a.NtResponse) < 16+28:
		return nil, malformed("NTLMv2 response of %d bytes", len(a.NtResponse))
	}
	proof, blob := a.NtResponse[:16], a.NtResponse[16:]
	if blob[0] != 1 || blob[1] != 1 {
		return nil, malformed("NTLMv2 blob version %d.%d", blob[0], blob[1])
	}
	pairs, err := ParseAVPairs(blob[28:])
	if err != nil {
		return nil, err
	}
	var kx []byte
	if s.cfg.Verify != nil {
		sbk, err := s.cfg.Verify(a.User, a.Domain, s.challenge.Challenge, a.NtResponse, a.LmResponse)
		if err != nil {
			return nil, err
		}
		if len(sbk) != 16 {
			return nil, fmt.Errorf("ntlm: verifier returned a %d-byte session key", len(sbk))
		}
		kx = sbk
	} else {
		hash, lerr := s.cfg.Lookup(a.User, a.Domain)
		unknown := errors.Is(lerr, ErrUnknownUser)
		if lerr != nil && !unknown {
			return nil, fmt.Errorf("ntlm: looking up %q: %w", a.User, lerr)
		}
		if unknown || len(hash) != 16 {
			hash = make([]byte, 16) // same work for an unknown user
		}
		key := NTOWFv2(hash, a.User, a.Domain)
		want := ntProof(key, s.challenge.Challenge, blob)
		if subtle.ConstantTimeCompare(want, proof) != 1 || unknown {
			if unknown {
				return nil, fmt.Errorf("%w: unknown user %q", ErrAuthFailed, a.User)
			}
			return nil, fmt.Errorf("%w: wrong password for %q (NTProofStr mismatch)", ErrAuthFailed, a.User)
		}
		kx = sessionBaseKey(key, proof)
	}
	ts := fromFiletime(binary.LittleEndian.Uint64(blob[8:16]))
	if d := s.now().Sub(ts); d > TimestampWindow || d < -TimestampWindow {
		return nil, fmt.Errorf("%w: NTLMv2 timestamp %v is outside the %v window", ErrAuthFailed, ts.UTC(), TimestampWindow)
	}
	flags := a.Flags & s.challenge.Flags
	exported := kx
	if flags&FlagKeyExch != 0 {
		if len(a.EncryptedSessionKey) != 16 {
			return nil, malformed("key exchange without a 16-byte encrypted session key")
		}
		exported = rc4Once(kx, a.EncryptedSessionKey)
	}
	res := &Result{User: a.User, Domain: a.Domain, Workstation: a.Workstation, Flags: flags,
		ExportedKey: exported, AVFlags: pairs.Flags()}
	if res.AVFlags&AvFlagMICPresent != 0 {
		if a.micOffset == 0 {
			return nil, fmt.Errorf("%w: MsvAvFlags announce a MIC the message has no room for", ErrAuthFailed)
		}
		mic := hmacMD5(exported, s.negotiate.Raw, s.challenge.Raw, a.withZeroMIC())
		if !hmac.Equal(mic, a.MIC) {
			return nil, fmt.Errorf("%w: MIC does not verify (message tampered with)", ErrAuthFailed)
		}
	}
	if tn, ok := pairs.Get(AvTargetName); ok {
		res.HasTargetName = true
		if res.TargetName, err = fromUTF16le(tn); err != nil {
			return nil, err
		}
	}
	if cb, ok := pairs.Get(AvChannelBindings); ok && len(cb) == 16 {
		copy(res.ChannelBindings[:], cb)
		res.HasChannelBindings = res.ChannelBindings != [16]byte{}
	}
	res.Session = newSession(exported, flags, false)
	return res, nil
}

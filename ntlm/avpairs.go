package ntlm

import (
	"encoding/binary"
	"time"
)

// AV pair IDs (§2.2.2.1).
const (
	AvEOL             uint16 = 0
	AvNbComputerName  uint16 = 1
	AvNbDomainName    uint16 = 2
	AvDnsComputerName uint16 = 3
	AvDnsDomainName   uint16 = 4
	AvDnsTreeName     uint16 = 5
	AvFlags           uint16 = 6
	AvTimestamp       uint16 = 7
	AvSingleHost      uint16 = 8
	AvTargetName      uint16 = 9
	AvChannelBindings uint16 = 10
)

// MsvAvFlags bits (§2.2.2.1).
const (
	AvFlagConstrained     uint32 = 0x1
	AvFlagMICPresent      uint32 = 0x2
	AvFlagUntrustedTarget uint32 = 0x4
)

// AVPair is one AV_PAIR.
type AVPair struct {
	ID    uint16
	Value []byte
}

// AVPairs is an ordered list (order matters for the NTLMv2 blob; it is
// never a map). The terminating MsvAvEOL is not in the list.
type AVPairs []AVPair

// ParseAVPairs decodes a list up to MsvAvEOL. Duplicates are refused
// (§2.2.2.1: each AvId at most once).
func ParseAVPairs(b []byte) (AVPairs, error) {
	var out AVPairs
	seen := map[uint16]bool{}
	for {
		if len(b) < 4 {
			return nil, malformed("AV pair list without MsvAvEOL")
		}
		id := binary.LittleEndian.Uint16(b)
		l := int(binary.LittleEndian.Uint16(b[2:]))
		b = b[4:]
		if id == AvEOL {
			return out, nil // bytes after EOL are padding (Z(4) in the blob)
		}
		if l > len(b) {
			return nil, malformed("AV pair %d length %d beyond the list", id, l)
		}
		if seen[id] {
			return nil, malformed("AV pair %d twice", id)
		}
		if len(out) == maxAVPairs {
			return nil, malformed("more than %d AV pairs", maxAVPairs)
		}
		seen[id] = true
		out = append(out, AVPair{ID: id, Value: append([]byte(nil), b[:l]...)})
		b = b[l:]
	}
}

// Marshal encodes the list and its MsvAvEOL.
func (a AVPairs) Marshal() []byte {
	var b []byte
	for _, p := range a {
		b = binary.LittleEndian.AppendUint16(b, p.ID)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(p.Value)))
		b = append(b, p.Value...)
	}
	return append(b, 0, 0, 0, 0)
}

// Get returns the value of id.
func (a AVPairs) Get(id uint16) ([]byte, bool) {
	for _, p := range a {
		if p.ID == id {
			return p.Value, true
		}
	}
	return nil, false
}

// String returns a UTF-16 valued pair as a string.
func (a AVPairs) String(id uint16) (string, bool) {
	v, ok := a.Get(id)
	if !ok {
		return "", false
	}
	s, err := fromUTF16le(v)
	return s, err == nil
}

// Flags returns MsvAvFlags (0 when absent).
func (a AVPairs) Flags() uint32 {
	v, ok := a.Get(AvFlags)
	if !ok || len(v) != 4 {
		return 0
	}
	return binary.LittleEndian.Uint32(v)
}

// Timestamp returns MsvAvTimestamp, a FILETIME.
func (a AVPairs) Timestamp() (time.Time, bool) {
	v, ok := a.Get(AvTimestamp)
	if !ok || len(v) != 8 {
		return time.Time{}, false
	}
	return fromFiletime(binary.LittleEndian.Uint64(v)), true
}

// set replaces or appends a pair.
func (a AVPairs) set(id uint16, v []byte) AVPairs {
	for i := range a {
		if a[i].ID == id {
			a[i].Value = v
			return a
		}
	}
	return append(a, AVPair{ID: id, Value: v})
}

// FILETIME: 100 ns intervals since 1601-01-01.
const filetimeEpochDelta = 116444736000000000

func filetime(t time.Time) uint64 { return uint64(t.UnixNano()/100 + filetimeEpochDelta) }

func fromFiletime(ft uint64) time.Time {
	if ft < filetimeEpochDelta {
		return time.Unix(0, 0)
	}
	if ft-filetimeEpochDelta > 1<<62/100 {
		return time.Unix(1<<40, 0) // absurdly far: fails any window check
	}
	return time.Unix(0, int64(ft-filetimeEpochDelta)*100)
}

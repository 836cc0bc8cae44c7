package client

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/jcmturner/gokrb5/v8/credentials"
	"golang.org/x/crypto/cryptobyte"
)

// The ccache is user input: gokrb5's parser trusts the counts in the file
// (a bogus address count makes it allocate gigabytes and the process
// dies), so the file is walked here first, bounds-checked, and only a
// well-formed one is handed over. The MIT FILE format, versions 3 and 4
// (big-endian; MIT has written version 4 since krb5 1.3):
//
//	uint16 0x0503 | 0x0504
//	v4: uint16 header length, then tags: uint16 tag, uint16 length, value
//	principal (default)
//	credential*
//
//	principal  = uint32 name type, uint32 count, data realm, count * data
//	credential = principal client, principal server,
//	             keyblock: uint16 enctype (twice in v3), data
//	             uint32 authtime, starttime, endtime, renew_till
//	             uint8 is_skey, uint32 ticket flags
//	             uint32 count, count * (uint16 addrtype, data)
//	             uint32 count, count * (uint16 ad-type, data)
//	             data ticket, data second ticket
//	data       = uint32 length, bytes

// maxCCacheSize bounds the ccache read (MIT's hold a few tickets: KBs).
const maxCCacheSize = 16 << 20

// maxPrincipalComponents bounds a principal's name components.
const maxPrincipalComponents = 16

var errCCacheMalformed = errors.New("malformed")

// loadCCache reads a FILE ccache: checked here, parsed by gokrb5.
func loadCCache(path string) (*credentials.CCache, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCCacheSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxCCacheSize {
		return nil, fmt.Errorf("ccache %s is larger than %d bytes", path, maxCCacheSize)
	}
	cc, err := parseCCache(b)
	if err != nil {
		return nil, fmt.Errorf("ccache %s: %w", path, err)
	}
	return cc, nil
}

func parseCCache(b []byte) (cc *credentials.CCache, err error) {
	defer func() { // belt and braces: checkCCache should make this unreachable
		if r := recover(); r != nil {
			cc, err = nil, errCCacheMalformed
		}
	}()
	norm, err := checkCCache(b)
	if err != nil {
		return nil, err
	}
	cc = new(credentials.CCache)
	if err := cc.Unmarshal(norm); err != nil {
		return nil, err
	}
	return cc, nil
}

// checkCCache walks a version 3 or 4 ccache and returns it with the v4
// header's tags dropped (gokrb5 does not use them, and its header loop can
// misread some lengths), or an error saying what is wrong.
func checkCCache(b []byte) ([]byte, error) {
	s := cryptobyte.String(b)
	var v uint16
	if !s.ReadUint16(&v) || v>>8 != 5 {
		return nil, fmt.Errorf("%w: not a FILE ccache", errCCacheMalformed)
	}
	ver := v & 0xff
	if ver != 3 && ver != 4 {
		return nil, fmt.Errorf("ccache version %d is not supported (3 or 4)", ver)
	}
	if ver == 4 {
		var hdr cryptobyte.String
		if !s.ReadUint16LengthPrefixed(&hdr) {
			return nil, fmt.Errorf("%w: header", errCCacheMalformed)
		}
		for !hdr.Empty() {
			var tag uint16
			var val cryptobyte.String
			if !hdr.ReadUint16(&tag) || !hdr.ReadUint16LengthPrefixed(&val) {
				return nil, fmt.Errorf("%w: header tag", errCCacheMalformed)
			}
		}
	}
	body := []byte(s)
	if !skipPrincipal(&s) {
		return nil, fmt.Errorf("%w: default principal", errCCacheMalformed)
	}
	for n := 1; !s.Empty(); n++ {
		if !skipCredential(&s, ver) {
			return nil, fmt.Errorf("%w: credential %d", errCCacheMalformed, n)
		}
	}
	out := []byte{5, byte(ver)}
	if ver == 4 {
		out = append(out, 0, 0) // no header tags
	}
	return append(out, body...), nil
}

func skipData(s *cryptobyte.String) bool {
	var n uint32
	return s.ReadUint32(&n) && s.Skip(int(n)) // int is 64 bits here; Skip checks the length
}

func skipPrincipal(s *cryptobyte.String) bool {
	var typ, n uint32
	if !s.ReadUint32(&typ) || !s.ReadUint32(&n) || n > maxPrincipalComponents || !skipData(s) {
		return false
	}
	for range n {
		if !skipData(s) {
			return false
		}
	}
	return true
}

func skipCredential(s *cryptobyte.String, ver uint16) bool {
	var u16 uint16
	var u32 uint32
	var u8 uint8
	if !skipPrincipal(s) || !skipPrincipal(s) || !s.ReadUint16(&u16) {
		return false
	}
	if ver == 3 && !s.ReadUint16(&u16) {
		return false
	}
	if !skipData(s) {
		return false
	}
	for range 4 { // times
		if !s.ReadUint32(&u32) {
			return false
		}
	}
	if !s.ReadUint8(&u8) || !s.ReadUint32(&u32) {
		return false
	}
	for range 2 { // addresses, then authorization data
		var n uint32
		if !s.ReadUint32(&n) {
			return false
		}
		for range n {
			if !s.ReadUint16(&u16) || !skipData(s) {
				return false
			}
		}
	}
	return skipData(s) && skipData(s)
}

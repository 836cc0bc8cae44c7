package spnego

// Length-first DER for the tokens every request carries (NegTokenResp on
// the acceptor, NegTokenInit on the initiator): the sizes are known before
// writing, so one buffer is filled front to back with no closures
// (cryptobyte.Builder costs an allocation per nested element).

// hdrLen is the size of a tag and the DER length of n content bytes.
func hdrLen(n int) int {
	switch {
	case n < 0x80:
		return 2
	case n < 0x100:
		return 3
	case n < 0x10000:
		return 4
	}
	return 5 // tokens are bounded by MaxTokenSize, far below 1<<24
}

// tlvLen is the size of an element of n content bytes.
func tlvLen(n int) int { return hdrLen(n) + n }

// appendHdr appends a tag and the DER length n.
func appendHdr(b []byte, tag byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(b, tag, byte(n))
	case n < 0x100:
		return append(b, tag, 0x81, byte(n))
	case n < 0x10000:
		return append(b, tag, 0x82, byte(n>>8), byte(n))
	}
	return append(b, tag, 0x83, byte(n>>16), byte(n>>8), byte(n))
}

// octetsField is the size of "[n] OCTET STRING" holding v (0 when v is nil).
func octetsField(v []byte) int {
	if v == nil {
		return 0
	}
	return tlvLen(tlvLen(len(v)))
}

func appendOctetsField(b []byte, n uint8, v []byte) []byte {
	if v == nil {
		return b
	}
	b = appendHdr(b, byte(field(n)), tlvLen(len(v)))
	b = appendHdr(b, 0x04, len(v))
	return append(b, v...)
}

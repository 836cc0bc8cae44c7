// Package bits is the wire codec and session state of the BITS Upload
// Protocol (Microsoft's [MC-BUP], "BITS 1.5 Upload Protocol"): the packet
// types a client sends with the BITS_POST method (Ping, Create-Session,
// Fragment, Close-Session, Cancel-Session) and the server's Ack, the
// header values they carry (BITS-Session-Id, Content-Range,
// BITS-Received-Content-Range, BITS-Error-Code/BITS-Error-Context), and the
// server's view of one upload session as an explicit state machine
// (Session.Accept decides what part of a fragment to write).
//
// It is not an HTTP handler or client: it parses and formats header
// values and never imports net/http. package server's bits_upload handler
// and package jobs's upload jobs compose it with HTTP. Upload-reply jobs
// (BITS-Reply-URL) and server-side notification to an application are not
// implemented.
package bits

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Method is the HTTP method of every BITS upload request ([MC-BUP] 2.2.1.1).
const Method = "BITS_POST"

// Protocol15 is the GUID of the BITS 1.5 Upload Protocol, the one protocol
// of BITS-Supported-Protocols / BITS-Protocol ([MC-BUP] 2.2.2).
const Protocol15 = "{7df0354d-249b-430f-820d-3d2a9bef4931}"

// Header names ([MC-BUP] 2.2.1.2). The spec names the error header
// BITS-Error; Windows' BITS server documentation and IIS send
// BITS-Error-Code, which ErrorHeader is; a client reads both.
const (
	HeaderPacketType         = "BITS-Packet-Type"
	HeaderSessionID          = "BITS-Session-Id"
	HeaderSupportedProtocols = "BITS-Supported-Protocols"
	HeaderProtocol           = "BITS-Protocol"
	HeaderReceivedRange      = "BITS-Received-Content-Range"
	HeaderErrorCode          = "BITS-Error-Code"
	HeaderErrorSpec          = "BITS-Error"
	HeaderErrorContext       = "BITS-Error-Context"
)

// Limits on attacker-controlled header values: a session id is a GUID
// (38 characters with braces); a Content-Range or a protocol list longer
// than these is not from a BITS client.
const (
	maxRangeLen     = 100
	maxProtocolsLen = 1024
)

// PacketType is BITS-Packet-Type.
type PacketType int

const (
	Ping PacketType = iota + 1
	CreateSession
	Fragment
	CloseSession
	CancelSession
	Ack
)

var packetNames = []string{Ping: "Ping", CreateSession: "Create-Session", Fragment: "Fragment",
	CloseSession: "Close-Session", CancelSession: "Cancel-Session", Ack: "Ack"}

// String is the name as Windows sends it (the spec's upper case is
// accepted by ParsePacketType).
func (p PacketType) String() string {
	if p > 0 && int(p) < len(packetNames) {
		return packetNames[p]
	}
	return "PacketType(" + strconv.Itoa(int(p)) + ")"
}

// ErrMalformed wraps every parse error of this package.
var ErrMalformed = errors.New("bits: malformed")

// ParsePacketType reads BITS-Packet-Type, case-insensitively ([MC-BUP]
// writes CREATE-SESSION, Windows sends Create-Session).
func ParsePacketType(s string) (PacketType, error) {
	for i, n := range packetNames {
		if n != "" && strings.EqualFold(strings.TrimSpace(s), n) {
			return PacketType(i), nil
		}
	}
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return 0, fmt.Errorf("%w: BITS-Packet-Type %q", ErrMalformed, s)
}

// SessionID is a BITS-Session-Id, a GUID ([MS-DTYP] 2.3.4.3).
type SessionID [16]byte

// NewSessionID is a random (version 4) GUID.
func NewSessionID() (SessionID, error) {
	var id SessionID
	if _, err := rand.Read(id[:]); err != nil {
		return id, err
	}
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return id, nil
}

// String is the registry form, {xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}, in
// lower case. The bytes are kept in text order (not Windows' mixed-endian
// GUID layout): the id is only ever compared and printed.
func (id SessionID) String() string {
	h := hex.EncodeToString(id[:])
	return "{" + h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32] + "}"
}

// ParseSessionID reads a GUID with or without braces, any case.
func ParseSessionID(s string) (SessionID, error) {
	var id SessionID
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") {
		t = t[1 : len(t)-1]
	}
	if len(t) != 36 || t[8] != '-' || t[13] != '-' || t[18] != '-' || t[23] != '-' {
		return id, fmt.Errorf("%w: BITS-Session-Id is not a GUID", ErrMalformed)
	}
	h := t[0:8] + t[9:13] + t[14:18] + t[19:23] + t[24:36]
	if _, err := hex.Decode(id[:], []byte(h)); err != nil {
		return id, fmt.Errorf("%w: BITS-Session-Id is not a GUID", ErrMalformed)
	}
	return id, nil
}

// SupportsProtocol15 reports whether a BITS-Supported-Protocols list (GUIDs
// separated by spaces) offers the BITS 1.5 upload protocol.
func SupportsProtocol15(list string) bool {
	if len(list) > maxProtocolsLen {
		return false
	}
	for _, g := range strings.Fields(list) {
		if strings.EqualFold(g, Protocol15) {
			return true
		}
	}
	return false
}

// ContentRange is a Fragment's Content-Range ([MC-BUP] 2.2.6):
// "bytes FIRST-LAST/TOTAL", zero-based, LAST included. An empty file's
// only fragment is "bytes */0" (Empty: First 0, Last -1).
type ContentRange struct {
	First, Last, Total int64
}

// Len is the number of bytes the range covers.
func (r ContentRange) Len() int64 { return r.Last - r.First + 1 }

// String formats the header value.
func (r ContentRange) String() string {
	if r.Total == 0 && r.Last < r.First {
		return "bytes */0"
	}
	return fmt.Sprintf("bytes %d-%d/%d", r.First, r.Last, r.Total)
}

// ParseContentRange reads a Fragment's Content-Range. The unit is "bytes"
// (any case; Windows writes "bytes"); FIRST <= LAST < TOTAL; numbers are
// plain decimal without signs, at most 18 digits (no overflow).
func ParseContentRange(s string) (ContentRange, error) {
	bad := func(why string) (ContentRange, error) {
		return ContentRange{}, fmt.Errorf("%w: Content-Range: %s", ErrMalformed, why)
	}
	if len(s) > maxRangeLen {
		return bad("too long")
	}
	unit, rest, ok := strings.Cut(strings.TrimSpace(s), " ")
	if !ok || !strings.EqualFold(unit, "bytes") {
		return bad(`want "bytes FIRST-LAST/TOTAL"`)
	}
	rest = strings.TrimSpace(rest)
	rng, tot, ok := strings.Cut(rest, "/")
	if !ok {
		return bad("no /TOTAL")
	}
	total, err := decimal(tot)
	if err != nil {
		return bad("TOTAL " + err.Error())
	}
	if rng == "*" {
		if total != 0 {
			return bad(`"*" is only for an empty file`)
		}
		return ContentRange{First: 0, Last: -1, Total: 0}, nil
	}
	f, l, ok := strings.Cut(rng, "-")
	if !ok {
		return bad("no FIRST-LAST")
	}
	first, err := decimal(f)
	if err != nil {
		return bad("FIRST " + err.Error())
	}
	last, err := decimal(l)
	if err != nil {
		return bad("LAST " + err.Error())
	}
	if first > last || last >= total {
		return bad("want FIRST <= LAST < TOTAL")
	}
	return ContentRange{First: first, Last: last, Total: total}, nil
}

// decimal reads a non-negative decimal of at most 18 digits.
func decimal(s string) (int64, error) {
	if s == "" || len(s) > 18 {
		return 0, errors.New("is not a number of 1 to 18 digits")
	}
	var n int64
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, errors.New("is not a decimal number")
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}

// ParseReceivedRange reads BITS-Received-Content-Range: the offset of
// the next byte the server expects ([MC-BUP] 2.2.7).
func ParseReceivedRange(s string) (int64, error) {
	n, err := decimal(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%w: BITS-Received-Content-Range %s", ErrMalformed, err)
	}
	return n, nil
}

// HRESULTs the server sends in BITS-Error-Code (bitsmsg.h, winerror.h).
const (
	ESessionNotFound     uint32 = 0x8020001F // BG_E_SESSION_NOT_FOUND: the client starts a new session
	ETooLarge            uint32 = 0x80200020 // BG_E_TOO_LARGE
	EProtocolMismatch    uint32 = 0x80200022 // BG_E_CLIENT_SERVER_PROTOCOL_MISMATCH
	EInvalidServerResp   uint32 = 0x8020001B // BG_E_INVALID_SERVER_RESPONSE
	EInvalidArg          uint32 = 0x80070057 // E_INVALIDARG
	EAccessDenied        uint32 = 0x80070005 // E_ACCESSDENIED
	EAlreadyExists       uint32 = 0x800700B7 // HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS)
	ENotFound            uint32 = 0x80070002 // HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND)
	EFail                uint32 = 0x80004005 // E_FAIL
	ContextServer        uint32 = 0x5        // BG_ERROR_CONTEXT_REMOTE_FILE: the server's own processing
	ContextRemoteApp     uint32 = 0x7        // the server application
	maxErrorHeaderLength        = 20
)

// Error is a server's refusal: the HRESULT and its context, as sent in
// BITS-Error-Code and BITS-Error-Context.
type Error struct {
	Code, Context uint32
}

func (e *Error) Error() string {
	return fmt.Sprintf("bits: server error 0x%08X (context 0x%X)", e.Code, e.Context)
}

// CodeHeader formats the HRESULT as Windows does: 0x and eight hex digits.
func (e *Error) CodeHeader() string { return fmt.Sprintf("0x%08X", e.Code) }

// ContextHeader formats the context: 0x and hex digits.
func (e *Error) ContextHeader() string { return fmt.Sprintf("0x%X", e.Context) }

// ParseError reads BITS-Error-Code (or BITS-Error) and
// BITS-Error-Context; nil, nil when code is empty.
func ParseError(code, context string) (*Error, error) {
	if code == "" {
		return nil, nil
	}
	c, err := hexUint32(code)
	if err != nil {
		return nil, fmt.Errorf("%w: BITS-Error-Code %v", ErrMalformed, err)
	}
	e := &Error{Code: c}
	if context != "" {
		if e.Context, err = hexUint32(context); err != nil {
			return nil, fmt.Errorf("%w: BITS-Error-Context %v", ErrMalformed, err)
		}
	}
	return e, nil
}

// hexUint32 reads 0xHEX or HEX, at most 8 digits.
func hexUint32(s string) (uint32, error) {
	s = strings.TrimSpace(s)
	if len(s) > maxErrorHeaderLength {
		return 0, errors.New("too long")
	}
	h := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if h == "" || len(h) > 8 {
		return 0, errors.New("is not 1 to 8 hex digits")
	}
	n, err := strconv.ParseUint(h, 16, 32)
	if err != nil {
		return 0, errors.New("is not hex")
	}
	return uint32(n), nil
}

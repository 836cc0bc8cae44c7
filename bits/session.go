package bits

import (
	"errors"
	"fmt"
	"time"
)

// SessionState is where an upload session is ([MC-BUP] 3.2.1: a session is
// created, receives fragments in order, then is closed or cancelled).
type SessionState string

const (
	Open      SessionState = "open"      // created; fragments are taken
	Complete  SessionState = "complete"  // every byte received; waiting for Close-Session
	Closed    SessionState = "closed"    // Close-Session: the file is in place
	Cancelled SessionState = "cancelled" // Cancel-Session or expired: the data is dropped
)

// Session is the server's record of one upload. It holds no file: the
// caller writes what Accept says, then calls Advance with what was
// written.
type Session struct {
	ID       SessionID    `json:"-"`
	IDText   string       `json:"id"`
	Owner    string       `json:"owner"`  // the authenticated user who created it
	Target   string       `json:"target"` // the file, relative to the upload root
	Total    int64        `json:"total"`  // -1 until the first fragment says it
	Received int64        `json:"received"`
	State    SessionState `json:"state"`
	Created  time.Time    `json:"created"`
	Touched  time.Time    `json:"touched"`
}

// Errors of the session state machine.
var (
	// ErrNotContiguous: the fragment starts after the bytes received
	// (HTTP 416 with BITS-Received-Content-Range).
	ErrNotContiguous = errors.New("bits: fragment is not contiguous with the bytes received")
	// ErrTotalChanged: a fragment gives another total than the first.
	ErrTotalChanged = errors.New("bits: fragment's total differs from the session's")
	// ErrTooLarge: the total is over the server's limit.
	ErrTooLarge = errors.New("bits: upload is larger than the server accepts")
	// ErrIncomplete: Close-Session before every byte arrived.
	ErrIncomplete = errors.New("bits: Close-Session before the whole file was received")
	// ErrSessionState: the session does not take this packet now.
	ErrSessionState = errors.New("bits: session is not open")
	// ErrBodyLength: Content-Length differs from the range's length.
	ErrBodyLength = errors.New("bits: fragment body length differs from its Content-Range")
)

// NewSession starts a session for owner uploading to target.
func NewSession(owner, target string, now time.Time) (*Session, error) {
	id, err := NewSessionID()
	if err != nil {
		return nil, err
	}
	return &Session{ID: id, IDText: id.String(), Owner: owner, Target: target, Total: -1, State: Open, Created: now, Touched: now}, nil
}

// Plan is what to do with a fragment's body: discard Skip bytes (already
// received), then write Write bytes at offset At.
type Plan struct {
	Skip, Write, At int64
}

// Accept checks a fragment against the session and says which of its
// bytes are new ([MC-BUP] 3.2.5.1.3: an overlap with bytes already
// received is not written again; a gap is refused). bodyLen is the
// request's Content-Length (-1: unknown, then the range decides).
// maxTotal bounds the file (0: no bound).
func (s *Session) Accept(r ContentRange, bodyLen, maxTotal int64) (Plan, error) {
	if s.State != Open && !(s.State == Complete && r.Last < s.Received) {
		return Plan{}, fmt.Errorf("%w (%s)", ErrSessionState, s.State)
	}
	if bodyLen >= 0 && bodyLen != r.Len() && !(r.Total == 0 && bodyLen == 0) {
		return Plan{}, ErrBodyLength
	}
	if maxTotal > 0 && r.Total > maxTotal {
		return Plan{}, ErrTooLarge
	}
	if s.Total >= 0 && r.Total != s.Total {
		return Plan{}, ErrTotalChanged
	}
	if r.First > s.Received {
		return Plan{}, ErrNotContiguous
	}
	s.Total = r.Total
	if r.Last < s.Received { // all seen already
		return Plan{Skip: max(r.Len(), 0)}, nil
	}
	return Plan{Skip: s.Received - r.First, Write: r.Last + 1 - s.Received, At: s.Received}, nil
}

// Advance records n bytes written at the end of what was received.
func (s *Session) Advance(n int64, now time.Time) {
	s.Received += n
	s.Touched = now
	if s.Total >= 0 && s.Received >= s.Total {
		s.State = Complete
	}
}

// Close ends the session: every byte must be there (an empty file needs
// no fragment).
func (s *Session) Close(now time.Time) error {
	if s.State == Open && s.Total <= 0 && s.Received == 0 {
		s.Total = 0 // an empty file
	} else if s.State != Complete {
		return fmt.Errorf("%w: %d of %d bytes", ErrIncomplete, s.Received, s.Total)
	}
	s.State, s.Touched = Closed, now
	return nil
}

// Expired reports whether the session was left alone longer than timeout.
func (s *Session) Expired(now time.Time, timeout time.Duration) bool {
	return now.Sub(s.Touched) > timeout
}

package server

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// Request body time. The server's read timeout (readTimeout, 2 minutes)
// bounds a whole request; a client trickling its body a byte at a time
// would hold whatever the handler holds (the proxy: a connection to the
// upstream) for all of it. As Apache's mod_reqtimeout does
// (body=20,MinRate=500), a body gets BodyTimeout to start, and its
// deadline moves on by one second for every BodyMinRate bytes received:
// a client that keeps below that rate is cut off, one sending at any
// ordinary speed never is. The read timeout remains the ceiling.
const (
	DefaultBodyTimeout = 20 * time.Second
	DefaultBodyMinRate = 500 // bytes per second
)

// errBodyTimeout: the client sent its body too slowly.
var errBodyTimeout = errors.New("server: the request body arrived too slowly")

// BodyDeadline bounds the time to read a request body (see above) for
// the requests h serves: timeout to start, then minRate bytes per second
// (0s and 0: the defaults); ceiling is the server's own read timeout.
func BodyDeadline(h http.Handler, timeout time.Duration, minRate int64, ceiling time.Duration) http.Handler {
	if timeout <= 0 {
		timeout = DefaultBodyTimeout
	}
	if minRate <= 0 {
		minRate = DefaultBodyMinRate
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			h.ServeHTTP(w, r)
			return
		}
		b := &deadlineBody{body: r.Body, rc: http.NewResponseController(w), start: time.Now(), timeout: timeout, rate: minRate, ceiling: ceiling}
		if err := b.extend(); err != nil { // the connection cannot say (a test recorder)
			h.ServeHTTP(w, r)
			return
		}
		r.Body = b
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), bodyKey{}, b)))
	})
}

type bodyKey struct{}

type deadlineBody struct {
	body    io.ReadCloser
	rc      *http.ResponseController
	start   time.Time
	timeout time.Duration
	rate    int64
	ceiling time.Duration
	n       int64
	done    atomic.Bool // the whole body was read
	// deadline (Unix ns) and timedOut are read by the handler's goroutine
	// (bodyTimedOut) while the proxy's transport reads the body
	deadline atomic.Int64
	timedOut atomic.Bool
}

// bodyTimedOut reports whether r's body was cut off for coming too slowly
// (the server also cancels the request's context then, so the proxy sees
// "context canceled" rather than the body's error).
func bodyTimedOut(r *http.Request, err error) bool {
	if errors.Is(err, errBodyTimeout) {
		return true
	}
	b, ok := r.Context().Value(bodyKey{}).(*deadlineBody) // r.Body may be wrapped by now
	return ok && !b.done.Load() && (b.timedOut.Load() || time.Now().UnixNano() >= b.deadline.Load())
}

// extend sets the read deadline for the bytes received so far.
func (b *deadlineBody) extend() error {
	d := b.start.Add(b.timeout + time.Duration(b.n)*time.Second/time.Duration(b.rate))
	if b.ceiling > 0 {
		if c := b.start.Add(b.ceiling); d.After(c) {
			d = c
		}
	}
	b.deadline.Store(d.UnixNano())
	return b.rc.SetReadDeadline(d)
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	if b.done.Load() {
		return b.body.Read(p)
	}
	n, err := b.body.Read(p)
	b.n += int64(n)
	var ne net.Error
	switch {
	case err == io.EOF:
		// the body is in: what the connection reads next (the next
		// request) is under the server's own timeouts again
		b.done.Store(true)
		_ = b.rc.SetReadDeadline(time.Time{})
	case errors.As(err, &ne) && ne.Timeout():
		b.timedOut.Store(true)
		return n, errors.Join(errBodyTimeout, err)
	case err == nil && n > 0:
		_ = b.extend()
	}
	return n, err
}

func (b *deadlineBody) Close() error { return b.body.Close() }

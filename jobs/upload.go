package jobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"github.com/gatehouse-auth/gatehouse/bits"
)

// fragmentSize is the body of one Fragment: small enough that a dropped
// connection costs little, large enough that the per-request
// authentication (a Negotiate token, an NTLM connection) is noise.
const fragmentSize = 1 << 20

// maxSessionRestarts bounds how often one attempt starts a new session
// after the server lost one (BITS itself gives up after three).
const maxSessionRestarts = 3

// upload sends the job's file with the BITS upload protocol ([MC-BUP]),
// from the offset the server acknowledged last: after a dropped
// connection or a worker restart, the session id and that offset are in
// the store, and the server skips any bytes it has beyond them.
func (r *Runner) upload(ctx context.Context, j *Job) error {
	c, err := r.client(j)
	if err != nil {
		return err
	}
	f, err := os.Open(j.Source)
	if err != nil {
		return &permanentError{"opening " + j.Source + ": " + err.Error()}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() != j.BytesTotal {
		// BG_E_LOCAL_FILE_CHANGED: the session's bytes are another file's
		return &permanentError{fmt.Sprintf("%s changed size (%d bytes, %d when the job was added)", j.Source, st.Size(), j.BytesTotal)}
	}
	up := &uploader{r: r, c: c, j: j, f: f}
	for restarts := 0; ; restarts++ {
		err := up.run(ctx)
		var be *bits.Error
		if errors.As(err, &be) && be.Code == bits.ESessionNotFound && restarts < maxSessionRestarts {
			// the server dropped the session (it expired, or was lost):
			// start again from the beginning, as BITS does
			r.Log.Info("the server lost the upload session; starting a new one", "job", j.ID, "session", j.Session)
			j.Session, j.BytesDone = "", 0
			if err := r.Store.save(ctx, j); err != nil {
				return err
			}
			continue
		}
		return err
	}
}

type uploader struct {
	r *Runner
	c *http.Client
	j *Job
	f *os.File
}

func (u *uploader) run(ctx context.Context) error {
	j := u.j
	if j.Session == "" {
		h := http.Header{}
		h.Set(bits.HeaderSupportedProtocols, bits.Protocol15)
		resp, err := u.send(ctx, bits.CreateSession, h, nil)
		if err != nil {
			return err
		}
		if p := resp.Header.Get(bits.HeaderProtocol); p != "" && !bits.SupportsProtocol15(p) {
			return &permanentError{"the server chose an unknown BITS protocol " + p}
		}
		id, err := bits.ParseSessionID(resp.Header.Get(bits.HeaderSessionID))
		if err != nil {
			return &permanentError{"Create-Session: " + err.Error()}
		}
		j.Session, j.BytesDone = id.String(), 0
		if err := u.r.Store.save(ctx, j); err != nil {
			return err
		}
	}
	buf := make([]byte, fragmentSize)
	if j.LimitRate > 0 && j.LimitRate < fragmentSize {
		buf = buf[:max(j.LimitRate/4, 1024)]
	}
	lim := newLimiter(j.LimitRate)
	for first := true; j.BytesDone < j.BytesTotal || (first && j.BytesTotal == 0); first = false {
		var cr bits.ContentRange
		var body []byte
		if j.BytesTotal == 0 {
			cr = bits.ContentRange{First: 0, Last: -1, Total: 0}
		} else {
			n, err := u.f.ReadAt(buf[:min(int64(len(buf)), j.BytesTotal-j.BytesDone)], j.BytesDone)
			if err != nil && !(errors.Is(err, io.EOF) && n > 0) {
				return &permanentError{"reading " + j.Source + ": " + err.Error()}
			}
			body = buf[:n]
			cr = bits.ContentRange{First: j.BytesDone, Last: j.BytesDone + int64(n) - 1, Total: j.BytesTotal}
		}
		h := http.Header{}
		h.Set(bits.HeaderSessionID, j.Session)
		h.Set("Content-Range", cr.String())
		if j.BytesDone == 0 {
			h.Set("Content-Name", filepath.Base(j.Source))
		}
		resp, err := u.send(ctx, bits.Fragment, h, body)
		var got int64
		switch {
		case err == nil:
			if got, err = bits.ParseReceivedRange(resp.Header.Get(bits.HeaderReceivedRange)); err != nil {
				return &permanentError{"Fragment: " + err.Error()}
			}
		case resp != nil && resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
			// the server has another offset (a fragment it kept while its
			// ack was lost, or less than we thought): go on from there
			if got, err = bits.ParseReceivedRange(resp.Header.Get(bits.HeaderReceivedRange)); err != nil {
				return &permanentError{"416 without a usable BITS-Received-Content-Range"}
			}
		default:
			return err
		}
		if got > j.BytesTotal || got < 0 {
			return &permanentError{fmt.Sprintf("the server acknowledged byte %d of %d", got, j.BytesTotal)}
		}
		j.BytesDone = got
		if u.r.Progress != nil {
			u.r.Progress(j, false)
		}
		if err := u.r.Store.save(ctx, j); err != nil {
			return err
		}
		if err := lim.wait(ctx, len(body)); err != nil {
			return err
		}
	}
	h := http.Header{}
	h.Set(bits.HeaderSessionID, j.Session)
	if _, err := u.send(ctx, bits.CloseSession, h, nil); err != nil {
		return err
	}
	j.Session = ""
	return nil
}

// send makes one BITS_POST. A refusal is a *bits.Error (wrapped in a
// permanentError when retrying cannot help); resp is returned with its
// body closed whenever there was one.
func (u *uploader) send(ctx context.Context, pt bits.PacketType, h http.Header, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, bits.Method, u.j.URL, bytes.NewReader(body))
	if err != nil {
		return nil, &permanentError{err.Error()}
	}
	req.ContentLength = int64(len(body))
	if body == nil {
		req.Body, req.GetBody = http.NoBody, func() (io.ReadCloser, error) { return http.NoBody, nil }
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set(bits.HeaderPacketType, pt.String())
	resp, err := u.c.Do(req)
	if err != nil {
		return nil, err // the network: transient
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	be, perr := bits.ParseError(first(resp.Header.Get(bits.HeaderErrorCode), resp.Header.Get(bits.HeaderErrorSpec)), resp.Header.Get(bits.HeaderErrorContext))
	if perr != nil || be == nil {
		be = nil
	}
	msg := fmt.Sprintf("%s: server: %s", pt, resp.Status)
	if be != nil {
		msg += fmt.Sprintf(" (BITS error 0x%08X)", be.Code)
	}
	switch {
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		return resp, fmt.Errorf("%s", msg)
	case be != nil && be.Code == bits.ESessionNotFound:
		return resp, be
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests:
		return resp, fmt.Errorf("%s", msg)
	case resp.StatusCode == 401 || resp.StatusCode == 407:
		return resp, &permanentError{msg + " (authentication failed or no usable scheme)"}
	}
	return resp, &permanentError{msg}
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

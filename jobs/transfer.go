package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Backoff of transient errors: doubling from MinRetry up to MaxRetry.
var (
	MinRetry = 5 * time.Second
	MaxRetry = 10 * time.Minute
)

// progressEvery is how often progress is written to the store.
const progressEvery = time.Second

// notifyTimeout bounds a job's --notify-cmd.
const notifyTimeout = time.Minute

// Runner works through a store's jobs.
type Runner struct {
	Store *Store
	Log   *slog.Logger
	// NewClient makes the HTTP client of a job (tests); nil: from the
	// job's client.Config.
	NewClient func(*Job) (*http.Client, error)
	// Progress, when set, is told a job's bytes as they move; done is
	// true once when the attempt ends.
	Progress func(j *Job, done bool)
	// Idle, when set, is called when no job is runnable, once per idle
	// spell; wake is when a job waiting to be retried comes due (zero:
	// none is).
	Idle func(wake time.Time)
	now  func() time.Time
}

// Run transfers runnable jobs one after the other until ctx ends, or,
// with once, until none is runnable now.
func (r *Runner) Run(ctx context.Context, once bool) error {
	if r.Log == nil {
		r.Log = slog.Default()
	}
	if r.now == nil {
		r.now = time.Now
	}
	release, err := r.Store.lockWorker()
	if err != nil {
		return err
	}
	defer release()
	idle := false
	for {
		j, wake, err := r.Store.next(ctx, r.now())
		if err != nil {
			return err
		}
		if j == nil {
			if once {
				return nil
			}
			if !idle && r.Idle != nil {
				r.Idle(wake)
			}
			idle = true
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
			continue
		}
		idle = false
		r.transfer(ctx, j)
		if ctx.Err() != nil {
			return nil
		}
	}
}

// permanentError is an HTTP outcome that retrying will not change.
type permanentError struct{ msg string }

func (e *permanentError) Error() string { return e.msg }

// transfer runs one job to transferred, transient_error or error.
func (r *Runner) transfer(ctx context.Context, j *Job) {
	prev := j.State
	j.State, j.Attempts = Transferring, j.Attempts+1
	if err := write(ctx, r.Store.db, j, prev); err != nil {
		return // changed meanwhile (cancelled): look again
	}
	r.Log.Info("transferring", "job", j.ID, "kind", j.Kind, "url", j.URL, "from", j.BytesDone, "attempt", j.Attempts)
	var err error
	if j.Kind == Upload {
		err = r.upload(ctx, j)
	} else {
		err = r.fetch(ctx, j)
	}
	if r.Progress != nil {
		r.Progress(j, true)
	}
	switch {
	case errors.Is(err, ErrChanged):
		r.Log.Info("job changed by another command; dropped", "job", j.ID)
		return
	case err == nil:
		j.State, j.Error, j.Attempts, j.NextTry = Transferred, "", 0, time.Time{}
		r.Log.Info("transferred", "job", j.ID, "bytes", j.BytesDone)
	case ctx.Err() != nil:
		// stopped: queued again, resumes from where it is
		j.State, j.Error = Queued, ""
	default:
		var pe *permanentError
		j.Error = err.Error()
		if errors.As(err, &pe) {
			j.State = Error
		} else {
			j.State = TransientError
			d := MinRetry << min(j.Attempts-1, 16)
			if d > MaxRetry || d <= 0 {
				d = MaxRetry
			}
			j.NextTry = r.now().Add(d)
		}
		r.Log.Info("transfer failed", "job", j.ID, "state", j.State, "error", j.Error)
	}
	if err := r.Store.save(context.WithoutCancel(ctx), j); err != nil {
		return
	}
	if j.State == Transferred || j.State == Error {
		r.notify(j)
	}
}

// notify runs the job's --notify-cmd (BITS's SetNotifyCmdLine) with
// GATEHOUSE_JOB_ID, GATEHOUSE_JOB_STATE (and the URL and file) in its
// environment, waiting for it up to notifyTimeout.
func (r *Runner) notify(j *Job) {
	if j.NotifyCmd == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), notifyTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", j.NotifyCmd)
	cmd.Env = append(os.Environ(), "GATEHOUSE_JOB_ID="+j.ID, "GATEHOUSE_JOB_STATE="+string(j.State),
		"GATEHOUSE_JOB_URL="+j.URL, "GATEHOUSE_JOB_FILE="+j.Dest)
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.Log.Warn("notify command failed", "job", j.ID, "error", err, "output", string(out))
	}
}

// limiter holds a transfer to a rate (bytes per second) by sleeping.
type limiter struct {
	rate  int64
	start time.Time
	n     int64
}

func newLimiter(rate int64) *limiter {
	if rate <= 0 {
		return nil
	}
	return &limiter{rate: rate, start: time.Now()}
}

// wait accounts n bytes and sleeps until they fit the rate.
func (l *limiter) wait(ctx context.Context, n int) error {
	if l == nil {
		return nil
	}
	l.n += int64(n)
	due := time.Duration(float64(l.n) / float64(l.rate) * float64(time.Second))
	if d := due - time.Since(l.start); d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// ParseRate reads curl's --limit-rate: bytes per second with an optional
// K, M or G suffix (powers of 1024).
func ParseRate(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	mult := int64(1)
	switch strings.ToUpper(s[len(s)-1:]) {
	case "K":
		mult = 1 << 10
	case "M":
		mult = 1 << 20
	case "G":
		mult = 1 << 30
	}
	if mult > 1 {
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("jobs: rate %q: want bytes per second, e.g. 500K or 2M", s)
	}
	return n * mult, nil
}

func (r *Runner) client(j *Job) (*http.Client, error) {
	if r.NewClient != nil {
		return r.NewClient(j)
	}
	tr, err := j.Client.NewTransport()
	if err != nil {
		return nil, &permanentError{err.Error()}
	}
	return &http.Client{Transport: tr}, nil
}

// fetch downloads into the part file, resuming it when the server can
// serve the rest of the same representation (Range with If-Range).
func (r *Runner) fetch(ctx context.Context, j *Job) error {
	c, err := r.client(j)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(j.PartPath(), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return &permanentError{err.Error()}
	}
	defer f.Close()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	validator := j.ETag
	if validator == "" {
		validator = j.LastModified
	}
	if validator == "" || have == 0 {
		have = 0
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.URL, nil)
	if err != nil {
		return &permanentError{err.Error()}
	}
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
		req.Header.Set("If-Range", validator)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0:
		start, total, ok := contentRange(resp.Header.Get("Content-Range"))
		if !ok || start != have {
			return fmt.Errorf("server sent range %q for a request from byte %d", resp.Header.Get("Content-Range"), have)
		}
		j.BytesTotal = total
	case resp.StatusCode == http.StatusOK:
		// the whole representation: start over
		if err := f.Truncate(0); err != nil {
			return err
		}
		have = 0
		j.BytesTotal = resp.ContentLength
		j.ETag, j.LastModified = resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
		if strings.HasPrefix(j.ETag, "W/") {
			j.ETag = "" // a weak validator cannot go in If-Range (RFC 9110 §13.1.5)
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && have > 0:
		// what we have no longer fits: start over next time
		f.Truncate(0)
		j.BytesDone, j.ETag, j.LastModified = 0, "", ""
		return fmt.Errorf("the server cannot serve from byte %d any more; starting over", have)
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests:
		return fmt.Errorf("server: %s", resp.Status)
	default:
		reason := resp.Status
		if resp.StatusCode == 401 || resp.StatusCode == 407 {
			reason += " (authentication failed or no usable scheme)"
		}
		return &permanentError{"server: " + reason}
	}
	if _, err := f.Seek(have, io.SeekStart); err != nil {
		return err
	}
	j.BytesDone = have
	// the validators, at once: a worker killed now can still resume
	if err := r.Store.save(ctx, j); err != nil {
		return err
	}
	buf := make([]byte, 64<<10)
	if j.LimitRate > 0 && j.LimitRate < int64(len(buf)) {
		buf = buf[:max(j.LimitRate/4, 1024)]
	}
	lim := newLimiter(j.LimitRate)
	last := time.Now()
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, err := f.Write(buf[:n]); err != nil {
				return &permanentError{"writing " + j.PartPath() + ": " + err.Error()}
			}
			j.BytesDone += int64(n)
			if r.Progress != nil {
				r.Progress(j, false)
			}
			if time.Since(last) > progressEvery {
				last = time.Now()
				if err := r.Store.save(ctx, j); err != nil {
					return err
				}
			}
			if err := lim.wait(ctx, n); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return rerr
		}
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if j.BytesTotal >= 0 && j.BytesDone != j.BytesTotal {
		return fmt.Errorf("got %d of %d bytes", j.BytesDone, j.BytesTotal)
	}
	j.BytesTotal = j.BytesDone
	return nil
}

// contentRange reads "bytes START-END/TOTAL" (TOTAL may be "*": -1).
func contentRange(v string) (start, total int64, ok bool) {
	rest, ok := strings.CutPrefix(v, "bytes ")
	if !ok {
		return 0, 0, false
	}
	rng, tot, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, false
	}
	s, _, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, false
	}
	start, err := strconv.ParseInt(s, 10, 64)
	if err != nil || start < 0 {
		return 0, 0, false
	}
	if tot == "*" {
		return start, -1, true
	}
	total, err = strconv.ParseInt(tot, 10, 64)
	if err != nil || total < start {
		return 0, 0, false
	}
	return start, total, true
}

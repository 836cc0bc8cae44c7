package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-auth/gatehouse/bits"
)

// BITSOptions tune the bits_upload handler.
type BITSOptions struct {
	// MaxSize bounds an uploaded file (0: DefaultBITSMaxSize).
	MaxSize int64
	// SessionTimeout drops a session left alone this long, with its data
	// (0: DefaultBITSSessionTimeout).
	SessionTimeout time.Duration
	Logger         *slog.Logger
}

// Defaults of BITSOptions. IIS's BITS server keeps an idle session 14
// days (BITSSessionTimeout); a day is kinder to the disk and still spans
// a night's interrupted transfer.
const (
	DefaultBITSMaxSize        = 1 << 30
	DefaultBITSSessionTimeout = 24 * time.Hour
)

// Limits of the handler: open sessions at once (each holds a partial file
// on disk) and how often abandoned sessions are looked for.
const (
	maxBITSSessions   = 1000
	bitsSweepInterval = time.Minute
)

// bitsDir is the directory under the root where sessions collect; names
// starting with "." cannot be uploaded, so it cannot be reached.
const bitsDir = ".gatehouse-bits"

// BITSUpload is the handler of `handler: bits_upload`: the server side of
// the BITS Upload Protocol ([MC-BUP]) under prefix, into root. An
// authenticated user creates a session for the file the URL names, sends
// fragments (resumed from BITS-Received-Content-Range after a dropped
// connection, skipping bytes already received), and the file appears in
// root, atomically and never over an existing one, only at Close-Session.
// A session belongs to the user who created it; one left alone for
// SessionTimeout is dropped. Every file operation goes through an
// os.Root, so neither ".." nor a symbolic link leaves root. The handler
// is an io.Closer: Close releases the root's directory handle.
func BITSUpload(prefix, root string, o BITSOptions) (http.Handler, error) {
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("server: bits_upload root: %w", err)
	}
	if err := r.MkdirAll(bitsDir, 0o700); err != nil {
		r.Close()
		return nil, fmt.Errorf("server: bits_upload root %s: %w", root, err)
	}
	if o.MaxSize <= 0 {
		o.MaxSize = DefaultBITSMaxSize
	}
	if o.SessionTimeout <= 0 {
		o.SessionTimeout = DefaultBITSSessionTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	h := &bitsHandler{prefix: strings.TrimSuffix(prefix, "/"), root: r, o: o, locks: map[string]*sync.Mutex{}}
	h.sweep(time.Now())
	return h, nil
}

// Close releases the handler's directory handle (the root); requests
// after it fail.
func (h *bitsHandler) Close() error { return h.root.Close() }

type bitsHandler struct {
	prefix string
	root   *os.Root
	o      BITSOptions

	mu        sync.Mutex
	locks     map[string]*sync.Mutex // one per session id: fragments in order
	lastSweep time.Time
}

// bitsFail is a refusal: an HTTP status and the HRESULT for
// BITS-Error-Code.
type bitsFail struct {
	status int
	code   uint32
	msg    string
}

func (e *bitsFail) Error() string { return e.msg }

func bitsFailf(status int, code uint32, format string, a ...any) *bitsFail {
	return &bitsFail{status: status, code: code, msg: fmt.Sprintf(format, a...)}
}

func (h *bitsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != bits.Method {
		w.Header().Set("Allow", bits.Method)
		http.Error(w, "this is a BITS upload site: BITS_POST only", http.StatusMethodNotAllowed)
		return
	}
	id := IdentityFrom(r.Context())
	if id == nil || id.Anonymous() || id.User == "" {
		// the site must authenticate: an anonymous upload is refused
		h.refuse(w, r, "", bitsFailf(http.StatusForbidden, bits.EAccessDenied, "anonymous uploads are refused"))
		return
	}
	now := time.Now()
	h.maybeSweep(now)
	pt, err := bits.ParsePacketType(r.Header.Get(bits.HeaderPacketType))
	if err != nil {
		h.refuse(w, r, "", bitsFailf(http.StatusBadRequest, bits.EInvalidArg, "%v", err))
		return
	}
	var sid string
	switch pt {
	case bits.Ping:
		h.ack(w, "", nil)
		return
	case bits.CreateSession:
		sid, err = h.create(w, r, id.User, now)
	case bits.Fragment:
		sid = r.Header.Get(bits.HeaderSessionID)
		err = h.fragment(w, r, id.User, now)
	case bits.CloseSession, bits.CancelSession:
		sid = r.Header.Get(bits.HeaderSessionID)
		err = h.end(w, r, id.User, pt, now)
	default:
		err = bitsFailf(http.StatusBadRequest, bits.EInvalidArg, "packet %s is not a request", pt)
	}
	if err != nil {
		h.refuse(w, r, sid, err)
	}
}

// ack writes an Ack with extra headers.
func (h *bitsHandler) ack(w http.ResponseWriter, sid string, extra map[string]string) {
	w.Header().Set(bits.HeaderPacketType, "Ack")
	if sid != "" {
		w.Header().Set(bits.HeaderSessionID, sid)
	}
	for k, v := range extra {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

// refuse writes an Ack with BITS-Error-Code and BITS-Error-Context.
func (h *bitsHandler) refuse(w http.ResponseWriter, r *http.Request, sid string, err error) {
	var f *bitsFail
	if !errors.As(err, &f) {
		h.o.Logger.Error("bits_upload", "path", r.URL.Path, "error", err)
		f = bitsFailf(http.StatusInternalServerError, bits.EFail, "internal error")
	} else {
		h.o.Logger.Info("bits_upload refused", "path", r.URL.Path, "status", f.status, "why", f.msg)
	}
	e := &bits.Error{Code: f.code, Context: bits.ContextServer}
	w.Header().Set(bits.HeaderPacketType, "Ack")
	if sid != "" {
		if _, perr := bits.ParseSessionID(sid); perr == nil {
			w.Header().Set(bits.HeaderSessionID, sid)
		}
	}
	w.Header().Set(bits.HeaderErrorCode, e.CodeHeader())
	w.Header().Set(bits.HeaderErrorContext, e.ContextHeader())
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(f.status)
	io.WriteString(w, f.msg+"\n")
}

// target is the file the URL names, relative to the root: clean, inside
// the site, no "." or ".." segment, no hidden name (the sessions'
// directory), no backslash or NUL.
func (h *bitsHandler) target(r *http.Request) (string, error) {
	p := r.URL.Path
	// the Gate matches sites case-insensitively (as IIS does)
	if len(p) < len(h.prefix) || !strings.EqualFold(p[:len(h.prefix)], h.prefix) {
		return "", bitsFailf(http.StatusBadRequest, bits.EInvalidArg, "outside the upload site")
	}
	rest := p[len(h.prefix):]
	if rest != "" && rest[0] != '/' {
		return "", bitsFailf(http.StatusBadRequest, bits.EInvalidArg, "outside the upload site")
	}
	rest = strings.TrimPrefix(rest, "/")
	if rest == "" || strings.HasSuffix(rest, "/") {
		return "", bitsFailf(http.StatusBadRequest, bits.EInvalidArg, "the URL names no file")
	}
	if strings.ContainsAny(rest, "\\\x00") {
		return "", bitsFailf(http.StatusBadRequest, bits.EInvalidArg, "the file name has a backslash or NUL")
	}
	for _, seg := range strings.Split(rest, "/") {
		if seg == "" || strings.HasPrefix(seg, ".") {
			return "", bitsFailf(http.StatusBadRequest, bits.EInvalidArg, "the path has an empty, hidden, . or .. segment")
		}
	}
	if path.Clean(rest) != rest {
		return "", bitsFailf(http.StatusBadRequest, bits.EInvalidArg, "the path is not clean")
	}
	return rest, nil
}

func sessionFiles(id string) (meta, data string) {
	id = strings.Trim(id, "{}")
	return bitsDir + "/" + id + ".json", bitsDir + "/" + id + ".part"
}

// create is Create-Session ([MC-BUP] 3.2.5.1.2).
func (h *bitsHandler) create(w http.ResponseWriter, r *http.Request, user string, now time.Time) (string, error) {
	if !bits.SupportsProtocol15(r.Header.Get(bits.HeaderSupportedProtocols)) {
		return "", bitsFailf(http.StatusBadRequest, bits.EProtocolMismatch, "BITS-Supported-Protocols does not offer %s", bits.Protocol15)
	}
	tgt, err := h.target(r)
	if err != nil {
		return "", err
	}
	if h.count() >= maxBITSSessions {
		return "", bitsFailf(http.StatusServiceUnavailable, bits.EFail, "too many upload sessions open")
	}
	s, err := bits.NewSession(user, tgt, now)
	if err != nil {
		return "", err
	}
	meta, data := sessionFiles(s.IDText)
	f, err := h.root.OpenFile(data, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	f.Close()
	if err := h.save(meta, s); err != nil {
		return "", err
	}
	h.o.Logger.Info("bits_upload session created", "user", user, "file", tgt, "session", s.IDText)
	h.ack(w, s.IDText, map[string]string{bits.HeaderProtocol: bits.Protocol15, "Accept-Encoding": "Identity"})
	return s.IDText, nil
}

// load finds a session by id for user at this URL; a session that does
// not exist, is not the user's or is for another file is "not found"
// (the client then starts a new one).
func (h *bitsHandler) load(r *http.Request, user string) (*bits.Session, string, error) {
	id, err := bits.ParseSessionID(r.Header.Get(bits.HeaderSessionID))
	if err != nil {
		return nil, "", bitsFailf(http.StatusBadRequest, bits.EInvalidArg, "%v", err)
	}
	tgt, err := h.target(r)
	if err != nil {
		return nil, "", err
	}
	meta, _ := sessionFiles(id.String())
	b, err := h.root.ReadFile(meta)
	var s bits.Session
	if err == nil {
		err = json.Unmarshal(b, &s)
	}
	if err != nil || s.Owner != user || s.Target != tgt || s.State == bits.Closed || s.State == bits.Cancelled {
		return nil, "", bitsFailf(http.StatusInternalServerError, bits.ESessionNotFound, "no such session for this user and file")
	}
	s.ID = id
	return &s, meta, nil
}

func (h *bitsHandler) save(meta string, s *bits.Session) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	tmp := meta + ".tmp"
	if err := h.root.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return h.root.Rename(tmp, meta)
}

// lockSession serialises the requests of the session the request names.
// The lock is kept only while its session exists: unlocking forgets it
// when no session file is there, so made-up ids leave nothing behind.
func (h *bitsHandler) lockSession(r *http.Request) (func(), error) {
	id, err := bits.ParseSessionID(r.Header.Get(bits.HeaderSessionID))
	if err != nil {
		return nil, bitsFailf(http.StatusBadRequest, bits.EInvalidArg, "%v", err)
	}
	key := id.String()
	unlock := h.lock(key)
	return func() {
		meta, _ := sessionFiles(key)
		if _, err := h.root.Stat(meta); err != nil {
			h.forget(key)
		}
		unlock()
	}, nil
}

// lock serialises the requests of one session id (canonical form).
func (h *bitsHandler) lock(id string) func() {
	h.mu.Lock()
	m := h.locks[id]
	if m == nil {
		m = &sync.Mutex{}
		h.locks[id] = m
	}
	h.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// fragment is Fragment ([MC-BUP] 3.2.5.1.3): the new part of the body is
// appended to the session's file; a body cut short still counts what
// arrived.
func (h *bitsHandler) fragment(w http.ResponseWriter, r *http.Request, user string, now time.Time) error {
	if enc := r.Header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		return bitsFailf(http.StatusBadRequest, bits.EInvalidArg, "Content-Encoding %q: only identity", enc)
	}
	cr, err := bits.ParseContentRange(r.Header.Get("Content-Range"))
	if err != nil {
		return bitsFailf(http.StatusBadRequest, bits.EInvalidArg, "%v", err)
	}
	unlock, err := h.lockSession(r)
	if err != nil {
		return err
	}
	defer unlock()
	s, meta, err := h.load(r, user)
	if err != nil {
		return err
	}
	received := func() map[string]string {
		return map[string]string{bits.HeaderReceivedRange: strconv.FormatInt(s.Received, 10)}
	}
	plan, err := s.Accept(cr, r.ContentLength, h.o.MaxSize)
	switch {
	case errors.Is(err, bits.ErrNotContiguous):
		w.Header().Set(bits.HeaderReceivedRange, strconv.FormatInt(s.Received, 10))
		return bitsFailf(http.StatusRequestedRangeNotSatisfiable, bits.EInvalidArg, "fragment starts at %d, %d bytes received", cr.First, s.Received)
	case errors.Is(err, bits.ErrTooLarge):
		return bitsFailf(http.StatusRequestEntityTooLarge, bits.ETooLarge, "%d bytes: this site takes up to %d", cr.Total, h.o.MaxSize)
	case err != nil:
		return bitsFailf(http.StatusBadRequest, bits.EInvalidArg, "%v", err)
	}
	_, data := sessionFiles(s.IDText)
	f, err := h.root.OpenFile(data, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if plan.Skip > 0 {
		if _, err := io.CopyN(io.Discard, r.Body, plan.Skip); err != nil {
			return bitsFailf(http.StatusBadRequest, bits.EInvalidArg, "fragment body cut short")
		}
	}
	var n int64
	if plan.Write > 0 {
		if err := f.Truncate(plan.At); err != nil { // drop anything past what was acknowledged
			return err
		}
		if _, err := f.Seek(plan.At, io.SeekStart); err != nil {
			return err
		}
		n, err = io.CopyN(f, r.Body, plan.Write)
		if err == nil {
			err = f.Sync()
		}
		s.Advance(n, now)
		if serr := h.save(meta, s); serr != nil {
			return serr
		}
		if err != nil {
			// the connection dropped: what arrived counts; the client
			// resumes from BITS-Received-Content-Range
			return bitsFailf(http.StatusBadRequest, bits.EInvalidArg, "fragment body cut short after %d bytes", n)
		}
	} else {
		s.Advance(0, now)
		if err := h.save(meta, s); err != nil {
			return err
		}
	}
	h.ack(w, s.IDText, received())
	return nil
}

// end is Close-Session (the file moves into place) or Cancel-Session
// (the data is dropped) ([MC-BUP] 3.2.5.1.4, 3.2.5.1.5).
func (h *bitsHandler) end(w http.ResponseWriter, r *http.Request, user string, pt bits.PacketType, now time.Time) error {
	unlock, err := h.lockSession(r)
	if err != nil {
		return err
	}
	defer unlock()
	s, meta, err := h.load(r, user)
	if err != nil {
		return err
	}
	_, data := sessionFiles(s.IDText)
	if pt == bits.CancelSession {
		h.drop(s.IDText)
		h.o.Logger.Info("bits_upload session cancelled", "user", user, "file", s.Target, "session", s.IDText)
		h.ack(w, s.IDText, nil)
		return nil
	}
	if err := s.Close(now); err != nil {
		return bitsFailf(http.StatusBadRequest, bits.EInvalidArg, "%v", err)
	}
	if dir := path.Dir(s.Target); dir != "." {
		if err := h.root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	// Link, not Rename: the file appears whole, at once, and never over
	// one that exists (IIS's BITSAllowOverwrites is off by default too).
	if err := h.root.Link(data, s.Target); err != nil {
		if errors.Is(err, os.ErrExist) {
			return bitsFailf(http.StatusConflict, bits.EAlreadyExists, "%s exists already", s.Target)
		}
		return err
	}
	h.root.Remove(data)
	h.root.Remove(meta)
	h.forget(s.IDText)
	h.o.Logger.Info("bits_upload file received", "user", user, "file", s.Target, "bytes", s.Received)
	h.ack(w, s.IDText, nil)
	return nil
}

// drop removes a session's files.
func (h *bitsHandler) drop(id string) {
	meta, data := sessionFiles(id)
	h.root.Remove(data)
	h.root.Remove(meta)
	h.forget(id)
}

func (h *bitsHandler) forget(id string) {
	h.mu.Lock()
	delete(h.locks, strings.ToLower(id))
	h.mu.Unlock()
}

// count is the number of sessions on disk.
func (h *bitsHandler) count() int {
	d, err := h.root.Open(bitsDir)
	if err != nil {
		return 0
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	n := 0
	for _, name := range names {
		if strings.HasSuffix(name, ".json") {
			n++
		}
	}
	return n
}

func (h *bitsHandler) maybeSweep(now time.Time) {
	h.mu.Lock()
	due := now.Sub(h.lastSweep) > bitsSweepInterval
	if due {
		h.lastSweep = now
	}
	h.mu.Unlock()
	if due {
		h.sweep(now)
	}
}

// sweep drops the sessions left alone longer than SessionTimeout, and
// stray partial files without a session.
func (h *bitsHandler) sweep(now time.Time) {
	d, err := h.root.Open(bitsDir)
	if err != nil {
		return
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	for _, name := range names {
		id, ok := strings.CutSuffix(name, ".json")
		if !ok {
			continue
		}
		b, err := h.root.ReadFile(bitsDir + "/" + name)
		var s bits.Session
		if err == nil {
			err = json.Unmarshal(b, &s)
		}
		if err != nil || s.Expired(now, h.o.SessionTimeout) {
			unlock := h.lock("{" + id + "}")
			h.drop("{" + id + "}")
			unlock()
			h.o.Logger.Info("bits_upload session expired", "session", id, "user", s.Owner, "file", s.Target)
		}
	}
}

package server

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/bits"
)

// TestBITSUploadRefusesEscapes calls the handler directly (no Gate, no path
// cleaning in front): the handler itself refuses every way out of root.
func TestBITSUploadRefusesEscapes(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	os.MkdirAll(root, 0o755)
	os.Symlink(base, filepath.Join(root, "link")) // a symlink out of root
	h, err := BITSUpload("/up", root, BITSOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	send := func(path string, user *Identity, pt string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(bits.Method, "http://x/", nil)
		r.URL.Path = path
		r.Header.Set(bits.HeaderPacketType, pt)
		r.Header.Set(bits.HeaderSupportedProtocols, bits.Protocol15)
		if user != nil {
			r = r.WithContext(WithIdentity(r.Context(), user))
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	alice := &Identity{User: "alice", Scheme: "Digest"}
	for _, p := range []string{"/up/../x", "/up/a/../../x", "/up/./x", "/up//x", "/up/.gatehouse-bits/x", "/up/a\\..\\x", "/up/", "/upx/y", "/other/x"} {
		if w := send(p, alice, "Create-Session"); w.Code != http.StatusBadRequest || w.Header().Get(bits.HeaderErrorCode) != "0x80070057" {
			t.Errorf("%q: %d %v", p, w.Code, w.Header())
		}
	}
	// through a symlink: the session is made, Close-Session cannot leave root
	w := send("/up/link/escape.bin", alice, "Create-Session")
	if w.Code == http.StatusOK {
		sid := w.Header().Get(bits.HeaderSessionID)
		r := httptest.NewRequest(bits.Method, "http://x/up/link/escape.bin", nil)
		r.Header.Set(bits.HeaderPacketType, "Close-Session")
		r.Header.Set(bits.HeaderSessionID, sid)
		r = r.WithContext(WithIdentity(r.Context(), alice))
		w = httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code == http.StatusOK {
			t.Error("Close-Session through a symlink out of root succeeded")
		}
	}
	if _, err := os.Stat(filepath.Join(base, "escape.bin")); err == nil {
		t.Fatal("a file was written outside root")
	}
	if w := send("/up/x", &Identity{Scheme: "Anonymous"}, "Ping"); w.Code != http.StatusForbidden {
		t.Errorf("anonymous: %d", w.Code)
	}
	if w := send("/up/x", alice, "Ping"); w.Code != http.StatusOK || w.Header().Get(bits.HeaderPacketType) != "Ack" {
		t.Errorf("ping: %d %v", w.Code, w.Header())
	}
	// another user cannot use alice's session
	w = send("/up/mine.bin", alice, "Create-Session")
	sid := w.Header().Get(bits.HeaderSessionID)
	r := httptest.NewRequest(bits.Method, "http://x/up/mine.bin", strings.NewReader("x"))
	r.Header.Set(bits.HeaderPacketType, "Fragment")
	r.Header.Set(bits.HeaderSessionID, sid)
	r.Header.Set("Content-Range", "bytes 0-0/1")
	r = r.WithContext(WithIdentity(r.Context(), &Identity{User: "mallory", Scheme: "Digest"}))
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusInternalServerError || w.Header().Get(bits.HeaderErrorCode) != "0x8020001F" {
		t.Errorf("another user's session: %d %v", w.Code, w.Header())
	}
}

// TestBITSSessionsExpire: an abandoned session's files are dropped once
// it is older than the timeout (here: at the next start).
func TestBITSSessionsExpire(t *testing.T) {
	root := t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, _ := BITSUpload("/up", root, BITSOptions{Logger: quiet})
	r := httptest.NewRequest(bits.Method, "http://x/up/f", nil)
	r.Header.Set(bits.HeaderPacketType, "Create-Session")
	r.Header.Set(bits.HeaderSupportedProtocols, bits.Protocol15)
	r = r.WithContext(WithIdentity(r.Context(), &Identity{User: "alice", Scheme: "Digest"}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Fatal(w.Code)
	}
	if m, _ := filepath.Glob(filepath.Join(root, bitsDir, "*")); len(m) != 2 {
		t.Fatalf("session files: %v", m)
	}
	BITSUpload("/up", root, BITSOptions{Logger: quiet, SessionTimeout: 1})
	if m, _ := filepath.Glob(filepath.Join(root, bitsDir, "*")); len(m) != 0 {
		t.Fatalf("expired session kept: %v", m)
	}
}

// TestBITSMadeUpSessionsLeaveNothing: requests naming sessions that do not
// exist keep no per-session state.
func TestBITSMadeUpSessionsLeaveNothing(t *testing.T) {
	hh, _ := BITSUpload("/up", t.TempDir(), BITSOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	h := hh.(*bitsHandler)
	for i := 0; i < 50; i++ {
		id, _ := bits.NewSessionID()
		r := httptest.NewRequest(bits.Method, "http://x/up/f", strings.NewReader("x"))
		r.Header.Set(bits.HeaderPacketType, "Fragment")
		r.Header.Set(bits.HeaderSessionID, id.String())
		r.Header.Set("Content-Range", "bytes 0-0/1")
		r = r.WithContext(WithIdentity(r.Context(), &Identity{User: "alice", Scheme: "Digest"}))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusInternalServerError {
			t.Fatal(w.Code)
		}
	}
	if len(h.locks) != 0 {
		t.Fatalf("%d locks kept for sessions that do not exist", len(h.locks))
	}
}

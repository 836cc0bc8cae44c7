package jobs

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/accounts"
	"github.com/gatehouse-auth/gatehouse/client"
	"github.com/gatehouse-auth/gatehouse/server"
)

func openStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "jobs.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// flaky serves body with ETag and ranges (http.ServeContent); the first
// cut requests stop after cutAt bytes and drop the connection.
type flaky struct {
	mu     sync.Mutex
	body   []byte
	etag   string
	cuts   int
	cutAt  int
	ranges []string
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	body, etag, cut := f.body, f.etag, f.cuts > 0
	if cut {
		f.cuts--
	}
	f.ranges = append(f.ranges, r.Header.Get("Range"))
	f.mu.Unlock()
	w.Header().Set("ETag", etag)
	if cut {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(200)
		w.Write(body[:f.cutAt])
		w.(http.Flusher).Flush()
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
		return
	}
	http.ServeContent(w, r, "data", time.Time{}, bytes.NewReader(body))
}

func randomBody(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestResumeAfterInterruption(t *testing.T) {
	f := &flaky{body: randomBody(3 << 20), etag: `"v1"`, cuts: 1, cutAt: 1 << 20}
	srv := httptest.NewServer(f)
	defer srv.Close()
	st := openStore(t)
	ctx := context.Background()
	dest := filepath.Join(t.TempDir(), "out.bin")
	j, err := st.Add(ctx, srv.URL+"/data", dest, client.Config{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	r := &Runner{Store: st, Log: quiet(), now: func() time.Time { return now }}
	if err := r.Run(ctx, true); err != nil {
		t.Fatal(err)
	}
	j, _ = st.Get(ctx, j.ID)
	if j.State != TransientError || j.NextTry.IsZero() || !j.NextTry.After(now) {
		t.Fatalf("after the cut: %+v", j)
	}
	// not before its time
	r.Run(ctx, true)
	if j2, _ := st.Get(ctx, j.ID); j2.Attempts != 1 {
		t.Fatalf("retried before NextTry: %+v", j2)
	}
	now = now.Add(MaxRetry + time.Second)
	if err := r.Run(ctx, true); err != nil {
		t.Fatal(err)
	}
	j, _ = st.Get(ctx, j.ID)
	if j.State != Transferred || j.BytesDone != int64(len(f.body)) || j.BytesTotal != j.BytesDone {
		t.Fatalf("after the retry: %+v", j)
	}
	if len(f.ranges) != 2 || f.ranges[1] != "bytes=1048576-" {
		t.Fatalf("the retry did not resume: ranges %q", f.ranges)
	}
	if _, err := os.Stat(dest); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("the file is in place before Complete")
	}
	if _, err := st.Complete(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(dest)
	if !bytes.Equal(got, f.body) {
		t.Fatal("completed file differs from the body")
	}
	if j, _ = st.Get(ctx, j.ID); j.State != Acknowledged {
		t.Fatalf("after Complete: %s", j.State)
	}
}

func TestChangedRepresentationStartsOver(t *testing.T) {
	f := &flaky{body: randomBody(1 << 20), etag: `"v1"`, cuts: 1, cutAt: 300 << 10}
	srv := httptest.NewServer(f)
	defer srv.Close()
	st := openStore(t)
	ctx := context.Background()
	j, _ := st.Add(ctx, srv.URL+"/data", filepath.Join(t.TempDir(), "out"), client.Config{})
	now := time.Now()
	r := &Runner{Store: st, Log: quiet(), now: func() time.Time { return now }}
	r.Run(ctx, true)
	f.mu.Lock()
	f.body, f.etag = randomBody(1<<20), `"v2"` // the file changed on the server
	f.mu.Unlock()
	now = now.Add(MaxRetry + time.Second)
	r.Run(ctx, true)
	j, _ = st.Get(ctx, j.ID)
	got, _ := os.ReadFile(j.PartPath())
	if j.State != Transferred || !bytes.Equal(got, f.body) {
		t.Fatalf("state %s, %d bytes; the new version was not fetched whole", j.State, len(got))
	}
}

func TestCredentialsSealedAtRest(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "jobs.db")
	st, err := Open(db)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	j, err := st.Add(ctx, "https://example.test/f", filepath.Join(dir, "f"), client.Config{
		Server: &client.Credentials{User: "alice", Password: "s3cret-server-pw"},
		Proxy:  &client.Credentials{User: "proxyuser", Password: "s3cret-proxy-pw"}})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	for _, p := range []string{db, db + ".key"} {
		fi, _ := os.Stat(p)
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v", p, fi.Mode().Perm())
		}
	}
	raw, _ := os.ReadFile(db)
	for _, secret := range []string{"s3cret-server-pw", "s3cret-proxy-pw", "proxyuser"} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("%q is in the store in the clear", secret)
		}
	}
	st, _ = Open(db)
	defer st.Close()
	if g, _ := st.Get(ctx, j.ID); g.Client.Server != nil {
		t.Error("Get returned credentials")
	}
	n, _, err := st.next(ctx, time.Now())
	if err != nil || n.Client.Server == nil || n.Client.Server.Password != "s3cret-server-pw" || n.Client.Proxy.User != "proxyuser" {
		t.Fatalf("the worker's view: %+v %v", n, err)
	}
	// another key: a clear error, not garbage
	os.WriteFile(db+".key", []byte(strings.Repeat("ab", 32)+"\n"), 0o600)
	st2, _ := Open(db)
	defer st2.Close()
	if _, _, err := st2.next(ctx, time.Now()); err == nil || !strings.Contains(err.Error(), "do not open") {
		t.Fatalf("wrong key: %v", err)
	}
	// a store others can read is refused
	os.Chmod(db, 0o644)
	if _, err := Open(db); err == nil {
		t.Fatal("world-readable store opened")
	}
}

func TestAuthenticatedJobAndErrors(t *testing.T) {
	as, err := accounts.Open(filepath.Join(t.TempDir(), "a.db"), "")
	if err != nil {
		t.Fatal(err)
	}
	defer as.Close()
	as.Add("alice", "alicepw", nil)
	g, err := server.New(server.Options{Store: as, Secret: make([]byte, 32), Logger: quiet()},
		[]server.Site{{Path: "/", Schemes: []string{"digest"}}})
	if err != nil {
		t.Fatal(err)
	}
	body := randomBody(100 << 10)
	srv := httptest.NewServer(g.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, "f", time.Time{}, bytes.NewReader(body))
	})))
	defer srv.Close()
	st := openStore(t)
	ctx := context.Background()
	dir := t.TempDir()
	good, _ := st.Add(ctx, srv.URL+"/f", filepath.Join(dir, "f"), client.Config{Server: &client.Credentials{User: "alice", Password: "alicepw"}})
	bad, _ := st.Add(ctx, srv.URL+"/f", filepath.Join(dir, "g"), client.Config{Server: &client.Credentials{User: "alice", Password: "nope"}})
	missing, _ := st.Add(ctx, srv.URL+"/missing", filepath.Join(dir, "h"), client.Config{Server: &client.Credentials{User: "alice", Password: "alicepw"}})
	r := &Runner{Store: st, Log: quiet()}
	if err := r.Run(ctx, true); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]State{good.ID: Transferred, bad.ID: Error, missing.ID: Error} {
		j, _ := st.Get(ctx, id)
		if j.State != want {
			t.Errorf("%s: %s (%s), want %s", j.URL, j.State, j.Error, want)
		}
	}
	if j, _ := st.Get(ctx, bad.ID); !strings.Contains(j.Error, "401") {
		t.Errorf("refusal reason: %q", j.Error)
	}
	// resume puts it back in the queue; cancel drops the partial file
	if err := st.Resume(ctx, bad.ID); err != nil {
		t.Fatal(err)
	}
	if j, _ := st.Get(ctx, bad.ID); j.State != Queued {
		t.Errorf("after resume: %s", j.State)
	}
	os.WriteFile(filepath.Join(dir, "h.gatehouse-part"), []byte("x"), 0o600)
	if err := st.Cancel(ctx, missing.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "h.gatehouse-part")); !errors.Is(err, os.ErrNotExist) {
		t.Error("cancel left the partial file")
	}
	if _, err := st.Complete(ctx, bad.ID); err == nil {
		t.Error("a queued job completed")
	}
	if _, err := st.Get(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown id: %v", err)
	}
	for _, u := range []string{"ftp://x/y", "https://u:p@x/y", "not a url"} {
		if _, err := st.Add(ctx, u, filepath.Join(dir, "z"), client.Config{}); err == nil {
			t.Errorf("%s accepted", u)
		}
	}
}

func TestContentRange(t *testing.T) {
	for v, want := range map[string][2]int64{"bytes 100-199/200": {100, 200}, "bytes 5-9/*": {5, -1}} {
		s, tot, ok := contentRange(v)
		if !ok || s != want[0] || tot != want[1] {
			t.Errorf("%q: %d %d %v", v, s, tot, ok)
		}
	}
	for _, v := range []string{"", "bytes", "bytes x-1/2", "bytes 5-9/3", "items 1-2/3", "bytes -1-2/3"} {
		if _, _, ok := contentRange(v); ok {
			t.Errorf("%q accepted", v)
		}
	}
}

func TestOneWorkerPerStore(t *testing.T) {
	st := openStore(t)
	release, err := st.lockWorker()
	if err != nil {
		t.Fatal(err)
	}
	r := &Runner{Store: st, Log: quiet()}
	if err := r.Run(context.Background(), true); !errors.Is(err, ErrWorkerRunning) {
		t.Fatalf("second worker: %v", err)
	}
	release()
	if err := r.Run(context.Background(), true); err != nil {
		t.Fatalf("after release: %v", err)
	}
}

func FuzzContentRange(f *testing.F) {
	f.Add("bytes 100-199/200")
	f.Add("bytes 5-9/*")
	f.Fuzz(func(t *testing.T, v string) {
		if start, total, ok := contentRange(v); ok && (start < 0 || (total >= 0 && total < start)) {
			t.Fatalf("%q: start %d total %d", v, start, total)
		}
	})
}

func TestPriorityOrdersQueue(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	dir := t.TempDir()
	var ids []string
	for i, p := range []Priority{Low, Normal, Foreground} {
		j, err := st.AddJob(ctx, "http://x.test/f", filepath.Join(dir, fmt.Sprint(i)), client.Config{}, Options{Priority: p})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	for _, want := range []string{ids[2], ids[1], ids[0]} {
		j, _, err := st.next(ctx, time.Now())
		if err != nil || j.ID != want {
			t.Fatalf("next = %v %v, want %s", j, err, want)
		}
		if err := st.Cancel(ctx, j.ID); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCancelWinsOverWorker: a cancel while the worker transfers is not
// overwritten by the worker's next write.
func TestCancelWinsOverWorker(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	j, _ := st.Add(ctx, "http://x.test/f", filepath.Join(t.TempDir(), "f"), client.Config{})
	j.State = Transferring
	if err := write(ctx, st.db, j, Queued); err != nil {
		t.Fatal(err)
	}
	if err := st.Cancel(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	j.BytesDone, j.State = 10, Transferred
	if err := st.save(ctx, j); !errors.Is(err, ErrChanged) {
		t.Fatalf("worker's write after cancel: %v", err)
	}
	if g, _ := st.Get(ctx, j.ID); g.State != Cancelled {
		t.Fatalf("state %s", g.State)
	}
	if err := st.Resume(ctx, j.ID); !errors.Is(err, ErrState) {
		t.Fatalf("resume of a cancelled job: %v", err)
	}
	if err := st.Remove(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, j.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after remove: %v", err)
	}
}

func TestSetCredentialsRequeues(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	j, _ := st.Add(ctx, "http://x.test/f", filepath.Join(t.TempDir(), "f"), client.Config{Server: &client.Credentials{User: "a", Password: "old"}})
	j.State, j.Error = Error, "401"
	write(ctx, st.db, j)
	g, err := st.SetCredentials(ctx, j.ID, client.Config{Server: &client.Credentials{User: "a", Password: "new"},
		Identity: &client.Identity{NTLMUsers: []byte("D:a:pw\n")}})
	if err != nil || g.State != Queued || g.Error != "" {
		t.Fatalf("%+v %v", g, err)
	}
	n, _, _ := st.next(ctx, time.Now())
	if n.Client.Server.Password != "new" || n.Client.Identity == nil {
		t.Fatalf("unsealed: %+v", n.Client)
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]int64{"100": 100, "2K": 2048, "1m": 1 << 20, "3G": 3 << 30} {
		if got, err := ParseRate(in); err != nil || got != want {
			t.Errorf("ParseRate(%q) = %d, %v", in, got, err)
		}
	}
	for _, bad := range []string{"x", "-1", "0", "1T"} {
		if _, err := ParseRate(bad); err == nil {
			t.Errorf("ParseRate(%q) accepted", bad)
		}
	}
}

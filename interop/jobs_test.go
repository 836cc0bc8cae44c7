package interop

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// jobsCmd runs `gatehouse jobs ARGS --db db`.
func jobsCmd(t *testing.T, env []string, db string, args ...string) (string, string, bool) {
	t.Helper()
	return gatehouse(t, env, append(append([]string{"jobs"}, args...), "--db", db)...)
}

// TestJobsKerberos: a background download with implicit Kerberos
// credentials (MIT ccache) from `gatehouse serve`, run and completed.
func TestJobsKerberos(t *testing.T) {
	k := testenv.NeedKDC(t)
	env := kinit(t, k)
	dir := t.TempDir()
	www := filepath.Join(dir, "www")
	os.MkdirAll(www, 0o755)
	data := make([]byte, 2<<20)
	rand.Read(data)
	os.WriteFile(filepath.Join(www, "big.bin"), data, 0o644)
	s := serve(t, dir, fmt.Sprintf(`
state_dir: ./state
accounts: ./gatehouse.db
listen: [{addr: 127.0.0.1:0}]
kerberos: {keytab: %s}
sites: [{path: /, auth: [negotiate], handler: static, root: %s}]
`, k.Keytab, www), 1)
	db := filepath.Join(t.TempDir(), "jobs.db")
	dest := filepath.Join(t.TempDir(), "big.bin")
	id, e, ok := jobsCmd(t, env, db, "add", "--negotiate", "--implicit-allow", "localhost", "-o", dest, s.HTTP+"/big.bin")
	if !ok {
		t.Fatalf("jobs add: %s", e)
	}
	id = strings.TrimSpace(id)
	if _, e, ok := jobsCmd(t, env, db, "run", "--once"); !ok {
		t.Fatalf("jobs run: %s", e)
	}
	if out, _, _ := jobsCmd(t, env, db, "list"); !strings.Contains(out, id+"  transferred") {
		t.Fatalf("jobs list:\n%s", out)
	}
	if out, e, ok := jobsCmd(t, env, db, "complete", id); !ok || strings.TrimSpace(out) != dest {
		t.Fatalf("jobs complete: %q %s", out, e)
	}
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, data) {
		t.Fatal("downloaded file differs")
	}
}

// TestJobsSurviveKill: the worker is killed in the middle of a transfer;
// the next one resumes with a range request instead of starting over, and
// the credentials (sealed in the store) still work.
func TestJobsSurviveKill(t *testing.T) {
	data := make([]byte, 4<<20)
	rand.Read(data)
	var mu sync.Mutex
	var ranges []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "alice" || p != "job-secret-pw" {
			w.Header().Set("WWW-Authenticate", `Basic realm="files"`)
			http.Error(w, "401", http.StatusUnauthorized)
			return
		}
		mu.Lock()
		ranges = append(ranges, r.Header.Get("Range"))
		mu.Unlock()
		http.ServeContent(&slowWriter{ResponseWriter: w}, r, "f", time.Unix(1700000000, 0), bytes.NewReader(data))
	}))
	defer srv.Close()
	db := filepath.Join(t.TempDir(), "jobs.db")
	dest := filepath.Join(t.TempDir(), "f")
	id, e, ok := jobsCmd(t, nil, db, "add", "--basic", "-u", "alice:job-secret-pw", "-o", dest, srv.URL+"/f")
	if !ok {
		t.Fatalf("jobs add: %s", e)
	}
	id = strings.TrimSpace(id)
	if raw, _ := os.ReadFile(db); bytes.Contains(raw, []byte("job-secret-pw")) {
		t.Fatal("the password is in the job store in the clear")
	}
	worker := exec.Command(bin, "jobs", "run", "--db", db)
	if err := worker.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if fi, err := os.Stat(dest + ".gatehouse-part"); err == nil && fi.Size() > 512<<10 {
			break
		}
		if time.Now().After(deadline) {
			worker.Process.Kill()
			t.Fatal("the worker made no progress")
		}
	}
	worker.Process.Kill() // SIGKILL: no chance to tidy up
	worker.Wait()
	if out, _, _ := jobsCmd(t, nil, db, "list"); !strings.Contains(out, id+"  transferring") {
		t.Fatalf("after the kill:\n%s", out)
	}
	if _, e, ok := jobsCmd(t, nil, db, "run", "--once"); !ok {
		t.Fatalf("jobs run: %s", e)
	}
	if _, e, ok := jobsCmd(t, nil, db, "complete", id); !ok {
		t.Fatalf("jobs complete: %s", e)
	}
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, data) {
		t.Fatal("resumed file differs")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ranges) != 2 || ranges[0] != "" || !strings.HasPrefix(ranges[1], "bytes=") {
		t.Fatalf("requests' ranges: %q (the second should resume)", ranges)
	}
}

// slowWriter trickles a response out (64 KiB per 20 ms), so that a
// transfer can be interrupted in the middle.
type slowWriter struct{ http.ResponseWriter }

func (w *slowWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		c := min(len(p), 64<<10)
		m, err := w.ResponseWriter.Write(p[:c])
		n += m
		if err != nil {
			return n, err
		}
		w.ResponseWriter.(http.Flusher).Flush()
		p = p[c:]
		time.Sleep(20 * time.Millisecond)
	}
	return n, nil
}

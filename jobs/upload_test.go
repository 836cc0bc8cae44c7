package jobs

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/client"
	"github.com/gatehouse-auth/gatehouse/server"
)

// cutter drops the connection in the middle of the first cuts fragments'
// bodies, after reading part of them.
type cutter struct {
	next http.Handler
	mu   sync.Mutex
	cuts int
	seen []string
}

func (c *cutter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.seen = append(c.seen, r.Header.Get("BITS-Packet-Type")+" "+r.Header.Get("Content-Range"))
	cut := r.Header.Get("BITS-Packet-Type") == "Fragment" && c.cuts > 0 && len(c.seen) > 3
	if cut {
		c.cuts--
	}
	c.mu.Unlock()
	r = r.WithContext(server.WithIdentity(r.Context(), &server.Identity{User: "alice", Scheme: "Basic"}))
	if cut {
		// the server gets half the body, then the connection goes
		r.Body = io.NopCloser(io.LimitReader(r.Body, r.ContentLength/2))
		rec := httptest.NewRecorder()
		c.next.ServeHTTP(rec, r)
		hj, _ := w.(http.Hijacker)
		conn, _, _ := hj.Hijack()
		conn.Close()
		return
	}
	c.next.ServeHTTP(w, r)
}

func TestUploadResumesAfterDroppedConnections(t *testing.T) {
	root := t.TempDir()
	h, err := server.BITSUpload("/up", root, server.BITSOptions{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{next: h, cuts: 2}
	srv := httptest.NewServer(c)
	defer srv.Close()
	data := make([]byte, 5<<20+123)
	rand.Read(data)
	src := filepath.Join(t.TempDir(), "src.bin")
	os.WriteFile(src, data, 0o600)
	st := openStore(t)
	ctx := context.Background()
	j, err := st.AddJob(ctx, srv.URL+"/up/dir/f.bin", "", client.Config{}, Options{Kind: Upload, Source: src})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	r := &Runner{Store: st, Log: quiet(), now: func() time.Time { return now }}
	for i := 0; i < 5; i++ {
		if err := r.Run(ctx, true); err != nil {
			t.Fatal(err)
		}
		if g, _ := st.Get(ctx, j.ID); g.State == Transferred {
			break
		} else if _, err := os.Stat(filepath.Join(root, "dir", "f.bin")); err == nil {
			t.Fatal("the file appeared before Close-Session")
		}
		now = now.Add(MaxRetry + time.Second)
	}
	g, _ := st.Get(ctx, j.ID)
	if g.State != Transferred || g.BytesDone != int64(len(data)) {
		t.Fatalf("job: %+v\nrequests: %q", g, c.seen)
	}
	got, _ := os.ReadFile(filepath.Join(root, "dir", "f.bin"))
	if !bytes.Equal(got, data) {
		t.Fatalf("uploaded file differs (%d of %d bytes)", len(got), len(data))
	}
	if c.cuts != 0 {
		t.Fatal("no connection was cut")
	}
	// a second upload to the same name is refused, not written over
	j2, _ := st.AddJob(ctx, srv.URL+"/up/dir/f.bin", "", client.Config{}, Options{Kind: Upload, Source: src})
	r.Run(ctx, true)
	if g, _ := st.Get(ctx, j2.ID); g.State != Error {
		t.Fatalf("overwrite: %+v", g)
	}
}

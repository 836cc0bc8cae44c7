package interop

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// rawGet sends the request line "GET target HTTP/1.1" exactly as written
// (curl, even with --path-as-is, normalizes some spellings; Go's client
// all of them) and returns the status and body.
func rawGet(t *testing.T, base, target string, headers ...string) (int, string) {
	t.Helper()
	host := strings.TrimPrefix(base, "http://")
	c, err := net.Dial("tcp", strings.Replace(host, "localhost", "127.0.0.1", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	req := "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n"
	for _, h := range headers {
		req += h + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%s: %v", target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestStaticFileAuthorizationPaths: a static site at /files whose root has
// a subdirectory files/ holding a file only daemon may read, and a
// directory only daemon may search holding a world-readable file. However
// the path is spelled, an anonymous client gets neither; daemon gets both
// by their plain names.
func TestStaticFileAuthorizationPaths(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "root (the test gives files to the Unix account daemon)")
	}
	curl := testenv.LookPath(t, "curl")
	dir := t.TempDir()
	www := filepath.Join(dir, "www")
	for _, d := range []string{"www", "www/files", "www/private"} {
		os.Mkdir(filepath.Join(dir, d), 0o755)
	}
	inner := filepath.Join(www, "files", "inner.txt")
	os.WriteFile(inner, []byte("daemon's secret\n"), 0o600)
	os.Chown(inner, 1, 1)
	os.WriteFile(filepath.Join(www, "private", "pub.txt"), []byte("inside daemon's directory\n"), 0o644)
	os.Chown(filepath.Join(www, "private"), 1, 1)
	os.Chmod(filepath.Join(www, "private"), 0o700)
	os.WriteFile(filepath.Join(www, "pub.txt"), []byte("public\n"), 0o644)
	addAccount(t, dir, "daemon", "daemonpw")
	s := serve(t, dir, `
state_dir: ./state
accounts: ./gatehouse.db
listen: [{addr: 127.0.0.1:0}]
sites:
  - {path: /, auth: [anonymous], handler: whoami}
  - {path: /files, auth: [anonymous, digest], handler: static, root: ./www, file_authorization: true}
`, 1)

	if out, err := run(t, nil, curl, "-sf", s.HTTP+"/files/pub.txt"); err != nil || out != "public\n" {
		t.Errorf("public file: %v %q", err, out)
	}
	for _, f := range []string{"/files/files/inner.txt", "/files/private/pub.txt"} {
		if c := curlCode(t, s.HTTP+f); c != "401" {
			t.Errorf("anonymous %s: %s, want 401", f, c)
		}
		if out, err := run(t, nil, curl, "-sf", "--digest", "-u", "daemon:daemonpw", s.HTTP+f); err != nil || !strings.Contains(out, "daemon") {
			t.Errorf("daemon %s: %v %q", f, err, out)
		}
	}

	spellings := []string{
		"/files/a/../../files/inner.txt",
		"/files/a/..%2f..%2ffiles/inner.txt",
		"/files/a/..%2F..%2Ffiles/inner.txt",
		"/files/a/%2e%2e/%2e%2e/files/inner.txt",
		"/files/./files/../files/inner.txt",
		"/files/x/../../files/private/pub.txt",
		"/files/private/./pub.txt",
		"/FILES/a/../../files/inner.txt",
	}
	for _, p := range spellings {
		out, _ := run(t, nil, curl, "-s", "--path-as-is", "-w", "\n%{http_code}", s.HTTP+p)
		if strings.Contains(out, "secret") || strings.Contains(out, "inside") || strings.HasSuffix(out, "\n200") {
			t.Errorf("curl --path-as-is %s: %q", p, out)
		}
		if code, body := rawGet(t, s.HTTP, p); code == 200 || strings.Contains(body, "secret") || strings.Contains(body, "inside") {
			t.Errorf("raw %s: %d %q", p, code, body)
		}
	}
}

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

// rawUpstream is an HTTP upstream that records each request's head (the
// request line and header lines, byte for byte) and answers 200.
type rawUpstream struct {
	addr  string
	heads chan string
}

func newRawUpstream(t *testing.T) *rawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	u := &rawUpstream{addr: ln.Addr().String(), heads: make(chan string, 100)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				br := bufio.NewReader(c)
				for {
					var head strings.Builder
					for {
						line, err := br.ReadString('\n')
						if err != nil {
							return
						}
						if line == "\r\n" {
							break
						}
						head.WriteString(line)
					}
					u.heads <- head.String()
					if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n\r\nupstream"); err != nil {
						return
					}
				}
			}()
		}
	}()
	return u
}

// next returns the next request head the upstream saw, or "" when none
// comes.
func (u *rawUpstream) next() string {
	select {
	case h := <-u.heads:
		return h
	case <-time.After(2 * time.Second):
		return ""
	}
}

// none reports a request that reached the upstream.
func (u *rawUpstream) none(t *testing.T, what string) {
	t.Helper()
	select {
	case h := <-u.heads:
		t.Errorf("%s reached the upstream:\n%s", what, h)
	default:
	}
}

// TestProxyIdentityHeaderSpellings: a client sending the identity headers
// in other spellings (_ for -, other case, dots), or the headers Gatehouse
// reserves (X-Remote-Ccache, X-Gatehouse-Jwt-Assertion), gets none of
// them to the upstream, which records the header lines as they arrive.
// CGI, WSGI and PHP would read X_Remote_User as HTTP_X_REMOTE_USER.
func TestProxyIdentityHeaderSpellings(t *testing.T) {
	curl := testenv.LookPath(t, "curl")
	up := newRawUpstream(t)
	dir := t.TempDir()
	addAccount(t, dir, "alice", "alicepw", "Staff")
	s := serve(t, dir, `
state_dir: ./state
accounts: ./gatehouse.db
listen: [{addr: 127.0.0.1:0}]
sites:
  - {path: /, auth: [anonymous, basic], basic_over_http: true, handler: proxy, upstream: "http://`+up.addr+`"}
`, 1)
	spoofed := []string{
		"X_Remote_User: evil", "x_remote_groups: Admins", "X-Remote_User: evil", "X_REMOTE_USER: evil",
		"X-Remote-User: evil", "x-remote-user: evil", "X.Remote.User: evil", "Remote_User: evil",
		"X-Remote-Ccache: FILE:/tmp/evil", "X_Remote_Ccache: FILE:/tmp/evil",
		"X-Gatehouse-Jwt-Assertion: forged", "X_Gatehouse_Jwt_Assertion: forged", "x-gatehouse-anything: forged",
		"X_Forwarded_For: 10.6.6.6", "X_Forwarded_Host: evil.example", "X-Authenticated_User: evil",
		"X-Original-URL: /evil", "x-rewrite-url: /evil",
	}
	for _, user := range []string{"", "alice:alicepw"} {
		args := []string{"-s", "-o", "/dev/null", "-w", "%{http_code}"}
		if user != "" {
			args = append(args, "-u", user)
		}
		for _, h := range spoofed {
			args = append(args, "-H", h)
		}
		if out, _ := run(t, nil, curl, append(args, s.HTTP+"/app")...); out != "200" {
			t.Fatalf("as %q: %s", user, out)
		}
		head := up.next()
		if head == "" {
			t.Fatalf("as %q: nothing reached the upstream", user)
		}
		if strings.Contains(head, "evil") || strings.Contains(head, "forged") || strings.Contains(head, "Admins") {
			t.Errorf("as %q, the upstream got a spoofed value:\n%s", user, head)
		}
		var remoteUser []string
		for _, line := range strings.Split(strings.TrimSpace(head), "\r\n")[1:] {
			name, value, _ := strings.Cut(line, ":")
			if strings.ContainsAny(name, "_.") {
				t.Errorf("as %q, the upstream got %q", user, line)
			}
			if strings.EqualFold(name, "X-Remote-User") {
				remoteUser = append(remoteUser, strings.TrimSpace(value))
			}
		}
		want := []string{}
		if user != "" {
			want = []string{"alice"}
		}
		if strings.Join(remoteUser, ",") != strings.Join(want, ",") {
			t.Errorf("as %q, X-Remote-User upstream: %q, want %q\n%s", user, remoteUser, want, head)
		}
	}
}

// TestAmbiguousPaths: a site /app open to anyone, /app/admin for alice
// only, both proxied to one upstream. Paths that an upstream reads as
// /app/admin (Tomcat drops ";x", IIS reads "\" as "/", overlong UTF-8,
// NUL, dot-segments) are refused with 400 and reach no upstream; the path
// that does go upstream is the decoded path the Gate matched, in its
// canonical encoding.
func TestAmbiguousPaths(t *testing.T) {
	curl := testenv.LookPath(t, "curl")
	up := newRawUpstream(t)
	dir := t.TempDir()
	addAccount(t, dir, "alice", "alicepw")
	s := serve(t, dir, `
state_dir: ./state
accounts: ./gatehouse.db
listen: [{addr: 127.0.0.1:0}]
sites:
  - {path: /, auth: [anonymous], handler: whoami}
  - {path: /app, auth: [anonymous], handler: proxy, upstream: "http://`+up.addr+`"}
  - path: /app/admin
    auth: [basic]
    basic_over_http: true
    authorization: [{allow: {users: [alice]}}, {deny: {users: ["*"]}}]
    handler: proxy
    upstream: "http://`+up.addr+`"
`, 1)
	if c := curlCode(t, s.HTTP+"/app/admin"); c != "401" {
		t.Fatalf("/app/admin anonymous: %s", c)
	}
	if c := curlCode(t, "-u", "alice:alicepw", s.HTTP+"/app/admin"); c != "200" {
		t.Fatalf("/app/admin as alice: %s", c)
	}
	if h := up.next(); !strings.HasPrefix(h, "GET /app/admin HTTP/1.1\r\n") {
		t.Fatalf("upstream got %q", h)
	}
	for _, p := range []string{
		"/app/admin;x", "/app/ADMIN;/", "/app;x/admin", "/app/admin%3Bx",
		"/app/%5cadmin", "/app/%5Cadmin", "/app/%C0%AFadmin", "/app/%c0%afadmin", "/app/%e0%80%afadmin",
		"/app/admin%00", "/app/admin%00.css", "/app/x/..%2fadmin", "/app/x%2f../admin",
		"/app/x/../admin", "/app/./admin", "/app/%2e/admin", "/app/x/%2e%2e/admin", "/app//admin",
		"/app/%252e%252e/app/admin",
	} {
		out, _ := run(t, nil, curl, "-s", "--path-as-is", "-o", "/dev/null", "-w", "%{http_code}", s.HTTP+p)
		if out != "400" {
			t.Errorf("curl --path-as-is %s: %s, want 400", p, out)
		}
		up.none(t, "curl "+p)
	}
	// what curl will not send as written: raw \ and bytes of overlong UTF-8
	for _, p := range []string{`/app/\admin`, `/app\admin`, "/app/\xc0\xafadmin", "/app/admin\xff"} {
		if code, _ := rawGet(t, s.HTTP, p); code != 400 {
			t.Errorf("raw %q: %d, want 400", p, code)
		}
		up.none(t, "raw "+p)
	}
	// what passes goes upstream as the decoded path, canonically encoded
	for p, want := range map[string]string{
		"/app/hello%20world": "/app/hello%20world",
		"/app/%7Euser/x":     "/app/~user/x",
		"/app/caf%C3%A9":     "/app/caf%C3%A9",
		"/app/x?a=%2F&b=%3B": "/app/x?a=%2F&b=%3B",
	} {
		if code, body := rawGet(t, s.HTTP, p); code != 200 || body != "upstream" {
			t.Errorf("%s: %d %q", p, code, body)
			continue
		}
		if h := up.next(); !strings.HasPrefix(h, "GET "+want+" HTTP/1.1\r\n") {
			t.Errorf("%s: upstream got %q, want %s", p, strings.SplitN(h, "\r\n", 2)[0], want)
		}
	}
	// a spelling of /app/admin the Gate does match to /app/admin
	if code, _ := rawGet(t, s.HTTP, "/app/%41DMIN"); code != 401 {
		t.Errorf("/app/%%41DMIN: %d, want 401", code)
	}
	up.none(t, "/app/%41DMIN")
}

// TestSlowRequestBody: a client trickling a POST body to a proxied site
// is cut off once it falls below limits.request_body_min_rate after
// limits.request_body_timeout, and the upstream's request ends then, not
// after the server's 2-minute read timeout.
func TestSlowRequestBody(t *testing.T) {
	released := make(chan error, 1)
	up := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.Copy(io.Discard, r.Body)
		released <- err
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go up.Serve(ln)
	t.Cleanup(func() { up.Close() })
	dir := t.TempDir()
	s := serve(t, dir, `
state_dir: ./state
accounts: ./gatehouse.db
listen: [{addr: 127.0.0.1:0}]
limits: {request_body_timeout: 1s, request_body_min_rate: 1000}
sites:
  - {path: /, auth: [anonymous], handler: proxy, upstream: "http://`+ln.Addr().String()+`"}
`, 1)
	// a body sent at an ordinary speed is not cut off
	big := writeFile(t, dir, "big.txt", strings.Repeat("0123456789abcdef", 1<<16))
	if c := curlCode(t, "--data-binary", "@"+big, s.HTTP+"/upload"); c != "200" {
		t.Errorf("a 1 MiB body: %s", c)
	}
	if err := <-released; err != nil {
		t.Errorf("the upstream read the 1 MiB body: %v", err)
	}
	c, err := net.Dial("tcp", strings.Replace(strings.TrimPrefix(s.HTTP, "http://"), "localhost", "127.0.0.1", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() { // one byte every 100 ms: 10 bytes/s, for as long as the server takes it
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if _, err := c.Write([]byte("x")); err != nil {
				return
			}
		}
	}()
	// generous bounds: what is checked is that the body is cut off at
	// all before the server's 2-minute read timeout, not when
	select {
	case err := <-released:
		if err == nil {
			t.Errorf("the upstream read a whole body")
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the upstream still holds the request after 60 s")
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestTimeout {
			t.Errorf("the client got %d, want 408", resp.StatusCode)
		}
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Errorf("the client got no answer and the connection stayed open")
	}
}

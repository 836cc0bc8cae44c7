package interop

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// TestClusterRedisTLS: two instances share state through redis-server's
// TLS port (rediss://, the test's own CA): one trusts the CA through
// cluster.ca_file, the other through SSL_CERT_FILE. A session cookie made
// at one opens at the other (the session key came from Redis over TLS),
// both are ready; serve --check reads cluster.ca_file.
func TestClusterRedisTLS(t *testing.T) {
	r := testenv.StartRedisTLS(t)
	_, port, _ := strings.Cut(r.Addr, ":")
	url := "rediss://localhost:" + port + "/0"
	const cfg = `
state_dir: ./state
accounts: ./gatehouse.db
listen: [{addr: 127.0.0.1:0}]
cluster: {redis: %q%s}
sites:
  - {path: /, auth: [anonymous]}
  - {path: /s, auth: [basic], basic_over_http: true, sessions: true}
`
	start := func(env []string, extra string) *instance {
		dir := t.TempDir()
		addAccount(t, dir, "alice", "alicepw")
		return serveEnv(t, env, dir, fmt.Sprintf(cfg, url, extra), 1)
	}
	a := start(nil, fmt.Sprintf(", ca_file: %q", r.CAFile))
	b := start([]string{"SSL_CERT_FILE=" + r.CAFile}, "")
	for name, s := range map[string]*instance{"ca_file": a, "SSL_CERT_FILE": b} {
		resp, err := http.Get(s.HTTP + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != "ok" {
			t.Errorf("instance trusting the CA by %s: /readyz %d %q", name, resp.StatusCode, body)
		}
	}
	req, _ := http.NewRequest("GET", a.HTTP+"/s", nil)
	req.SetBasicAuth("alice", "alicepw")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "gatehouse_session" {
			cookie = c
		}
	}
	if resp.StatusCode != 200 || cookie == nil {
		t.Fatalf("login at the first instance: %d, cookie %v", resp.StatusCode, cookie)
	}
	req, _ = http.NewRequest("GET", b.HTTP+"/s", nil)
	req.Header.Set("Accept", "application/json")
	req.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("the first instance's cookie at the second: %d", resp.StatusCode)
	}
	if w := parseWhoami(t, string(body)); w.User != "alice" || !w.Session {
		t.Fatalf("%+v", w)
	}
	if keys, err := r.CLI("--scan"); err != nil || !strings.Contains(keys, "gatehouse:secret:session") {
		t.Fatalf("redis-cli --tls --scan: %v %q", err, keys)
	}
	// serve --check: a ca_file that is not there; ca_file without TLS
	dir := t.TempDir()
	out, code := ghCheck(t, dir, fmt.Sprintf(cfg, url, ", ca_file: ./missing.pem"))
	if code != 1 || !strings.HasPrefix(strings.TrimSpace(out), "cluster.ca_file: open "+filepath.Join(dir, "missing.pem")) {
		t.Errorf("missing ca_file: exit %d\n%s", code, out)
	}
	out, code = ghCheck(t, dir, fmt.Sprintf(cfg, "redis://"+r.Addr, fmt.Sprintf(", ca_file: %q", r.CAFile)))
	if code != 1 || !strings.Contains(out, "cluster.ca_file: only for a rediss://") {
		t.Errorf("ca_file with redis://: exit %d\n%s", code, out)
	}
}

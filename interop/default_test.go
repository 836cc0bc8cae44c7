package interop

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// TestEmbeddedDefault runs `gatehouse serve` with no config, as the README's
// first command does, on its fixed ports 8080 and 8443.
func TestEmbeddedDefault(t *testing.T) {
	testenv.DefaultPorts(t)
	curl := testenv.LookPath(t, "curl")
	dir := t.TempDir()
	addAccount(t, dir, "alice", "alice pw ü", "Admins")
	st, err := os.Stat(filepath.Join(dir, "gatehouse.db"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("store mode: %v %v", st.Mode(), err)
	}
	s := serve(t, dir, "", 2)
	if s.HTTP != "http://localhost:8080" || s.HTTPS != "https://localhost:8443" {
		t.Fatalf("listeners %s %s", s.HTTP, s.HTTPS)
	}
	if _, err := os.Stat(filepath.Join(dir, "gatehouse-state", "server.crt")); err != nil {
		t.Fatal("no self-signed certificate in the state directory")
	}
	if !strings.Contains(s.log.String(), "embedded default") {
		t.Error("serve does not say it runs the embedded default")
	}
	out, err := run(t, nil, curl, "-sf", "--digest", "-u", "alice:alice pw ü", "-H", "Accept: application/json", s.HTTP+"/whoami")
	if err != nil {
		t.Fatal(err)
	}
	if w := parseWhoami(t, out); w.User != "alice" || w.Scheme != "Digest" {
		t.Fatalf("%+v", w)
	}
	out, err = run(t, nil, curl, "-sfk", "-u", "alice:alice pw ü", "-H", "Accept: application/json", s.HTTPS+"/whoami")
	if err != nil {
		t.Fatal(err)
	}
	if w := parseWhoami(t, out); w.User != "alice" || w.Scheme != "Basic" {
		t.Fatalf("%+v", w)
	}
	// HTML for a browser
	html, _ := run(t, nil, curl, "-s", "--digest", "-u", "alice:alice pw ü", s.HTTP+"/whoami")
	if !strings.Contains(html, "<h1>alice</h1>") {
		t.Errorf("whoami HTML: %s", html)
	}
	for _, p := range []string{"/healthz", "/metrics", "/"} {
		if c := curlCode(t, s.HTTP+p); c != "200" {
			t.Errorf("%s: %s", p, c)
		}
	}
	metrics, _ := run(t, nil, curl, "-s", s.HTTP+"/metrics")
	if !strings.Contains(metrics, `gatehouse_auth_attempts_total{outcome="success",scheme="Digest"}`) {
		t.Errorf("metrics:\n%s", metrics)
	}
	// the log has one line per failure, with the reason, and never the password
	curlCode(t, "--digest", "-u", "alice:secret-guess-123", s.HTTP+"/whoami")
	curlCode(t, "-k", "-u", "alice:secret-guess-123", s.HTTPS+"/whoami")
	logs := s.waitLog(func(l string) bool { return strings.Count(l, "authentication failed") >= 2 })
	if strings.Count(logs, "authentication failed") < 2 || !strings.Contains(logs, "wrong password") {
		t.Errorf("failures not logged:\n%s", logs)
	}
	if strings.Contains(logs, "secret-guess-123") || strings.Contains(logs, "alice pw") {
		t.Errorf("a password reached the log:\n%s", logs)
	}
}

func TestStoreWorldReadableRefused(t *testing.T) {
	dir := t.TempDir()
	addAccount(t, dir, "alice", "pw")
	db := filepath.Join(dir, "gatehouse.db")
	os.Chmod(db, 0o644)
	out, err := gh(t, dir, "", "serve", "--config", writeFile(t, dir, "c.yaml", "listen: [{addr: 127.0.0.1:0}]\nsites: [{path: /, auth: [basic]}]\n"))
	if err == nil || !strings.Contains(out, "readable by other users") {
		t.Fatalf("serve accepted a world-readable store: %v\n%s", err, out)
	}
}

func TestAccountsCLI(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "x.db")
	if out, err := gh(t, dir, "", "accounts", "add", "alice", "--db", db); err == nil || !strings.Contains(out, "--password-stdin") {
		t.Errorf("add without a terminal or --password-stdin: %v %s", err, out)
	}
	if out, err := gh(t, dir, "pw\n", "accounts", "add", "alice", "--password-stdin", "--group", "A", "--group", "B", "--db", db); err != nil {
		t.Fatal(out)
	}
	if out, err := gh(t, dir, "pw\n", "accounts", "add", "alice", "--password-stdin", "--db", db); err == nil || !strings.Contains(out, "exists") {
		t.Errorf("duplicate add: %s", out)
	}
	if out, err := gh(t, dir, "", "accounts", "group", "add", "C", "alice", "--db", db); err != nil {
		t.Fatal(out)
	}
	if out, err := gh(t, dir, "", "accounts", "group", "del", "A", "alice", "--db", db); err != nil {
		t.Fatal(out)
	}
	if out, _ := gh(t, dir, "", "accounts", "list", "--db", db); !strings.Contains(out, "alice\tB,C") {
		t.Errorf("list: %q", out)
	}
	if out, _ := gh(t, dir, "", "accounts", "list", "--json", "--db", db); !strings.Contains(out, `"name": "alice"`) || strings.Contains(out, "argon") {
		t.Errorf("list --json: %q", out)
	}
	if out, err := gh(t, dir, "new\n", "accounts", "passwd", "alice", "--password-stdin", "--db", db); err != nil {
		t.Fatal(out)
	}
	if out, err := gh(t, dir, "", "accounts", "del", "alice", "--db", db); err != nil {
		t.Fatal(out)
	}
	if out, err := gh(t, dir, "", "accounts", "del", "alice", "--db", db); err == nil || !strings.Contains(out, "no such account") {
		t.Errorf("del missing: %s", out)
	}
	if out, err := gh(t, dir, "", "accounts", "frob", "--db", db); err == nil {
		t.Errorf("unknown subcommand accepted: %s", out)
	}
	if out, err := gh(t, dir, "", "bogus"); err == nil || !strings.Contains(out, "unknown command") {
		t.Errorf("unknown command: %s", out)
	}
	if out, err := gh(t, dir, "", "version"); err != nil || !strings.HasPrefix(out, "gatehouse ") {
		t.Errorf("version: %s", out)
	}
	if out, err := gh(t, dir, "", "serve", "--config", writeFile(t, dir, "bad.yaml", "sites: 5\n")); err == nil || !strings.Contains(out, "bad.yaml") {
		t.Errorf("bad config: %s", out)
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFileAuthorizationServe: the seed's BITS example through the real
// server and curl: a site with anonymous and Digest, a file only the Unix
// account daemon may read. Anonymous gets 401 with challenges; daemon,
// authenticated, gets the file; another user does not.
func TestFileAuthorizationServe(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "root (the test gives a file to the Unix account daemon)")
	}
	dir := t.TempDir()
	www := filepath.Join(dir, "www")
	os.Mkdir(www, 0o755)
	f := filepath.Join(www, "ben.txt")
	os.WriteFile(f, []byte("for daemon only\n"), 0o600)
	os.Chown(f, 1, 1)
	addAccount(t, dir, "daemon", "daemonpw")
	addAccount(t, dir, "bob", "bobpw")
	s := serve(t, dir, `
state_dir: ./state
accounts: ./gatehouse.db
listen: [{addr: 127.0.0.1:0}]
sites: [{path: /, auth: [anonymous, digest], handler: static, root: ./www, file_authorization: true}]
`, 1)
	curl := testenv.LookPath(t, "curl")
	out, _ := run(t, nil, curl, "-s", "-o", "/dev/null", "-w", "%{http_code} %header{www-authenticate}", s.HTTP+"/ben.txt")
	if !strings.HasPrefix(out, "401 Digest") {
		t.Errorf("anonymous: %q, want 401 with a Digest challenge", out)
	}
	if out, err := run(t, nil, curl, "-sf", "--digest", "-u", "daemon:daemonpw", s.HTTP+"/ben.txt"); err != nil || out != "for daemon only\n" {
		t.Errorf("daemon: %v %q", err, out)
	}
	if c := curlCode(t, "--digest", "-u", "bob:bobpw", s.HTTP+"/ben.txt"); c != "401" {
		t.Errorf("bob: %s, want 401", c)
	}
}

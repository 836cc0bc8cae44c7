package interop

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/seal"
)

// reload sends SIGHUP and waits for the n-th "configuration reloaded".
func (i *instance) reload(t *testing.T, n int) {
	t.Helper()
	failed := strings.Count(i.log.String(), "reload failed")
	i.cmd.Process.Signal(syscall.SIGHUP)
	l := i.waitLog(func(l string) bool {
		return strings.Count(l, "configuration reloaded") >= n || strings.Count(l, "reload failed") > failed
	})
	if strings.Count(l, "configuration reloaded") < n {
		t.Fatalf("reload %d did not happen:\n%s", n, l)
	}
}

// replaceFile writes b to path through a rename, as an administrator's
// tools (or certbot) put a new file in place.
func replaceFile(t *testing.T, path string, b []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestReloadCertificateBroken (TestReloadCertificate in daemon_test.go has
// the good case and a connection kept across it): certificate files
// replaced on disk change nothing until SIGHUP; a certificate that does
// not load on SIGHUP is refused with the listener named and the running
// one stays; the good pair put in its place is served after the next
// SIGHUP, checked against the CA that issued it.
func TestReloadCertificateBroken(t *testing.T) {
	dir := t.TempDir()
	ca, _, issue := testCA(t, dir)
	oldCrt, oldKey := issue("old", false)
	newCrt, newKey := issue("new", false)
	copyTo := func(src, dst string) {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		replaceFile(t, filepath.Join(dir, dst), b)
	}
	copyTo(oldCrt, "server.crt")
	copyTo(oldKey, "server.key")
	s := serve(t, dir, `
state_dir: ./state
accounts: ./gatehouse.db
listen:
  - {addr: 127.0.0.1:0, tls: {cert: ./server.crt, key: ./server.key}}
sites:
  - {path: /, auth: [anonymous]}
`, 1)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	served := func() string {
		t.Helper()
		c, err := tls.Dial("tcp", strings.TrimPrefix(s.HTTPS, "https://"), &tls.Config{RootCAs: pool, ServerName: "localhost"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if cn := served(); cn != "old" {
		t.Fatalf("at start: %q", cn)
	}
	replaceFile(t, filepath.Join(dir, "server.crt"), []byte("not a certificate"))
	s.cmd.Process.Signal(syscall.SIGHUP)
	if l := s.waitLog(func(l string) bool { return strings.Contains(l, "reload failed") }); !strings.Contains(l, "reload failed") || !strings.Contains(l, "listen[0]") {
		t.Fatalf("a broken certificate on SIGHUP was not refused:\n%s", l)
	}
	if cn := served(); cn != "old" {
		t.Fatalf("after the refused reload: %q", cn)
	}
	copyTo(newCrt, "server.crt")
	copyTo(newKey, "server.key")
	if cn := served(); cn != "old" {
		t.Fatalf("certificate changed without a signal: %q", cn)
	}
	s.reload(t, 1)
	if cn := served(); cn != "new" {
		t.Fatalf("after SIGHUP: %q, want the new certificate", cn)
	}
}

// TestReloadSessionKeys: state_dir/session.keys rotated (a new key on the
// first line, the old one after it) and SIGHUP: a cookie sealed under the
// old key still opens, new cookies are sealed under the new key; with the
// old line dropped and another SIGHUP the old cookie ends.
func TestReloadSessionKeys(t *testing.T) {
	dir := t.TempDir()
	addAccount(t, dir, "alice", "alicepw")
	key := func() []byte {
		k := make([]byte, seal.KeySize)
		rand.Read(k)
		return k
	}
	line := func(k []byte) string { return base64.StdEncoding.EncodeToString(k) + "\n" }
	k1, k2 := key(), key()
	keysPath := filepath.Join(dir, "state", "session.keys")
	if err := os.MkdirAll(filepath.Dir(keysPath), 0o700); err != nil {
		t.Fatal(err)
	}
	replaceFile(t, keysPath, []byte(line(k1)))
	s := serve(t, dir, `
state_dir: ./state
accounts: ./gatehouse.db
listen: [{addr: 127.0.0.1:0}]
sites:
  - {path: /s, auth: [basic], basic_over_http: true, sessions: true}
`, 1)
	// login returns the session cookie a Basic login gets
	login := func() string {
		t.Helper()
		req, _ := http.NewRequest("GET", s.HTTP+"/s", nil)
		req.SetBasicAuth("alice", "alicepw")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for _, c := range resp.Cookies() {
			if c.Name == "gatehouse_session" && c.Value != "" {
				return c.Value
			}
		}
		t.Fatalf("login: %d, no session cookie", resp.StatusCode)
		return ""
	}
	// with returns the status of a request carrying only the cookie, and
	// whether whoami says it was a session
	with := func(cookie string) (int, bool) {
		t.Helper()
		req, _ := http.NewRequest("GET", s.HTTP+"/s", nil)
		req.Header.Set("Accept", "application/json")
		req.AddCookie(&http.Cookie{Name: "gatehouse_session", Value: cookie})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return resp.StatusCode, false
		}
		w := parseWhoami(t, string(b))
		return 200, w.Session && w.User == "alice"
	}
	// sealedUnder says whether cookie opens under keys alone
	sealedUnder := func(cookie string, keys ...[]byte) bool {
		ct, err := base64.RawURLEncoding.DecodeString(cookie)
		if err != nil {
			t.Fatalf("cookie: %v", err)
		}
		sl, err := seal.New(keys)
		if err != nil {
			t.Fatal(err)
		}
		_, err = sl.Open(ct, []byte("/s"))
		return err == nil
	}
	old := login()
	if !sealedUnder(old, k1) || sealedUnder(old, k2) {
		t.Fatal("the first cookie is not sealed under the key session.keys holds")
	}
	if code, sess := with(old); code != 200 || !sess {
		t.Fatalf("the first cookie: %d session=%v", code, sess)
	}
	// rotation: the new key first, the old one kept to open
	replaceFile(t, keysPath, []byte("# rotated\n"+line(k2)+line(k1)))
	s.reload(t, 1)
	if code, sess := with(old); code != 200 || !sess {
		t.Fatalf("a cookie of the old key after the rotation: %d session=%v", code, sess)
	}
	fresh := login()
	if !sealedUnder(fresh, k2) || sealedUnder(fresh, k1) {
		t.Fatal("a cookie made after the rotation is not sealed under the new key")
	}
	if code, sess := with(fresh); code != 200 || !sess {
		t.Fatalf("the new cookie: %d session=%v", code, sess)
	}
	// the old key dropped: its cookies end, the new ones stay
	replaceFile(t, keysPath, []byte(line(k2)))
	s.reload(t, 2)
	if code, _ := with(old); code != 401 {
		t.Fatalf("a cookie of a dropped key: %d, want 401", code)
	}
	if code, sess := with(fresh); code != 200 || !sess {
		t.Fatalf("the new cookie after the old key went: %d session=%v", code, sess)
	}
}

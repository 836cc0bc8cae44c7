package interop

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// squid starts a private Squid forward proxy on a free port that requires
// Negotiate (negotiate_kerberos_auth, HTTP/localhost) or Basic (alice /
// proxypw), and only forwards to loopback. It returns the proxy URL.
func squid(t *testing.T, k testenv.KDC) string {
	t.Helper()
	u, _ := squidWithLog(t, k)
	return u
}

// squidWithLog is squid, also returning the path of Squid's access log.
func squidWithLog(t *testing.T, k testenv.KDC) (string, string) {
	t.Helper()
	bin := testenv.LookPath(t, "squid")
	htpasswd := testenv.LookPath(t, "htpasswd")
	if os.Geteuid() != 0 {
		testenv.Missing(t, "root (Squid runs as the proxy user)")
	}
	dir := t.TempDir()
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o777) // Squid (user proxy) writes its logs and pid here
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	kt, _ := os.ReadFile(k.Keytab)
	os.WriteFile(filepath.Join(dir, "http.keytab"), kt, 0o644)
	os.MkdirAll(filepath.Join(dir, "rcache"), 0o777)
	os.Chmod(filepath.Join(dir, "rcache"), 0o777)
	if out, err := exec.Command(htpasswd, "-bc", filepath.Join(dir, "passwd"), "alice", "proxypw").CombinedOutput(); err != nil {
		t.Fatalf("htpasswd: %v %s", err, out)
	}
	os.Chmod(filepath.Join(dir, "passwd"), 0o644)
	conf := fmt.Sprintf(`http_port 127.0.0.1:%[1]d
pid_filename %[2]s/squid.pid
cache_log %[2]s/cache.log
access_log %[2]s/access.log
coredump_dir %[2]s
cache deny all
shutdown_lifetime 1 seconds
auth_param negotiate program /usr/bin/env KRB5_CONFIG=%[3]s KRB5_KTNAME=%[2]s/http.keytab KRB5RCACHEDIR=%[2]s/rcache /usr/lib/squid/negotiate_kerberos_auth -s HTTP/localhost@EXAMPLE.TEST
auth_param negotiate children 2
auth_param negotiate keep_alive on
auth_param basic program /usr/lib/squid/basic_ncsa_auth %[2]s/passwd
auth_param basic children 2
auth_param basic realm gatehouse-test-proxy
acl to_local dst 127.0.0.0/8
acl authed proxy_auth REQUIRED
http_access deny !to_local
http_access allow authed
http_access deny all
`, port, dir, k.Krb5Conf)
	cf := filepath.Join(dir, "squid.conf")
	os.WriteFile(cf, []byte(conf), 0o644)
	cmd := exec.Command(bin, "-N", "-f", cf)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "cache.log"))
			t.Logf("squid cache.log:\n%s", log)
		}
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
	})
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return fmt.Sprintf("http://localhost:%d", port), filepath.Join(dir, "access.log")
		}
		time.Sleep(100 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "cache.log"))
	t.Fatalf("squid did not start\n%s", log)
	return "", ""
}

func TestClientThroughSquid(t *testing.T) {
	k := testenv.NeedKDC(t)
	env := kinit(t, k)
	proxy := squid(t, k)
	dir := t.TempDir()
	s := serve(t, dir, `
state_dir: ./state
listen: [{addr: 127.0.0.1:0}, {addr: 127.0.0.1:0, tls: {}}]
sites: [{path: /, auth: [anonymous]}]
`, 2)
	json := []string{"-H", "Accept: application/json"}
	cert := filepath.Join(dir, "state", "server.crt")
	cases := []struct {
		name string
		env  []string
		args []string
	}{
		{"basic, plain HTTP", nil, []string{"--proxy-basic", "-U", "alice:proxypw", s.HTTP + "/"}},
		{"basic, HTTPS via CONNECT", nil, []string{"--proxy-basic", "-U", "alice:proxypw", "--cacert", cert, s.HTTPS + "/"}},
		{"negotiate, plain HTTP", env, []string{"--proxy-negotiate", "--implicit-allow", "localhost", s.HTTP + "/"}},
		{"negotiate, HTTPS via CONNECT", env, []string{"--proxy-negotiate", "--implicit-allow", "localhost", "--cacert", cert, s.HTTPS + "/"}},
	}
	for _, c := range cases {
		out, e, ok := get(t, c.env, append(append([]string{"-x", proxy}, json...), c.args...)...)
		if !ok || !strings.Contains(out, `"scheme": "Anonymous"`) {
			t.Errorf("%s: ok=%v %q %s", c.name, ok, out, e)
		}
	}
	if _, e, ok := get(t, nil, "-x", proxy, "--proxy-basic", "-U", "alice:wrong", s.HTTP+"/"); ok || !strings.Contains(e, "407") {
		t.Errorf("wrong proxy password: ok=%v %s", ok, e)
	}
	// Basic to a proxy only when named
	if _, e, ok := get(t, nil, "-x", proxy, "-U", "alice:proxypw", s.HTTP+"/"); ok {
		t.Errorf("Basic sent to the proxy without --proxy-basic: %s", e)
	}
}

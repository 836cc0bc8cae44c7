package interop

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// loopbackName is a host name of this machine that resolves to a loopback
// address but is not "localhost": proxies from the environment are never
// used for localhost and loopback addresses (Go's rule), and the test
// Squid only forwards to loopback.
func loopbackName(t *testing.T) string {
	t.Helper()
	h, err := os.Hostname()
	if err == nil && h != "localhost" {
		if addrs, err := net.LookupHost(h); err == nil && len(addrs) > 0 {
			if ip := net.ParseIP(addrs[0]); ip != nil && ip.IsLoopback() {
				return h
			}
		}
	}
	testenv.Missing(t, "a host name other than localhost resolving to 127.0.0.1 (/etc/hosts)")
	return ""
}

// waitFile waits (up to 5 s) until the file contains want; Squid writes
// a line when the transaction ends.
func waitFile(path, want string) (string, bool) {
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), want) {
			return string(b), true
		}
		if time.Now().After(deadline) {
			return string(b), false
		}
	}
}

// noProxyEnv clears the proxy variables the test did not set.
var noProxyEnv = []string{"HTTP_PROXY=", "HTTPS_PROXY=", "NO_PROXY=", "http_proxy=", "https_proxy=", "no_proxy=", "XDG_CONFIG_HOME=/nonexistent"}

func TestClientProxyFromEnvironment(t *testing.T) {
	k := testenv.NeedKDC(t)
	host := loopbackName(t)
	proxy, access := squidWithLog(t, k)
	dir := t.TempDir()
	s := serve(t, dir, `
state_dir: ./state
listen: [{addr: 127.0.0.1:0}, {addr: 127.0.0.1:0, tls: {}}]
sites: [{path: /, auth: [anonymous]}]
`, 2)
	httpsURL := strings.Replace(s.HTTPS, "localhost", host, 1) + "/"
	httpURL := strings.Replace(s.HTTP, "localhost", host, 1) + "/"
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(strings.TrimPrefix(httpsURL, "https://"), "/"))
	port = strings.TrimSuffix(port, "/")
	auth := []string{"--proxy-basic", "-U", "alice:proxypw", "-k"}

	env := append(append([]string{}, noProxyEnv...), "HTTPS_PROXY="+proxy)
	if out, e, ok := get(t, env, append(auth, "-v", httpsURL)...); !ok || !strings.Contains(out, "Anonymous") {
		t.Fatalf("HTTPS_PROXY: ok=%v %q %s", ok, out, e)
	} else if !strings.Contains(e, "proxy from the environment") {
		t.Errorf("-v does not say where the proxy came from:\n%s", e)
	}
	if log, ok := waitFile(access, "CONNECT "+host+":"+port); !ok {
		t.Errorf("no CONNECT %s:%s in Squid's access log:\n%s", host, port, log)
	}

	// the proxy's credentials in the URL, as curl takes them (Basic still only when named)
	withUser := strings.Replace(proxy, "http://", "http://alice:proxypw@", 1)
	env = append(append([]string{}, noProxyEnv...), "HTTPS_PROXY="+withUser)
	if out, e, ok := get(t, env, "--proxy-basic", "-k", httpsURL); !ok || !strings.Contains(out, "Anonymous") {
		t.Errorf("HTTPS_PROXY with user info: ok=%v %q %s", ok, out, e)
	}
	if _, e, ok := get(t, env, "-k", httpsURL); ok || !strings.Contains(e, "407") {
		t.Errorf("Basic sent to the proxy without --proxy-basic: ok=%v %s", ok, e)
	}

	// lower-case http_proxy for http://: the request goes to Squid whole
	env = append(append([]string{}, noProxyEnv...), "http_proxy="+proxy)
	if out, e, ok := get(t, env, append(auth, httpURL)...); !ok || !strings.Contains(out, "Anonymous") {
		t.Fatalf("http_proxy: ok=%v %q %s", ok, out, e)
	}
	if log, ok := waitFile(access, "GET "+httpURL); !ok {
		t.Errorf("no GET %s in Squid's access log:\n%s", httpURL, log)
	}

	// NO_PROXY: straight to the server, Squid never sees it
	before, _ := os.ReadFile(access)
	for _, c := range []struct {
		name string
		env  []string
		args []string
	}{
		{"NO_PROXY", []string{"HTTPS_PROXY=" + proxy, "NO_PROXY=" + host}, nil},
		{"--noproxy over the environment", []string{"HTTPS_PROXY=" + proxy}, []string{"--noproxy", host}},
	} {
		env = append(append([]string{}, noProxyEnv...), c.env...)
		// no proxy credentials: Squid would answer 407
		if out, e, ok := get(t, env, append(append([]string{"-k"}, c.args...), httpsURL)...); !ok || !strings.Contains(out, "Anonymous") {
			t.Errorf("%s: ok=%v %q %s", c.name, ok, out, e)
		}
	}
	// -x wins over the environment's NO_PROXY
	env = append(append([]string{}, noProxyEnv...), "HTTPS_PROXY=http://127.0.0.1:1", "NO_PROXY="+host)
	if out, e, ok := get(t, env, append(append([]string{"-x", proxy}, auth...), httpsURL)...); !ok || !strings.Contains(out, "Anonymous") {
		t.Errorf("-x over the environment: ok=%v %q %s", ok, out, e)
	}
	time.Sleep(500 * time.Millisecond)
	after, _ := os.ReadFile(access)
	tunnels := func(log []byte) int { // 407 legs are logged too
		return strings.Count(string(log), "TCP_TUNNEL/200 ")
	}
	if n := tunnels(after) - tunnels(before); n != 1 {
		t.Errorf("Squid saw %d CONNECTs for the NO_PROXY and -x requests, want 1 (the -x one):\n%s", n, after)
	}
	// an environment proxy that is down fails the request (it is used)
	env = append(append([]string{}, noProxyEnv...), "HTTPS_PROXY=http://127.0.0.1:1")
	if _, e, ok := get(t, env, "-k", httpsURL); ok || !strings.Contains(e, "127.0.0.1:1") {
		t.Errorf("a dead HTTPS_PROXY was not used: ok=%v %s", ok, e)
	}
}

// TestClientImplicitProxyCredentialsCONNECT: BITS's rule that implicit
// credentials set for the proxy also serve the server, for an https://
// server reached through a CONNECT tunnel (the server's host is not in the
// implicit-allow list, the proxy's is).
func TestClientImplicitProxyCredentialsCONNECT(t *testing.T) {
	k := testenv.NeedKDC(t)
	env := append(append([]string{}, noProxyEnv...), kinit(t, k)...)
	proxy, access := squidWithLog(t, k)
	s := kerberosServer(t, k)
	target := strings.Replace(s.HTTPS, "localhost", "127.0.0.1", 1) + "/whoami"
	out, e, ok := get(t, env, "-x", proxy, "--proxy-negotiate", "--implicit-allow", "localhost", "-k", "-H", "Accept: application/json", target)
	if !ok {
		t.Fatalf("implicit proxy credentials through CONNECT: %q %s", out, e)
	}
	if w := parseWhoami(t, out); w.User != "alice@EXAMPLE.TEST" || w.Scheme != "Negotiate" {
		t.Errorf("whoami = %+v", w)
	}
	// the 407 is logged first; alice's CONNECT when its tunnel closes
	if log, ok := waitFile(access, "alice@EXAMPLE.TEST"); !ok || !strings.Contains(log, "CONNECT 127.0.0.1") {
		t.Errorf("Squid did not log alice's CONNECT:\n%s", log)
	}
	// explicit (Basic) credentials for the proxy: the server gets nothing implicit
	if _, e, ok := get(t, env, "-x", proxy, "--proxy-basic", "-U", "alice:proxypw", "--implicit-allow", "localhost", "-k", target); ok || !strings.Contains(e, "implicit credentials are not sent to 127.0.0.1") {
		t.Errorf("explicit proxy credentials let implicit ones go to the server: ok=%v %s", ok, e)
	}
}

// TestClientPolicyFile: client.yaml's implicit_allow and spn map decide
// for `gatehouse get --negotiate`, flags override them, -v names the file.
func TestClientPolicyFile(t *testing.T) {
	k := testenv.NeedKDC(t)
	host := loopbackName(t)
	s := kerberosServer(t, k)
	target := strings.Replace(s.HTTP, "localhost", host, 1) + "/whoami"
	xdg := t.TempDir()
	os.MkdirAll(filepath.Join(xdg, "gatehouse"), 0o755)
	file := filepath.Join(xdg, "gatehouse", "client.yaml")
	// the server's key is HTTP/localhost: the SPN map sends host there
	os.WriteFile(file, []byte("implicit_allow: [\"*.invalid\", "+host+"]\nspn: {"+host+": HTTP/localhost}\n"), 0o644)
	env := append(append([]string{}, noProxyEnv...), kinit(t, k)...)
	env = append(env, "XDG_CONFIG_HOME="+xdg)
	out, e, ok := get(t, env, "--negotiate", "-v", "-H", "Accept: application/json", target)
	if !ok {
		t.Fatalf("client.yaml policy: %q %s", out, e)
	}
	if w := parseWhoami(t, out); w.User != "alice@EXAMPLE.TEST" {
		t.Errorf("whoami = %+v", w)
	}
	for _, want := range []string{"client config: " + file, "implicit_allow in " + file, "SPN for " + host + ": HTTP/localhost"} {
		if !strings.Contains(e, want) {
			t.Errorf("-v does not say %q:\n%s", want, e)
		}
	}
	// --implicit-allow overrides the file's list
	if _, e, ok := get(t, env, "--negotiate", "--implicit-allow", "elsewhere.invalid", target); ok || !strings.Contains(e, "not in the implicit-allow list") {
		t.Errorf("--implicit-allow did not override implicit_allow: ok=%v %s", ok, e)
	}
	// without the SPN map the ticket is for HTTP/<host>, which the KDC does not know
	os.WriteFile(file, []byte("implicit_allow: ["+host+"]\n"), 0o644)
	if _, e, ok := get(t, env, "--negotiate", target); ok {
		t.Errorf("no spn map, yet Kerberos worked: %s", e)
	}
	// a *.domain pattern
	os.WriteFile(file, []byte("implicit_allow: [\"*.corp.invalid\"]\n"), 0o644)
	if _, e, ok := get(t, env, "--negotiate", target); ok {
		t.Errorf("%s got implicit credentials from *.corp.invalid: %s", host, e)
	}
	// an unknown key is an error naming the file
	os.WriteFile(file, []byte("implicit_alow: [x]\n"), 0o644)
	if _, e, ok := get(t, env, target); ok || !strings.Contains(e, file) {
		t.Errorf("a misspelt key: ok=%v %s", ok, e)
	}
}

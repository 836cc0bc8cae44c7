package interop

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// haproxyTLS starts HAProxy terminating TLS with crt (certificate and key
// in one PEM, as HAProxy wants) on a free loopback port and forwarding
// plain HTTP to backend from source address 127.0.0.2 (the trusted
// proxy; direct clients come from 127.0.0.1). It returns the port.
func haproxyTLS(t *testing.T, crt, backend string) string {
	t.Helper()
	return fmt.Sprint(startHAProxy(t, func(port int) string {
		return fmt.Sprintf(`frontend tls
  bind 127.0.0.1:%d ssl crt %s
  default_backend gatehouse
backend gatehouse
  server gatehouse %s source 127.0.0.2
`, port, crt, backend)
	}))
}

// startHAProxy runs HAProxy (mode http, keep-alive: it pins a server
// connection after a 401 carrying NTLM or Negotiate) on a free loopback
// port with the frontend and backend sections proxies gives for that port,
// stops it when the test ends, and returns the port once it answers.
func startHAProxy(t *testing.T, proxies func(port int) string) int {
	t.Helper()
	bin := testenv.LookPath(t, "haproxy")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf := filepath.Join(t.TempDir(), "haproxy.cfg")
	os.WriteFile(conf, []byte(`global
  maxconn 512
defaults
  mode http
  option http-keep-alive
  timeout connect 5s
  timeout client 30s
  timeout server 30s
`+proxies(port)), 0o600)
	cmd := exec.Command(bin, "-db", "-f", conf)
	log := &syncBuffer{mu: make(chan struct{}, 1)}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("haproxy log:\n%s", log.String())
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return port
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy did not start:\n%s", log.String())
		}
	}
}

// frontEndConfig: Gatehouse on plain HTTP behind the front end, Kerberos
// and NTLM, trusted_proxy; %s is the rest of extended_protection.
const frontEndConfig = `
state_dir: ./state
accounts: ./gatehouse.db
listen: [{addr: 127.0.0.1:0}]
kerberos: {keytab: %s}
ntlm: {domain: EXAMPLE}
log: {level: debug}
extended_protection:
  scenario: trusted_proxy
  trusted_proxies: [127.0.0.2]
  %s
sites:
  - path: /
    auth: [negotiate, ntlm]
`

type gssResult struct {
	Status int
	Who    *whoami
}

// TestExtendedProtectionFrontEnd: HAProxy terminates TLS in front of
// Gatehouse, whose extended_protection.front_end_certificates names
// HAProxy's certificate. python-gssapi clients, Kerberos (MIT) and NTLM
// (gss-ntlmssp, raw and in SPNEGO), bind to the certificate they see at
// HAProxy: the right binding → 200 and channel_binding verified; a wrong
// one → 401 whose log line names the front end's certificate; none → 401
// under always, 200 under when_supported. A relay with its own
// certificate in front of HAProxy is refused; a client that reaches
// Gatehouse without HAProxy is held to transport_selected.
func TestExtendedProtectionFrontEnd(t *testing.T) {
	k := testenv.NeedKDC(t)
	py := testenv.File(t, "/usr/bin/python3", "Debian's python3")
	if err := exec.Command(py, "-c", "import gssapi").Run(); err != nil {
		testenv.Missing(t, "python3-gssapi (Debian package)")
	}
	testenv.File(t, "/usr/lib/x86_64-linux-gnu/gssntlmssp/gssntlmssp.so", "gss-ntlmssp (Debian package)")
	env := kinit(t, k)
	cert, key := selfSigned(t)
	crt := filepath.Join(t.TempDir(), "frontend.pem")
	c, _ := os.ReadFile(cert)
	kb, _ := os.ReadFile(key)
	os.WriteFile(crt, append(c, kb...), 0o600)
	hash := certHash(t, cert)

	kerberos := func(url, cb, h string) gssResult {
		t.Helper()
		out, err := run(t, env, py, "-c", pythonGSSAPICB, url, "spnego", cb, h)
		if err != nil {
			t.Fatal(err)
		}
		var res gssResult
		if err := jsonUnmarshal(out, &res); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return res
	}
	ntlmReq := func(port, mech, cb, h string) gssResult {
		t.Helper()
		out, err := run(t, nil, py, "-c", pythonGSSNTLM, "localhost", port, "https", mech, cb, h)
		if err != nil {
			t.Fatal(err)
		}
		var res gssResult
		if err := jsonUnmarshal(out, &res); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return res
	}

	for _, enf := range []string{"when_supported", "always"} {
		dir := t.TempDir()
		addAccount(t, dir, "alice", "alicepw")
		s := serve(t, dir, fmt.Sprintf(frontEndConfig, k.Keytab,
			"enforcement: "+enf+"\n  front_end_certificates: ["+cert+"]"), 1)
		port := haproxyTLS(t, crt, strings.TrimPrefix(strings.Replace(s.HTTP, "localhost", "127.0.0.1", 1), "http://"))
		front := "https://localhost:" + port
		for _, cb := range []string{"right", "wrong", "none"} {
			want, wantCB := 200, "verified"
			switch {
			case cb == "wrong":
				want = 401
			case cb == "none" && enf == "always":
				want = 401
			case cb == "none":
				wantCB = "absent"
			}
			res := kerberos(front+"/whoami", cb, hash)
			if res.Status != want || (res.Who != nil && (res.Who.ChannelBinding != wantCB || res.Who.Mechanism != "kerberos")) {
				t.Errorf("%s: Kerberos cb=%s through the front end: %d %+v, want %d %s", enf, cb, res.Status, res.Who, want, wantCB)
			}
			for _, mech := range []string{"ntlm", "spnego"} {
				res := ntlmReq(port, mech, cb, hash)
				if res.Status != want || (res.Who != nil && (res.Who.ChannelBinding != wantCB || res.Who.Mechanism != "ntlm")) {
					t.Errorf("%s: NTLM (%s) cb=%s through the front end: %d %+v, want %d %s", enf, mech, cb, res.Status, res.Who, want, wantCB)
				}
			}
		}
		l := s.waitLog(func(l string) bool { return strings.Contains(l, "compared with front end certificate CN=localhost") })
		if !strings.Contains(l, "does not match the front end's TLS channel") || !strings.Contains(l, "compared with front end certificate CN=localhost") {
			t.Errorf("%s: a refused binding's log line does not name the front end's certificate", enf)
		}
		if !strings.Contains(l, `checked_against="front end certificate CN=localhost"`) {
			t.Errorf("%s: the debug log does not say which binding was checked", enf)
		}
		// The relay: a man in the middle with his own certificate in
		// front of the front end; the client binds to the relay's.
		ru, relayHash := relay(t, front, true)
		if res := kerberos(ru+"/whoami", "right", relayHash); res.Status != 401 {
			t.Errorf("%s: Kerberos through a relay in front of the front end: %d, want 401", enf, res.Status)
		}
		// The relay from plain HTTP: the client has no channel to bind.
		hu, _ := relay(t, front, false)
		want := 401
		if enf == "when_supported" {
			want = 200 // partially hardened: an unbound token passes, as on direct TLS
		}
		if res := kerberos(hu+"/whoami", "none", ""); res.Status != want {
			t.Errorf("%s: Kerberos through a plain-HTTP relay: %d, want %d", enf, res.Status, want)
		}
		// Not from the trusted proxy: transport_selected over plain HTTP,
		// the service binding (HTTP/localhost, derived) decides.
		res := kerberos(s.HTTP+"/whoami", "right", hash)
		if res.Status != 200 || res.Who == nil || res.Who.ChannelBinding != "not_applicable" {
			t.Errorf("%s: direct to Gatehouse: %d %+v", enf, res.Status, res.Who)
		}
		if enf == "always" {
			// The certificates are reloaded with the config: name another
			// one, SIGHUP, and HAProxy's binding no longer passes.
			other, _ := selfSigned(t)
			b, _ := os.ReadFile(filepath.Join(dir, "gatehouse.yaml"))
			os.WriteFile(filepath.Join(dir, "gatehouse.yaml"), []byte(strings.Replace(string(b), cert, other, 1)), 0o600)
			s.cmd.Process.Signal(syscall.SIGHUP)
			if l := s.waitLog(func(l string) bool { return strings.Contains(l, "configuration reloaded") }); !strings.Contains(l, "configuration reloaded") {
				t.Fatal("no reload")
			}
			if res := kerberos(front+"/whoami", "right", hash); res.Status != 401 {
				t.Errorf("after the front end's certificate was replaced in the config: %d, want 401", res.Status)
			}
		}
	}

	// Without front_end_certificates: the TrustedProxy scenario of the
	// seeds, service binding only (any channel binding passes, the SPN
	// must be this server's).
	for _, names := range []string{"", "service_names: [HTTP/www.example.test]"} {
		dir := t.TempDir()
		addAccount(t, dir, "alice", "alicepw")
		s := serve(t, dir, fmt.Sprintf(frontEndConfig, k.Keytab, "enforcement: always\n  "+names), 1)
		port := haproxyTLS(t, crt, strings.TrimPrefix(strings.Replace(s.HTTP, "localhost", "127.0.0.1", 1), "http://"))
		want := 200
		if names != "" {
			want = 401
		}
		for _, cb := range []string{"right", "wrong"} {
			res := kerberos("https://localhost:"+port+"/whoami", cb, hash)
			if res.Status != want || (res.Who != nil && res.Who.ChannelBinding != "not_applicable") {
				t.Errorf("SPN only (%q), Kerberos cb=%s: %d %+v, want %d", names, cb, res.Status, res.Who, want)
			}
		}
		if names == "" {
			if res := ntlmReq(port, "ntlm", "wrong", hash); res.Status != 200 || res.Who.ChannelBinding != "not_applicable" {
				t.Errorf("SPN only, NTLM: %d %+v", res.Status, res.Who)
			}
		}
	}
}

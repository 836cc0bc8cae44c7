package interop

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// apache starts the reference Apache (bench/apache.sh: /krb, /ntlm,
// /digest, /open) on a free port and returns its base URL.
func apache(t *testing.T, k testenv.KDC) string {
	t.Helper()
	testenv.LookPath(t, "apache2")
	if os.Geteuid() != 0 {
		testenv.Missing(t, "root (Apache runs its children as www-data)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	os.Chmod(dir, 0o755) // Apache's children (www-data) read under it
	os.Chmod(filepath.Dir(dir), 0o755)
	up := exec.Command("../bench/apache.sh", "up", dir, k.Keytab, fmt.Sprint(port))
	up.Env = append(os.Environ(), "KRB5_CONFIG="+k.Krb5Conf)
	if out, err := up.CombinedOutput(); err != nil {
		t.Fatalf("apache: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("../bench/apache.sh", "down", dir).Run() })
	return fmt.Sprintf("http://localhost:%d", port)
}

// get runs `gatehouse get` and returns stdout, stderr and whether it exited 0.
func get(t *testing.T, env []string, args ...string) (string, string, bool) {
	t.Helper()
	return gatehouse(t, env, append([]string{"get"}, args...)...)
}

// gatehouse runs the binary and returns stdout, stderr and whether it
// exited 0.
func gatehouse(t *testing.T, env []string, args ...string) (string, string, bool) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err == nil
}

func TestClientAgainstApache(t *testing.T) {
	k := testenv.NeedKDC(t)
	env := kinit(t, k)
	base := apache(t, k)
	if out, e, ok := get(t, env, "--negotiate", "--implicit-allow", "localhost", base+"/krb"); !ok || out != "ok\n" {
		t.Errorf("Kerberos to mod_auth_gssapi: %q %s", out, e)
	}
	if out, e, ok := get(t, nil, "--ntlm", "-u", `EXAMPLE\alice:alicepw`, base+"/ntlm"); !ok || out != "ok\n" {
		t.Errorf("NTLM to gss-ntlmssp: %q %s", out, e)
	}
	// NTLM inside SPNEGO, our mechListMIC checked by gss-ntlmssp
	if out, e, ok := get(t, nil, "--negotiate", "-u", `EXAMPLE\alice:alicepw`, base+"/ntlm"); !ok || out != "ok\n" {
		t.Errorf("NTLM in SPNEGO to gss-ntlmssp: %q %s", out, e)
	}
	if out, e, ok := get(t, nil, "--digest", "-u", "alice:alicepw", base+"/digest"); !ok || out != "ok\n" {
		t.Errorf("Digest to mod_auth_digest: %q %s", out, e)
	}
	if _, e, ok := get(t, nil, "--digest", "-u", "alice:wrong", base+"/digest"); ok || !strings.Contains(e, "401") {
		t.Errorf("wrong password: %s", e)
	}
	// implicit credentials never go to a host outside the allow list
	if _, e, ok := get(t, env, "--negotiate", base+"/krb"); ok || !strings.Contains(e, "implicit") {
		t.Errorf("implicit credentials to a non-allowed host: ok=%v %s", ok, e)
	}
}

func TestClientAgainstGatehouse(t *testing.T) {
	k := testenv.NeedKDC(t)
	env := kinit(t, k)
	dir := t.TempDir()
	addAccount(t, dir, "alice", "alicepw")
	s := serve(t, dir, `
state_dir: ./state
accounts: ./gatehouse.db
ntlm: {domain: EXAMPLE}
kerberos: {keytab: `+k.Keytab+`}
extended_protection: {enforcement: always}
listen: [{addr: 127.0.0.1:0}, {addr: 127.0.0.1:0, tls: {}}]
sites:
  - {path: /, auth: [negotiate, ntlm, digest, basic]}
`, 2)
	cert := filepath.Join(dir, "state", "server.crt")
	json := []string{"-H", "Accept: application/json"}
	// fully hardened HTTPS: our client must send channel bindings in both mechanisms
	out, e, ok := get(t, env, append([]string{"--negotiate", "--implicit-allow", "localhost", "--cacert", cert, s.HTTPS + "/"}, json...)...)
	if w := parseWhoami(t, out); !ok || w.Mechanism != "kerberos" || w.ChannelBinding != "verified" || *w.ServiceName != "HTTP/localhost" {
		t.Errorf("Kerberos: %s %s", out, e)
	}
	out, e, ok = get(t, nil, append([]string{"--ntlm", "-u", `EXAMPLE\alice:alicepw`, "--cacert", cert, s.HTTPS + "/"}, json...)...)
	if w := parseWhoami(t, out); !ok || w.Mechanism != "ntlm" || w.ChannelBinding != "verified" || w.ServiceName == nil || *w.ServiceName != "HTTP/localhost" {
		t.Errorf("NTLM: %s %s", out, e)
	}
	// plain HTTP: the SPN is checked instead
	out, e, ok = get(t, nil, append([]string{"--ntlm", "-u", `EXAMPLE\alice:alicepw`, s.HTTP + "/"}, json...)...)
	if w := parseWhoami(t, out); !ok || w.ServiceName == nil || *w.ServiceName != "HTTP/localhost" {
		t.Errorf("NTLM over HTTP: %s %s", out, e)
	}
	// --any picks the strongest offered scheme the credentials can do
	out, e, ok = get(t, nil, append([]string{"-u", `EXAMPLE\alice:alicepw`, s.HTTP + "/"}, json...)...)
	if w := parseWhoami(t, out); !ok || w.Scheme != "NTLM" {
		t.Errorf("--any: %s %s", out, e)
	}
	// a wrong SPN on the client side is refused by the server
	if _, e, ok := get(t, env, "--negotiate", "--implicit-allow", "localhost", "--spn", "HTTP/elsewhere", s.HTTP+"/"); ok {
		t.Errorf("ticket for HTTP/elsewhere accepted: %s", e)
	}
	// --json summary
	_, e, ok = get(t, nil, "--digest", "-u", "alice:alicepw", "--json", s.HTTP+"/")
	if !ok || !strings.Contains(e, `"scheme":"Digest"`) || !strings.Contains(e, `"status":200`) {
		t.Errorf("--json: %s", e)
	}
}

// TestClientMutualAuthFailure: a server that says 200 without proving it
// holds the service key fails the request.
func TestClientMutualAuthFailure(t *testing.T) {
	k := testenv.NeedKDC(t)
	env := kinit(t, k)
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			w.Header().Set("WWW-Authenticate", "Negotiate")
			w.WriteHeader(401)
			return
		}
		// accepts anything, and answers with a token that is not an AP-REP for this ticket
		w.Header().Set("WWW-Authenticate", "Negotiate oRQwEqADCgEAoQsGCSqGSIb3EgECAg==")
		fmt.Fprintln(w, "secret")
	}))
	defer fake.Close()
	u := strings.Replace(fake.URL, "127.0.0.1", "localhost", 1)
	out, e, ok := get(t, env, "--negotiate", "--implicit-allow", "localhost", u+"/")
	if ok || strings.Contains(out, "secret") || !strings.Contains(e, "mutual") {
		t.Errorf("a server failing mutual authentication was trusted: ok=%v out=%q err=%s", ok, out, e)
	}
}

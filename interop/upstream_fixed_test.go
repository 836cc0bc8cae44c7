package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// TestProxyFixedIdentityService: upstream_auth: service. The front
// Gatehouse reaches an upstream Gatehouse that takes only Negotiate as its
// own service account (HTTP/localhost, keys in its keytab), whatever the
// user logged in with: Digest and Kerberos users both get through, and the
// upstream's whoami names the service account. An upstream SPN the KDC does
// not know is a 502 with the reason in the log.
func TestProxyFixedIdentityService(t *testing.T) {
	k := testenv.NeedKDC(t)
	env := kinit(t, k)
	curl := testenv.LookPath(t, "curl")
	back := serve(t, t.TempDir(), `
state_dir: ./state
accounts: ./gatehouse.db
listen: [{addr: 127.0.0.1:0}]
kerberos: {keytab: `+k.OtherKeytab+`}
sites: [{path: /, auth: [negotiate]}]
`, 1)
	upstream := strings.Replace(back.HTTP, "localhost", "127.0.0.1", 1)
	dir := t.TempDir()
	addAccount(t, dir, "dora", "dora-pw")
	front := serve(t, dir, fmt.Sprintf(`
state_dir: ./state
accounts: ./gatehouse.db
listen: [{addr: 127.0.0.1:0}]
admin: {addr: 127.0.0.1:0}   # /metrics: the proxy at / owns every public path
kerberos: {keytab: %s, krb5_conf: %s, service_account: HTTP/localhost@%s}
sites:
  - {path: /, auth: [negotiate, digest], handler: proxy, upstream: %q, upstream_auth: service, upstream_spn: HTTP/elsewhere}
  - {path: /nowhere, auth: [digest], handler: proxy, upstream: %q, upstream_auth: service, upstream_spn: HTTP/no-such-service}
`, k.Keytab, k.Krb5Conf, k.Realm, upstream+"/whoami", upstream+"/whoami"), 1)
	for name, args := range map[string][]string{
		"digest":    {"--digest", "-u", "dora:dora-pw"},
		"negotiate": {"--negotiate", "-u", ":"},
	} {
		for i := 0; i < 2; i++ { // the second time, the cached service ticket
			out, err := run(t, env, curl, append([]string{"-sf", "-H", "Accept: application/json", front.HTTP + "/"}, args...)...)
			var got struct{ User, Scheme string }
			if err != nil || json.Unmarshal([]byte(out), &got) != nil || got.User != "HTTP/localhost@"+k.Realm || got.Scheme != "Negotiate" {
				t.Fatalf("%s user through upstream_auth: service: %v %q\n%s", name, err, out, front.log)
			}
		}
	}
	out, _ := run(t, env, curl, "-s", "-o", "/dev/null", "-w", "%{http_code}", "--digest", "-u", "dora:dora-pw", front.HTTP+"/nowhere/")
	if out != "502" {
		t.Fatalf("an SPN the KDC does not know: %s", out)
	}
	if l := front.waitLog(func(l string) bool { return strings.Contains(l, "no-such-service") }); !strings.Contains(l, "no credentials for the upstream") {
		t.Errorf("the refusal is not logged:\n%s", l)
	}
	metrics, _ := run(t, nil, curl, "-s", front.admin(t)+"/metrics")
	if !strings.Contains(metrics, `gatehouse_upstream_auth_total{mode="service",outcome="ok",upstream="`+strings.TrimPrefix(upstream, "http://")+`"} 4`) {
		t.Errorf("metrics:\n%s", metrics)
	}
}

// TestProxyFixedIdentityCredentials: upstream_auth: credentials, one
// configured account from a 0600 file, through the client code of gatehouse
// get: Apache's mod_auth_digest, and gss-ntlmssp (NTLM only, on a kept
// upstream connection). A wrong password is a 502 and one log line without
// the password; a file others can read stops the server at start.
func TestProxyFixedIdentityCredentials(t *testing.T) {
	k := testenv.NeedKDC(t)
	curl := testenv.LookPath(t, "curl")
	apacheURL := strings.Replace(apache(t, k), "localhost", "127.0.0.1", 1)
	users := filepath.Join(t.TempDir(), "users")
	os.WriteFile(users, []byte("EXAMPLE:alice:alicepw\n"), 0o600)
	ntlmURL := "http://127.0.0.1:" + gssHTTP(t, []string{"NTLM_USER_FILE=" + users}, "server", "NTLM")

	front := func(t *testing.T, upstream, user, pw string, mode os.FileMode) (*instance, string) {
		dir := t.TempDir()
		addAccount(t, dir, "dora", "dora-pw")
		cred := filepath.Join(dir, "app.cred")
		os.WriteFile(cred, []byte(user+"\n"+pw+"\n"), mode)
		os.Chmod(cred, mode)
		cfg := fmt.Sprintf(`
state_dir: ./state
accounts: ./gatehouse.db
listen: [{addr: 127.0.0.1:0}]
sites:
  - {path: /, auth: [anonymous], handler: proxy, upstream: %q, upstream_auth: credentials, upstream_credentials: ./app.cred}
  - {path: /as-dora, auth: [basic], basic_over_http: true, handler: proxy, upstream: %q, upstream_auth: credentials, upstream_credentials: ./app.cred}
`, upstream, upstream)
		if mode&0o077 != 0 {
			os.WriteFile(filepath.Join(dir, "gatehouse.yaml"), []byte(cfg), 0o600)
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "serve", "--config", "gatehouse.yaml")
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			return nil, fmt.Sprintf("%v: %s", err, out)
		}
		return serve(t, dir, cfg, 1), ""
	}
	t.Run("digest to Apache", func(t *testing.T) {
		f, _ := front(t, apacheURL, "alice", "alicepw", 0o600)
		for i := 0; i < 3; i++ {
			if out, err := run(t, nil, curl, "-sf", f.HTTP+"/digest"); err != nil || out != "ok\n" {
				t.Fatalf("request %d: %v %q\n%s", i, err, out, f.log)
			}
		}
	})
	t.Run("NTLM to gss-ntlmssp", func(t *testing.T) {
		f, _ := front(t, ntlmURL, `EXAMPLE\alice`, "alicepw", 0o600)
		for i := 0; i < 3; i++ {
			out, err := run(t, nil, curl, "-sf", f.HTTP+"/")
			if err != nil || !strings.Contains(strings.ToLower(out), "alice") {
				t.Fatalf("request %d: %v %q\n%s", i, err, out, f.log)
			}
		}
		// dora logs in at the front; the upstream authenticates alice (the
		// fixed identity) and is told, in X-Remote-User, on whose behalf.
		out, err := run(t, nil, curl, "-sf", "-u", "dora:dora-pw", f.HTTP+"/as-dora/")
		var got struct {
			User       string `json:"user"`
			RemoteUser string `json:"remote_user"`
		}
		if err != nil || json.Unmarshal([]byte(out), &got) != nil || !strings.Contains(strings.ToLower(got.User), "alice") || !strings.HasPrefix(got.RemoteUser, "dora") {
			t.Fatalf("the user's identity beside the fixed one: %v %q\n%s", err, out, f.log)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		f, _ := front(t, apacheURL, "alice", "Wrong-pw-123", 0o600)
		out, _ := run(t, nil, curl, "-s", "-o", "/dev/null", "-w", "%{http_code}", f.HTTP+"/digest")
		if out != "502" {
			t.Fatalf("wrong password: %s\n%s", out, f.log)
		}
		l := f.waitLog(func(l string) bool { return strings.Contains(l, "refused the configured credentials") })
		if !strings.Contains(l, "refused the configured credentials") || strings.Contains(l, "Wrong-pw-123") {
			t.Errorf("log:\n%s", l)
		}
	})
	t.Run("readable file", func(t *testing.T) {
		_, out := front(t, apacheURL, "alice", "alicepw", 0o644)
		if !strings.Contains(out, "chmod 600") || strings.Contains(out, "alicepw") {
			t.Errorf("a credentials file others can read: %s", out)
		}
	})
}

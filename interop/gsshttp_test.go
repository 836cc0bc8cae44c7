package interop

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// gssHTTP starts testdata/gsshttp.py (python-gssapi's acceptor behind a
// small HTTP server or proxy: MIT krb5 for Negotiate, gss-ntlmssp for
// NTLM) and returns its port. tlsFiles, when given, are a certificate and
// key: it serves HTTPS and refuses channel bindings other than theirs.
func gssHTTP(t *testing.T, env []string, mode, scheme string, tlsFiles ...string) string {
	t.Helper()
	py := testenv.File(t, "/usr/bin/python3", "Debian's python3 (python3-gssapi)")
	if scheme == "NTLM" {
		testenv.File(t, "/usr/lib/x86_64-linux-gnu/gssntlmssp/gssntlmssp.so", "gss-ntlmssp (Debian package)")
	}
	args := []string{"testdata/gsshttp.py", mode, scheme}
	if len(tlsFiles) == 2 {
		args = append(args, "--tls", tlsFiles[0], tlsFiles[1])
	}
	cmd := exec.Command(py, args...)
	cmd.Env = append(os.Environ(), env...)
	out, _ := cmd.StdoutPipe()
	log := &syncBuffer{mu: make(chan struct{}, 1)}
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("gsshttp.py log:\n%s", log.String())
		}
	})
	port := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "PORT "); ok {
				port <- p
			}
		}
		close(port)
	}()
	select {
	case p, ok := <-port:
		if !ok {
			t.Fatalf("gsshttp.py exited:\n%s", log.String())
		}
		return p
	case <-time.After(20 * time.Second):
		t.Fatalf("gsshttp.py did not start:\n%s", log.String())
	}
	return ""
}

// selfSigned writes a self-signed ECDSA P-256 / SHA-256 certificate for
// localhost and its key, and returns their paths.
func selfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(k)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}

type gssInfo struct {
	User          string `json:"user"`
	Delegated     bool   `json:"delegated"`
	DelegationUse string `json:"delegation_use"`
}

// TestClientDelegationToMIT: `gatehouse get --delegation` hands MIT's
// acceptor a forwarded TGT it can use (it gets a ticket for HTTP/elsewhere
// with it), for every credential source, and only when the policy says so.
func TestClientDelegationToMIT(t *testing.T) {
	k := testenv.NeedKDC(t)
	env := kinit(t, k) // forwardable: krb5.conf says forwardable = true
	kt := []string{"KRB5_CONFIG=" + k.Krb5Conf, "KRB5_KTNAME=" + k.Keytab}
	local := "http://localhost:" + gssHTTP(t, kt, "server", "Negotiate") + "/"
	// HTTP/elsewhere is marked ok-as-delegate by the KDC (scripts/kdc-up.sh).
	okt := []string{"KRB5_CONFIG=" + k.Krb5Conf, "KRB5_KTNAME=" + k.OtherKeytab}
	trusted := "http://localhost:" + gssHTTP(t, okt, "server", "Negotiate") + "/"
	for _, c := range []struct {
		name  string
		env   []string
		args  []string
		deleg bool
	}{
		{"ccache, none", env, []string{"--delegation", "none", local}, false},
		{"ccache, always", env, []string{"--delegation", "always", local}, true},
		{"ccache, policy, not ok-as-delegate", env, []string{"--delegation", "policy", local}, false},
		{"ccache, policy, ok-as-delegate", env, []string{"--delegation", "policy", "--spn", "HTTP/elsewhere", trusted}, true},
		{"password, always", []string{"KRB5_CONFIG=" + k.Krb5Conf, "KRB5CCNAME=FILE:" + filepath.Join(t.TempDir(), "none")},
			[]string{"-u", k.User + "@" + k.Realm + ":" + k.Password, "--delegation", "always", local}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, e, ok := get(t, c.env, append([]string{"--negotiate", "--implicit-allow", "localhost"}, c.args...)...)
			var got gssInfo
			if !ok || json.Unmarshal([]byte(out), &got) != nil {
				t.Fatalf("%q %s", out, e)
			}
			if got.User != k.User+"@"+k.Realm || got.Delegated != c.deleg {
				t.Fatalf("MIT saw %+v, want delegated=%v", got, c.deleg)
			}
			if c.deleg && got.DelegationUse != "ok" {
				t.Fatalf("the delegated TGT does not work for MIT: %s", got.DelegationUse)
			}
		})
	}
	// A TGT that is not forwardable: the request still succeeds, without
	// delegation, and -v says why.
	nf := kinitArgs(t, k, "-F")
	out, e, ok := get(t, nf, "-v", "--negotiate", "--implicit-allow", "localhost", "--delegation", "always", local)
	var got gssInfo
	if !ok || json.Unmarshal([]byte(out), &got) != nil || got.Delegated || !strings.Contains(e, "not delegating") {
		t.Fatalf("non-forwardable TGT: %q %s", out, e)
	}
}

// kinitArgs is kinit with extra options (-F: not forwardable).
func kinitArgs(t *testing.T, k testenv.KDC, args ...string) []string {
	t.Helper()
	kinitBin := testenv.LookPath(t, "kinit")
	cc := "FILE:" + filepath.Join(t.TempDir(), "cc")
	env := []string{"KRB5_CONFIG=" + k.Krb5Conf, "KRB5CCNAME=" + cc, "KRB5RCACHEDIR=" + t.TempDir()}
	cmd := exec.Command(kinitBin, append(args, k.User)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(k.Password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kinit: %v\n%s", err, out)
	}
	return env
}

// TestClientDelegationToGatehouse: Gatehouse's acceptor decodes the
// delegated TGT of our client and of curl (MIT), and whoami says so.
func TestClientDelegationToGatehouse(t *testing.T) {
	k := testenv.NeedKDC(t)
	env := kinit(t, k)
	srv := kerberosServer(t, k)
	u := strings.Replace(srv.HTTP, "127.0.0.1", "localhost", 1) + "/whoami"
	for _, d := range []string{"none", "always"} {
		out, e, ok := get(t, env, "--negotiate", "--implicit-allow", "localhost", "--delegation", d, "-H", "Accept: application/json", u)
		w := parseWhoami(t, out)
		if !ok || w.Delegated != (d == "always") {
			t.Errorf("--delegation %s: %q %s", d, out, e)
		}
	}
	curl := testenv.LookPath(t, "curl")
	cmd := exec.Command(curl, "-sf", "--negotiate", "-u", ":", "--delegation", "always", "-H", "Accept: application/json", u)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if w := parseWhoami(t, string(out)); err != nil || !w.Delegated {
		t.Errorf("curl --delegation always: %v %s", err, out)
	}
}

// TestClientNTLMAgainstGSSNTLMSSP: our NTLM initiator against
// gss-ntlmssp's acceptor behind HTTPS, given the channel bindings; a TLS
// relay (another certificate) is refused. gss-ntlmssp admits a client that
// sends no bindings, so the refused relay is what proves ours are sent,
// and the direct login that they are right.
func TestClientNTLMAgainstGSSNTLMSSP(t *testing.T) {
	users := filepath.Join(t.TempDir(), "users")
	os.WriteFile(users, []byte("EXAMPLE:alice:alicepw\n"), 0o600)
	cert, key := selfSigned(t)
	port := gssHTTP(t, []string{"NTLM_USER_FILE=" + users}, "server", "NTLM", cert, key)
	u := "https://localhost:" + port + "/"
	out, e, ok := get(t, nil, "--ntlm", "-k", "-u", `EXAMPLE\alice:alicepw`, u)
	var got gssInfo
	if !ok || json.Unmarshal([]byte(out), &got) != nil || !strings.Contains(strings.ToLower(got.User), "alice") {
		t.Fatalf("gss-ntlmssp with channel bindings: %q %s", out, e)
	}
	if _, e, ok := get(t, nil, "--ntlm", "-k", "-u", `EXAMPLE\alice:wrong`, u); ok {
		t.Fatalf("wrong password accepted: %s", e)
	}
	// Implicit credentials from the same NTLM_USER_FILE gss-ntlmssp reads,
	// only for an allowed host.
	implicit := []string{"NTLM_USER_FILE=" + users, "NTLMUSER=alice"}
	if out, e, ok := get(t, implicit, "--ntlm", "-k", "--implicit-allow", "localhost", u); !ok || !strings.Contains(out, "alice") {
		t.Fatalf("implicit NTLM credentials: %q %s", out, e)
	}
	if out, e, ok := get(t, implicit, "--ntlm", "-k", u); ok || !strings.Contains(e, "implicit-allow") {
		t.Fatalf("implicit NTLM credentials sent to a host not allowed: %q %s", out, e)
	}
	// Through a relay with its own certificate, our bindings name the
	// relay's certificate: gss-ntlmssp must refuse.
	r, _ := relay(t, u, true)
	if out, e, ok := get(t, nil, "--ntlm", "-k", "-u", `EXAMPLE\alice:alicepw`, r+"/"); ok {
		t.Fatalf("relayed NTLM accepted by gss-ntlmssp: %q %s", out, e)
	}
}

// TestClientThroughNTLMProxy: multi-leg NTLM answered on the CONNECT
// connection of a proxy whose acceptor is gss-ntlmssp, then the TLS
// tunnel to the server; and on plain HTTP through the same proxy.
func TestClientThroughNTLMProxy(t *testing.T) {
	users := filepath.Join(t.TempDir(), "users")
	os.WriteFile(users, []byte("EXAMPLE:alice:alicepw\n"), 0o600)
	proxy := "http://127.0.0.1:" + gssHTTP(t, []string{"NTLM_USER_FILE=" + users}, "proxy", "NTLM")
	srv := serve(t, t.TempDir(), `
state_dir: ./state
accounts: ./gatehouse.db
listen:
  - addr: 127.0.0.1:0
  - addr: 127.0.0.1:0
    tls: {}
sites:
  - path: /
    auth: [anonymous]
`, 2)
	for _, u := range []string{srv.HTTPS + "/whoami", srv.HTTP + "/whoami"} {
		out, e, ok := get(t, nil, "-k", "-x", proxy, "--proxy-ntlm", "-U", `EXAMPLE\alice:alicepw`, "-H", "Accept: application/json", u)
		if !ok || parseWhoami(t, out).Scheme != "Anonymous" {
			t.Errorf("%s through the NTLM proxy: %q %s", u, out, e)
		}
		if out, e, ok := get(t, nil, "-k", "-x", proxy, "--proxy-ntlm", "-U", `EXAMPLE\alice:wrong`, u); ok {
			t.Errorf("%s: proxy accepted a wrong password: %q %s", u, out, e)
		}
		// --cred proxy:ntlm:USER, the password from --password-file
		pw := filepath.Join(t.TempDir(), "pw")
		os.WriteFile(pw, []byte("alicepw\n"), 0o600)
		args := []string{"-k", "-x", proxy, "--cred", `proxy:ntlm:EXAMPLE\alice`, "--password-file", pw, "-H", "Accept: application/json"}
		if out, e, ok := get(t, nil, append(args, u)...); !ok || parseWhoami(t, out).Scheme != "Anonymous" {
			t.Errorf("%s through the NTLM proxy with --cred: %q %s", u, out, e)
		}
	}
}

// TestClientStoresServiceTickets: like MIT's library, `gatehouse get`
// adds the service ticket it got to the FILE ccache; klist and curl read
// the result, and the next run takes the ticket from there.
func TestClientStoresServiceTickets(t *testing.T) {
	k := testenv.NeedKDC(t)
	env := kinit(t, k)
	srv := kerberosServer(t, k)
	u := strings.Replace(srv.HTTP, "127.0.0.1", "localhost", 1) + "/whoami"
	klist := testenv.LookPath(t, "klist")
	list := func() string {
		cmd := exec.Command(klist, "-f")
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("klist cannot read the ccache we wrote: %v\n%s", err, out)
		}
		return string(out)
	}
	if strings.Contains(list(), "HTTP/localhost") {
		t.Fatal("service ticket before any request")
	}
	_, e, ok := get(t, env, "-v", "--negotiate", "--implicit-allow", "localhost", u)
	if !ok || !strings.Contains(e, "stored in the ccache") {
		t.Fatalf("first run: %s", e)
	}
	if l := list(); strings.Count(l, "HTTP/localhost@"+k.Realm) != 1 {
		t.Fatalf("klist after the first run:\n%s", l)
	}
	_, e, ok = get(t, env, "-v", "--negotiate", "--implicit-allow", "localhost", u)
	if !ok || strings.Contains(e, "stored in the ccache") {
		t.Fatalf("second run did not use the stored ticket: %s", e)
	}
	curl := testenv.LookPath(t, "curl")
	cmd := exec.Command(curl, "-sf", "--negotiate", "-u", ":", u)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("curl with the ccache we wrote: %v %s", err, out)
	}
	if l := list(); strings.Count(l, "HTTP/localhost@"+k.Realm) != 1 {
		t.Fatalf("curl did not find our ticket (it added its own):\n%s", l)
	}
}

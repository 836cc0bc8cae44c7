package interop

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
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

// The daemon's life cycle and operations, against the real binary and curl.

// TestAuthorizationInheritanceCurl: a child site without rules inherits its
// parent's; a site's own rules come first; the top-level authorization:
// applies to every site last (ASP.NET's order).
func TestAuthorizationInheritanceCurl(t *testing.T) {
	dir := t.TempDir()
	addAccount(t, dir, "alice", "alicepw", "Admins")
	addAccount(t, dir, "bob", "bobpw")
	s := serve(t, dir, `
state_dir: ./state
accounts: ./gatehouse.db
listen: [{addr: 127.0.0.1:0}]
authorization:
  - deny: {users: ["?"]}
sites:
  - {path: /, auth: [anonymous, digest]}
  - path: /admin
    auth: [digest]
    authorization:
      - allow: {roles: [Admins]}
      - deny: {users: ["*"]}
  - {path: /admin/reports, auth: [digest]}
  - path: /admin/bob
    auth: [digest]
    authorization: [{allow: {users: [bob]}}]
  - path: /public
    auth: [anonymous]
    authorization: [{allow: {users: ["?"]}}]
`, 1)
	for _, c := range []struct{ path, user, want string }{
		{"/", "", "401"},                   // top-level: no anonymous
		{"/", "bob", "200"},                // top-level only denies anonymous
		{"/admin", "bob", "403"},           // the site's own rules
		{"/admin", "alice", "200"},         // Admins
		{"/admin/reports", "bob", "403"},   // no rules of its own: /admin's
		{"/admin/reports", "alice", "200"}, // inherited allow
		{"/admin/bob", "bob", "200"},       // own rule before the parent's deny
		{"/admin/bob", "alice", "200"},     // then the parent's allow
		{"/public/x", "", "200"},           // own allow before the top-level deny
	} {
		args := []string{s.HTTP + c.path}
		if c.user != "" {
			args = append([]string{"--digest", "-u", c.user + ":" + c.user + "pw"}, args...)
		}
		if got := curlCode(t, args...); got != c.want {
			t.Errorf("%s as %q: %s, want %s", c.path, c.user, got, c.want)
		}
	}
	// the 403 page says who was refused; the 401 page what to do
	curl := testenv.LookPath(t, "curl")
	out, _ := run(t, nil, curl, "-s", "--digest", "-u", "bob:bobpw", s.HTTP+"/admin/reports")
	if !strings.Contains(out, "Access denied") || !strings.Contains(out, `<td id="user">bob</td>`) {
		t.Errorf("403 page:\n%s", out)
	}
	out, _ = run(t, nil, curl, "-s", s.HTTP+"/admin")
	if !strings.Contains(out, "Sign-in required") || !strings.Contains(out, "Digest") {
		t.Errorf("401 page:\n%s", out)
	}
}

// ghCheck runs serve --check and returns its output and exit code.
func ghCheck(t *testing.T, dir, cfg string) (string, int) {
	t.Helper()
	p := filepath.Join(dir, "check.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := gh(t, dir, "", "serve", "--config", p, "--check")
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out, code
}

func TestServeCheck(t *testing.T) {
	k := testenv.NeedKDC(t)
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "www"), 0o755)
	good := `
state_dir: ./state
accounts: ./gatehouse.db
listen:
  - addr: 127.0.0.1:0
  - {addr: 127.0.0.1:0, tls: {}}
kerberos: {keytab: ` + k.Keytab + `}
sites:
  - {path: /, auth: [anonymous], handler: static, root: ./www}
  - {path: /whoami, auth: [negotiate, ntlm, digest, basic]}
`
	out, code := ghCheck(t, dir, good)
	if code != 0 || strings.TrimSpace(out) != "configuration ok" {
		t.Fatalf("good config: exit %d\n%s", code, out)
	}
	// --check creates nothing
	for _, p := range []string{"state", "gatehouse.db"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
			t.Errorf("--check created %s", p)
		}
	}
	writeFile(t, dir, "bad.keytab", "not a keytab")
	bad := `
state_dir: ./state
accounts: ./gatehouse.db
listen:
  - {addr: 127.0.0.1:0, tls: {cert: ./missing.crt, key: ./missing.key}}
kerberos: {keytab: ./bad.keytab}
sites:
  - {path: /, auth: [anonymous], handler: static, root: ./nowhere}
`
	out, code = ghCheck(t, dir, bad)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 1 || len(lines) != 3 {
		t.Fatalf("bad config: exit %d, want 1 and three lines:\n%s", code, out)
	}
	for i, want := range []string{"listen[0] (127.0.0.1:0).tls: cert " + filepath.Join(dir, "missing.crt"), "kerberos.keytab " + filepath.Join(dir, "bad.keytab"), "sites[0] (/).root"} {
		if !strings.HasPrefix(lines[i], want) {
			t.Errorf("line %d: %q, want it to start with %q", i, lines[i], want)
		}
	}
	// serve refuses the missing root at start
	writeFile(t, dir, "noroot.yaml", "listen: [{addr: 127.0.0.1:0}]\nsites: [{path: /, auth: [anonymous], handler: static, root: ./nowhere}]\n")
	if out, err := gh(t, dir, "", "serve", "--config", filepath.Join(dir, "noroot.yaml")); err == nil || !strings.Contains(out, "sites[0] (/).root") {
		t.Errorf("serve with a missing root: %v\n%s", err, out)
	}
	// config errors: one line each, every one of them
	out, code = ghCheck(t, dir, "listen: [{addr: nope}]\nsites: []\n")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); code != 1 || len(lines) != 2 ||
		!strings.Contains(lines[0], "listen[0].addr") || !strings.Contains(lines[1], "sites:") {
		t.Errorf("invalid config: exit %d\n%s", code, out)
	}
	two := "listen: [{addr: 127.0.0.1:0}]\nsites: [{path: /, auth: [anonymous]}]\nkerberos: {replay_cache_entries: 5}\nsession_revalidate: 48h\n"
	out, code = ghCheck(t, dir, two)
	if lines := strings.Split(strings.TrimSpace(out), "\n"); code != 1 || len(lines) != 2 ||
		!strings.Contains(lines[0], "kerberos.replay_cache_entries: 5 ") || !strings.Contains(lines[1], "session_revalidate: 48h0m0s ") {
		t.Errorf("two problems: exit %d\n%s", code, out)
	}
	// serve without --check refuses to start, with both
	writeFile(t, dir, "two.yaml", two)
	out, err := gh(t, dir, "", "serve", "--config", filepath.Join(dir, "two.yaml"))
	if lines := strings.Split(strings.TrimSpace(out), "\n"); err == nil || len(lines) != 2 ||
		!strings.HasPrefix(lines[0], "gatehouse serve: config: invalid: ") || !strings.Contains(lines[0], "replay_cache_entries") ||
		!strings.HasPrefix(lines[1], "gatehouse serve: config: invalid: ") || !strings.Contains(lines[1], "session_revalidate") {
		t.Errorf("serve with two problems: %v\n%s", err, out)
	}
}

// TestAdminListener: with admin:, /metrics, /healthz and /readyz are there
// and not on the public listeners; without it they are served by a whoami
// site after its login, never in place of a proxy's or static site's paths.
func TestAdminListener(t *testing.T) {
	dir := t.TempDir()
	addAccount(t, dir, "alice", "alicepw")
	os.Mkdir(filepath.Join(dir, "www"), 0o755)
	writeFile(t, dir, "www/metrics", "the app's own /metrics")
	s := serve(t, dir, `
state_dir: ./state
accounts: ./gatehouse.db
listen: [{addr: 127.0.0.1:0}]
admin: {addr: 127.0.0.1:0}
sites:
  - {path: /, auth: [anonymous]}
`, 1)
	admin := s.admin(t)
	curl := testenv.LookPath(t, "curl")
	for _, p := range []string{"/healthz", "/readyz"} {
		if c := curlCode(t, admin+p); c != "200" {
			t.Errorf("admin %s: %s", p, c)
		}
	}
	if m, _ := run(t, nil, curl, "-s", admin+"/metrics"); !strings.Contains(m, "go_goroutines") {
		t.Errorf("admin /metrics:\n%.300s", m)
	}
	if m, _ := run(t, nil, curl, "-s", s.HTTP+"/metrics"); strings.Contains(m, "go_goroutines") {
		t.Errorf("public /metrics served metrics with an admin listener")
	}
	if c := curlCode(t, admin+"/whoami"); c != "404" {
		t.Errorf("admin /whoami: %s", c)
	}

	// no admin listener: the whoami site's login applies; a static site's
	// own file wins
	s2 := serve(t, dir, `
state_dir: ./state
accounts: ./gatehouse.db
listen: [{addr: 127.0.0.1:0}]
sites:
  - {path: /, auth: [digest]}
  - {path: /app, auth: [anonymous], handler: static, root: ./www}
`, 1)
	if c := curlCode(t, s2.HTTP+"/metrics"); c != "401" {
		t.Errorf("/metrics behind /'s login: %s", c)
	}
	if m, _ := run(t, nil, curl, "-s", "--digest", "-u", "alice:alicepw", s2.HTTP+"/metrics"); !strings.Contains(m, "gatehouse_auth_attempts_total") {
		t.Errorf("/metrics after login:\n%.300s", m)
	}
	if m, _ := run(t, nil, curl, "-s", s2.HTTP+"/app/metrics"); m != "the app's own /metrics" {
		t.Errorf("/app/metrics: %q", m)
	}
}

// TestAccessLog: one line per request, with the user and scheme, for
// every scheme; JSON when the log is JSON.
func TestAccessLog(t *testing.T) {
	k := testenv.NeedKDC(t)
	curl := testenv.LookPath(t, "curl")
	dir := t.TempDir()
	addAccount(t, dir, "alice", "alicepw")
	// a client CA and carol's certificate (CN only: the user name is the CN)
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Access CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	ca, _ := x509.ParseCertificate(caDER)
	userKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	userDER, _ := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "carol"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca, &userKey.PublicKey, caKey)
	userKeyDER, _ := x509.MarshalPKCS8PrivateKey(userKey)
	writeFile(t, dir, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})))
	carolCrt := writeFile(t, dir, "carol.crt", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: userDER})))
	carolKey := writeFile(t, dir, "carol.key", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: userKeyDER})))
	s := serve(t, dir, `
state_dir: ./state
accounts: ./gatehouse.db
log: {format: json, access: true}
listen:
  - addr: 127.0.0.1:0
  - {addr: 127.0.0.1:0, tls: {}, client_certs: optional, client_ca: ./ca.pem}
kerberos: {keytab: `+k.Keytab+`}
sites:
  - {path: /, auth: [anonymous]}
  - {path: /whoami, auth: [negotiate, ntlm, digest, basic]}
  - {path: /cert, auth: [certificate]}
`, 2)
	env := kinit(t, k)
	for _, c := range []struct {
		scheme string
		args   []string
	}{
		{"Anonymous", []string{s.HTTP + "/"}},
		{"Basic", []string{"-k", "--basic", "-u", "alice:alicepw", s.HTTPS + "/whoami?basic"}},
		{"Digest", []string{"--digest", "-u", "alice:alicepw", s.HTTP + "/whoami?digest"}},
		{"NTLM", []string{"--ntlm", "-u", "alice:alicepw", s.HTTP + "/whoami?ntlm"}},
		{"Negotiate", []string{"--negotiate", "-u", ":", s.HTTP + "/whoami?negotiate"}},
		{"Certificate", []string{"-k", "--cert", carolCrt, "--key", carolKey, s.HTTPS + "/cert"}},
	} {
		if out, err := run(t, env, curl, append([]string{"-sf", "-o", "/dev/null"}, c.args...)...); err != nil {
			t.Fatalf("%s: %v %s", c.scheme, err, out)
		}
	}
	// the requests ran one after another: the last one's line comes last
	l := s.waitLog(func(l string) bool { return strings.Contains(l, `"scheme":"Certificate"`) })
	var got []string
	for _, line := range strings.Split(l, "\n") {
		if strings.Contains(line, `"msg":"access"`) {
			var e struct {
				Client, User, Scheme, Method, Path string
				Status                             int
				Bytes                              int64
				Duration                           any
			}
			if err := jsonUnmarshal(line, &e); err != nil {
				t.Fatalf("%v: %s", err, line)
			}
			if e.Client != "127.0.0.1" || e.Method != "GET" || e.Duration == nil {
				t.Errorf("access line: %s", line)
			}
			if e.Status == 200 {
				if e.Bytes == 0 {
					t.Errorf("no bytes: %s", line)
				}
				got = append(got, e.Scheme+" "+e.User)
			}
		}
	}
	want := "Anonymous ,Basic alice,Digest alice,NTLM alice,Negotiate alice@EXAMPLE.TEST,Certificate carol"
	if strings.Join(got, ",") != want {
		t.Errorf("access log 200s: %q, want %q\n%s", strings.Join(got, ","), want, l)
	}
	if !strings.Contains(l, `"status":401`) {
		t.Errorf("no 401 logged:\n%s", l)
	}
}

// TestReloadKeepsDownloadInFlight: SIGHUP adds a site and a listener while
// a slow download runs; the download completes, the new site answers, the
// listener that went away is closed; a broken config on SIGHUP leaves the
// running one.
func TestReloadKeepsDownloadInFlight(t *testing.T) {
	curl := testenv.LookPath(t, "curl")
	dir := t.TempDir()
	big := make([]byte, 3<<20)
	for i := range big {
		big[i] = byte(i)
	}
	if err := os.MkdirAll(filepath.Join(dir, "www"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "www", "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	const base = `
state_dir: ./state
accounts: ./gatehouse.db
listen:
  - addr: 127.0.0.1:0
%s
sites:
  - {path: /, auth: [anonymous], handler: static, root: ./www}
%s`
	s := serve(t, dir, fmt.Sprintf(base, "  - addr: 127.0.0.1:0", ""), 2)
	m := listenRE.FindAllStringSubmatch(s.log.String(), -1)
	if len(m) != 2 {
		t.Fatalf("listeners: %v", m)
	}
	// the first stays across the reload, the second goes
	gone := "http://" + m[1][2]
	s.HTTP = "http://" + m[0][2]
	// the download, at 1 MB/s: three seconds in flight
	out := filepath.Join(dir, "got.bin")
	dl := exec.Command(curl, "-sf", "--limit-rate", "1M", "-o", out, s.HTTP+"/big.bin")
	if err := dl.Start(); err != nil {
		t.Fatal(err)
	}
	waitNonEmpty(t, out)
	cfgPath := filepath.Join(dir, "gatehouse.yaml")
	next := fmt.Sprintf(base, "", "  - {path: /new, auth: [anonymous]}\n")
	// a broken config first: kept out, logged
	if err := os.WriteFile(cfgPath, []byte(next+"  - {path: /broken, auth: [nonsense]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.cmd.Process.Signal(syscall.SIGHUP)
	l := s.waitLog(func(l string) bool { return strings.Contains(l, "reload failed") })
	if !strings.Contains(l, "reload failed") || !strings.Contains(l, "nonsense") {
		t.Fatalf("broken config on SIGHUP not logged:\n%s", l)
	}
	if c := curlCode(t, s.HTTP+"/new"); c != "404" {
		t.Errorf("/new after the broken reload: %s", c)
	}
	// then the good one: /new appears, the second listener goes
	if err := os.WriteFile(cfgPath, []byte(next), 0o600); err != nil {
		t.Fatal(err)
	}
	s.cmd.Process.Signal(syscall.SIGHUP)
	l = s.waitLog(func(l string) bool { return strings.Contains(l, "configuration reloaded") })
	if !strings.Contains(l, "configuration reloaded") {
		t.Fatalf("no reload:\n%s", l)
	}
	if c := curlCode(t, "-H", "Accept: application/json", s.HTTP+"/new"); c != "200" {
		t.Errorf("/new after the reload: %s", c)
	}
	s.waitLog(func(l string) bool { return strings.Contains(l, "stopped listening") })
	if c := curlCode(t, gone+"/"); c != "000" {
		t.Errorf("the listener removed by the reload still answers: %s", c)
	}
	if err := dl.Wait(); err != nil {
		t.Fatalf("the download in flight failed across the reload: %v", err)
	}
	if got, _ := os.ReadFile(out); len(got) != len(big) || string(got) != string(big) {
		t.Fatalf("download: %d bytes, want %d", len(got), len(big))
	}
}

func waitNonEmpty(t *testing.T, p string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if st, err := os.Stat(p); err == nil && st.Size() > 0 {
			return
		}
	}
	t.Fatalf("%s did not appear", p)
}

// TestKeytabRotation: kadmin.local ktadd gives the service a new key
// (kvno+1) in the keytab; a new ticket, for the new kvno, is accepted
// without a restart or a signal. The principal is this test's own, so
// HTTP/localhost, which other tests use, keeps its key.
func TestKeytabRotation(t *testing.T) {
	k := testenv.NeedKDC(t)
	curl := testenv.LookPath(t, "curl")
	kadmin := testenv.LookPath(t, "kadmin.local")
	const spn = "HTTP/rotate.localhost"
	dir := t.TempDir()
	ktPath := filepath.Join(dir, "rotate.keytab")
	kadm := func(q string) string {
		cmd := exec.Command(kadmin, "-r", k.Realm, "-q", q)
		cmd.Env = append(os.Environ(), "KRB5_CONFIG="+k.Krb5Conf, "KRB5_KDC_PROFILE="+filepath.Join(k.Dir, "kdc.conf"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kadmin.local %s: %v\n%s", q, err, out)
		}
		return string(out)
	}
	if out := kadm("getprinc " + spn); strings.Contains(out, "does not exist") {
		kadm("addprinc -randkey " + spn)
	}
	kadm("ktadd -k " + ktPath + " " + spn)
	os.Chmod(ktPath, 0o600)
	s := serve(t, dir, `
state_dir: ./state
accounts: ./gatehouse.db
listen: [{addr: 127.0.0.1:0}]
kerberos: {keytab: ./rotate.keytab}
sites: [{path: /, auth: [negotiate]}]
`, 1)
	port := s.HTTP[strings.LastIndex(s.HTTP, ":")+1:]
	url := "http://rotate.localhost:" + port + "/"
	get := func() (string, error) {
		env := kinit(t, k) // a fresh ccache: a ticket for the current kvno
		return run(t, env, curl, "-sf", "--negotiate", "-u", ":", "-H", "Accept: application/json", url)
	}
	if out, err := get(); err != nil || parseWhoami(t, out).User != "alice@EXAMPLE.TEST" {
		t.Fatalf("before the rotation: %v %s", err, out)
	}
	kadm("ktadd -k " + ktPath + " " + spn) // new random key, kvno+1, appended
	l := s.waitLog(func(l string) bool {
		return strings.Contains(l, "keytab changed") && strings.Contains(l, "configuration reloaded")
	})
	if !strings.Contains(l, "configuration reloaded") {
		t.Fatalf("the rotated keytab was not picked up:\n%s", l)
	}
	if out, err := get(); err != nil || parseWhoami(t, out).User != "alice@EXAMPLE.TEST" {
		t.Fatalf("after the rotation: %v %s\n%s", err, out, s.log)
	}
}

// TestHelpEverywhere: --help on every command and subcommand prints usage
// with an example and exits 0.
func TestHelpEverywhere(t *testing.T) {
	for _, args := range [][]string{
		{"--help"}, {"help"}, {"-h"},
		{"serve", "--help"}, {"version", "--help"},
		{"accounts", "--help"}, {"accounts", "add", "--help"}, {"accounts", "passwd", "-h"},
		{"accounts", "del", "--help"}, {"accounts", "list", "--help"},
		{"accounts", "group", "--help"}, {"accounts", "group", "add", "--help"}, {"accounts", "group", "del", "--help"},
		{"get", "--help"}, {"get", "https://example.test/", "--help"},
		{"jobs", "--help"}, {"jobs", "add", "--help"}, {"jobs", "list", "--help"}, {"jobs", "run", "--help"},
		{"jobs", "show", "--help"}, {"jobs", "resume", "--help"}, {"jobs", "complete", "--help"},
		{"jobs", "cancel", "--help"}, {"jobs", "remove", "--help"},
		{"identity-key", "--help"}, {"identity-key", "rotate", "--help"},
	} {
		out, err := exec.Command(bin, args...).Output()
		if err != nil {
			t.Errorf("gatehouse %s: %v", strings.Join(args, " "), err)
			continue
		}
		if !strings.HasPrefix(string(out), "usage: gatehouse") || !strings.Contains(string(out), "example") {
			t.Errorf("gatehouse %s:\n%s", strings.Join(args, " "), out)
		}
	}
}

// TestAccountsCLIRefusals: list on a store that does not exist is an
// error and creates nothing; bad names are refused before any prompt.
func TestAccountsCLIRefusals(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "typo.db")
	if out, err := gh(t, dir, "", "accounts", "list", "--db", db); err == nil || !strings.Contains(out, "no account store") {
		t.Errorf("list on a missing store: %v %s", err, out)
	}
	if _, err := os.Stat(db); err == nil {
		t.Error("list created the store")
	}
	for _, name := range []string{"a/b", "x@y", " alice", "-rf", strings.Repeat("a", 65)} {
		if out, err := gh(t, dir, "pw\n", "accounts", "add", "--password-stdin", "--db", db, "--", name); err == nil || !strings.Contains(out, "not a valid") {
			t.Errorf("add %q: %v %s", name, err, out)
		}
	}
}

// TestVersion: version, commit and Go version.
func TestVersion(t *testing.T) {
	out, err := exec.Command(bin, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "gatehouse ") || !strings.Contains(string(out), "\ncommit ") || !strings.Contains(string(out), "\ngo go1.") {
		t.Errorf("version: %v\n%s", err, out)
	}
}

// TestSystemdUnit: systemd-analyze verify passes on dist/gatehouse.service
// with no warning (in a root holding systemd's units and the paths the
// unit names, so that the machine's own layout does not matter).
func TestSystemdUnit(t *testing.T) {
	sa := testenv.LookPath(t, "systemd-analyze")
	root := t.TempDir()
	units := testenv.File(t, "/lib/systemd/system", "systemd's units")
	for _, d := range []string{"usr/local/bin", "usr/bin", "usr/lib/systemd", "etc/systemd/system"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("usr/bin", filepath.Join(root, "bin")); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-r", units, filepath.Join(root, "usr/lib/systemd/system")).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	for src, dst := range map[string]string{bin: "usr/local/bin/gatehouse", "/bin/kill": "usr/bin/kill", "../dist/gatehouse.service": "etc/systemd/system/gatehouse.service"} {
		if out, err := exec.Command("cp", src, filepath.Join(root, dst)).CombinedOutput(); err != nil {
			t.Fatalf("%v %s", err, out)
		}
	}
	// the man pages its Documentation= names, installed as the unit's comment says
	if out, err := exec.Command(bin, "help", "--man-dir", filepath.Join(root, "usr/local/share/man/man1")).CombinedOutput(); err != nil {
		t.Fatalf("help --man-dir: %v %s", err, out)
	}
	verify := exec.Command(sa, "verify", "--root="+root, "gatehouse.service")
	verify.Env = append(os.Environ(), "MANPATH="+filepath.Join(root, "usr/local/share/man")) // it asks the host's man
	out, err := verify.CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestSdNotify: READY=1 once listening, RELOADING=1 and READY=1 around a
// SIGHUP reload, STOPPING=1 on SIGTERM, on $NOTIFY_SOCKET.
func TestSdNotify(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	msgs := make(chan string, 16)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	next := func(want string) {
		t.Helper()
		select {
		case m := <-msgs:
			if !strings.HasPrefix(m, want) {
				t.Fatalf("notify: %q, want %q", m, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s", want)
		}
	}
	dir := t.TempDir()
	s := serve(t, dir, "state_dir: ./state\naccounts: ./gatehouse.db\nlisten: [{addr: 127.0.0.1:0}]\nsites: [{path: /, auth: [anonymous]}]\n", 1)
	next("READY=1")
	s.cmd.Process.Signal(syscall.SIGHUP)
	next("RELOADING=1\nMONOTONIC_USEC=")
	next("READY=1")
	s.cmd.Process.Signal(syscall.SIGTERM)
	next("STOPPING=1")
}

// TestReloadLogSettings: log level, format and the access log follow the
// file on SIGHUP.
func TestReloadLogSettings(t *testing.T) {
	dir := t.TempDir()
	const cfg = "state_dir: ./state\naccounts: ./gatehouse.db\nlisten: [{addr: 127.0.0.1:0}]\nsites: [{path: /, auth: [anonymous]}]\n"
	s := serve(t, dir, cfg, 1)
	curlCode(t, s.HTTP+"/before")
	if err := os.WriteFile(filepath.Join(dir, "gatehouse.yaml"), []byte(cfg+"log: {format: json, level: debug, access: true}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.cmd.Process.Signal(syscall.SIGHUP)
	s.waitLog(func(l string) bool { return strings.Contains(l, "configuration reloaded") })
	// the swap follows the reload's own log line: wait for the next one
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		curlCode(t, s.HTTP+"/after")
		if strings.Contains(s.log.String(), `"msg":"access"`) {
			break
		}
	}
	l := s.log.String()
	if strings.Contains(l, "/before") || !strings.Contains(l, `"msg":"access"`) || !strings.Contains(l, `"path":"/after"`) {
		t.Errorf("after the reload: no JSON access line for /after (or one for /before):\n%s", l)
	}
}

// TestReloadCertificate: a certificate replaced on disk is what new TLS
// connections get after SIGHUP, on the same listener; a connection opened
// before keeps working.
func TestReloadCertificate(t *testing.T) {
	curl := testenv.LookPath(t, "curl")
	dir := t.TempDir()
	certA, keyA := selfSigned(t)
	certB, keyB := selfSigned(t)
	copyFile := func(src, dst string) {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, dst), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(certA, "server.crt")
	copyFile(keyA, "server.key")
	s := serve(t, dir, "state_dir: ./state\naccounts: ./gatehouse.db\nlisten: [{addr: 127.0.0.1:0, tls: {cert: ./server.crt, key: ./server.key}}]\nsites: [{path: /, auth: [anonymous]}]\n", 1)
	addr := strings.TrimPrefix(s.HTTPS, "https://")
	serial := func(c *tls.Conn) string { return c.ConnectionState().PeerCertificates[0].SerialNumber.String() }
	want := func(certFile string) string {
		blk, _ := pem.Decode(mustRead(t, certFile))
		c, _ := x509.ParseCertificate(blk.Bytes)
		return c.SerialNumber.String()
	}
	before, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()
	if serial(before) != want(certA) {
		t.Fatal("not serving certificate A")
	}
	copyFile(certB, "server.crt")
	copyFile(keyB, "server.key")
	s.cmd.Process.Signal(syscall.SIGHUP)
	s.waitLog(func(l string) bool { return strings.Contains(l, "configuration reloaded") })
	after, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer after.Close()
	if serial(after) != want(certB) {
		t.Error("a new connection after the reload did not get certificate B")
	}
	// the connection opened before still serves a request
	fmt.Fprintf(before, "GET / HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n\r\n")
	line, _ := bufio.NewReader(before).ReadString('\n')
	if !strings.HasPrefix(line, "HTTP/1.1 200") {
		t.Errorf("the connection from before the reload: %q", line)
	}
	if out, err := run(t, nil, curl, "-s", "--cacert", certB, "-o", "/dev/null", "-w", "%{http_code}", s.HTTPS+"/"); err != nil || out != "200" {
		t.Errorf("curl trusting only certificate B: %v %q", err, out)
	}
}

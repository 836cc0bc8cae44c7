package interop

import (
	"bufio"
	"bytes"
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
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// jobsCmdIn runs `gatehouse jobs ARGS --db db` with stdin.
func jobsCmdIn(t *testing.T, env []string, stdin, db string, args ...string) (string, string, bool) {
	t.Helper()
	cmd := exec.Command(bin, append(append([]string{"jobs"}, args...), "--db", db)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err == nil
}

// jobLine is the `jobs list` line of a job.
func jobLine(t *testing.T, env []string, db, id string) string {
	t.Helper()
	out, _, _ := jobsCmd(t, env, db, "list")
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, id+" ") {
			return l
		}
	}
	t.Fatalf("job %s not listed:\n%s", id, out)
	return ""
}

// TestJobsOwnCCache: a job carrying its own ccache (BITS's helper token)
// completes while the worker has no Kerberos credentials of its own
// (KRB5CCNAME empty), and a job without one fails there: the worker never
// lends its own tickets, and the job never looks for them.
func TestJobsOwnCCache(t *testing.T) {
	k := testenv.NeedKDC(t)
	userEnv := kinit(t, k)
	var ccache string
	for _, e := range userEnv {
		if v, ok := strings.CutPrefix(e, "KRB5CCNAME="); ok {
			ccache = strings.TrimPrefix(v, "FILE:")
		}
	}
	dir := t.TempDir()
	www := filepath.Join(dir, "www")
	os.MkdirAll(www, 0o755)
	data := make([]byte, 1<<20)
	rand.Read(data)
	os.WriteFile(filepath.Join(www, "f.bin"), data, 0o644)
	s := serve(t, dir, fmt.Sprintf(`
state_dir: ./state
accounts: ./gatehouse.db
listen: [{addr: 127.0.0.1:0}]
kerberos: {keytab: %s}
sites: [{path: /, auth: [negotiate], handler: static, root: %s}]
`, k.Keytab, www), 1)
	// the worker's environment: the realm's krb5.conf, no ccache of its own
	worker := []string{"KRB5_CONFIG=" + k.Krb5Conf, "KRB5CCNAME=", "KRB5_CLIENT_KTNAME="}
	db := filepath.Join(t.TempDir(), "jobs.db")
	dest := filepath.Join(t.TempDir(), "f.bin")
	id, e, ok := jobsCmd(t, worker, db, "add", "--ccache", ccache, "--negotiate", "--implicit-allow", "localhost", "-o", dest, s.HTTP+"/f.bin")
	if !ok {
		t.Fatalf("jobs add --ccache: %s", e)
	}
	id = strings.TrimSpace(id)
	other, e, ok := jobsCmd(t, worker, db, "add", "--negotiate", "--implicit-allow", "localhost", "-o", dest+".2", s.HTTP+"/f.bin")
	if !ok {
		t.Fatalf("jobs add: %s", e)
	}
	other = strings.TrimSpace(other)
	// a keytab identity, allowed implicit credentials by --cred rather than --implicit-allow
	viaKeytab, e, ok := jobsCmd(t, worker, db, "add", "--keytab", k.Keytab, "--user", k.SPN+"@"+k.Realm,
		"--cred", "server:negotiate:implicit", "-o", dest+".3", s.HTTP+"/f.bin")
	if !ok {
		t.Fatalf("jobs add --keytab: %s", e)
	}
	viaKeytab = strings.TrimSpace(viaKeytab)
	if _, e, ok := jobsCmd(t, worker, db, "run", "--once"); !ok {
		t.Fatalf("jobs run: %s", e)
	}
	if l := jobLine(t, worker, db, id); !strings.Contains(l, "transferred") || !strings.Contains(l, "100") {
		t.Fatalf("the job with its own ccache: %s", l)
	}
	if l := jobLine(t, worker, db, viaKeytab); !strings.Contains(l, "transferred") {
		t.Errorf("the job with its own keytab: %s", l)
	}
	if l := jobLine(t, worker, db, other); !strings.Contains(l, "error") {
		t.Errorf("a job without an identity got Kerberos from somewhere: %s", l)
	}
	if out, e, ok := jobsCmd(t, worker, db, "complete", id); !ok || strings.TrimSpace(out) != dest {
		t.Fatalf("complete: %q %s", out, e)
	}
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, data) {
		t.Fatal("downloaded file differs")
	}
	// the ccache is sealed: its client principal is not in the store in the clear
	if raw, _ := os.ReadFile(db); bytes.Contains(raw, []byte("alice")) {
		t.Error("the job's ccache is in the store in the clear")
	}
}

// TestJobsSetCredentialsAndNotify: a job with a wrong password ends in
// error (the notify command is told), `jobs set-credentials` gives it the
// right one and queues it again, and it completes (notified again).
func TestJobsSetCredentialsAndNotify(t *testing.T) {
	dir := t.TempDir()
	www := filepath.Join(dir, "www")
	os.MkdirAll(www, 0o755)
	data := make([]byte, 512<<10)
	rand.Read(data)
	os.WriteFile(filepath.Join(www, "f.bin"), data, 0o644)
	addAccount(t, dir, "alice", "right-pw")
	s := serve(t, dir, fmt.Sprintf(`
state_dir: ./state
accounts: ./gatehouse.db
listen: [{addr: 127.0.0.1:0}]
sites: [{path: /, auth: [digest, ntlm], handler: static, root: %s}]
`, www), 1)
	db := filepath.Join(t.TempDir(), "jobs.db")
	dest := filepath.Join(t.TempDir(), "f.bin")
	// a job with its own NTLM user file; the worker has none (NTLM_USER_FILE empty)
	users := filepath.Join(t.TempDir(), "ntlm-users")
	os.WriteFile(users, []byte("WORKGROUP:alice:right-pw\n"), 0o600)
	noNTLM := []string{"NTLM_USER_FILE="}
	nid, e, ok := jobsCmd(t, noNTLM, db, "add", "--ntlm", "--implicit-allow", "localhost", "--ntlm-user-file", users, "-o", dest+".ntlm", s.HTTP+"/f.bin")
	if !ok {
		t.Fatalf("jobs add --ntlm-user-file: %s", e)
	}
	nid = strings.TrimSpace(nid)
	os.Remove(users) // sealed in the job: the file is not needed any more
	jobsCmd(t, noNTLM, db, "run", "--once")
	if l := jobLine(t, nil, db, nid); !strings.Contains(l, "transferred") {
		t.Errorf("the job with its own NTLM user file: %s", l)
	}
	notes := filepath.Join(t.TempDir(), "notify.log")
	id, e, ok := jobsCmdIn(t, nil, "wrong-pw\n", db, "add", "--digest", "-u", "alice", "--password-stdin",
		"--notify-cmd", `echo "$GATEHOUSE_JOB_ID $GATEHOUSE_JOB_STATE" >> `+notes, "-o", dest, s.HTTP+"/f.bin")
	if !ok {
		t.Fatalf("jobs add: %s", e)
	}
	id = strings.TrimSpace(id)
	jobsCmd(t, nil, db, "run", "--once")
	if l := jobLine(t, nil, db, id); !strings.Contains(l, " error ") || !strings.Contains(l, "401") {
		t.Fatalf("after the wrong password: %s", l)
	}
	if b, _ := os.ReadFile(notes); string(b) != id+" error\n" {
		t.Errorf("notify after the error: %q", b)
	}
	if out, e, ok := jobsCmdIn(t, nil, "right-pw\n", db, "set-credentials", id, "-u", "alice", "--password-stdin"); !ok || strings.TrimSpace(out) != id+" queued" {
		t.Fatalf("set-credentials: %q %s", out, e)
	}
	if raw, _ := os.ReadFile(db); bytes.Contains(raw, []byte("right-pw")) {
		t.Fatal("the new password is in the store in the clear")
	}
	if _, e, ok := jobsCmd(t, nil, db, "run", "--once"); !ok {
		t.Fatalf("jobs run: %s", e)
	}
	if l := jobLine(t, nil, db, id); !strings.Contains(l, "transferred") {
		t.Fatalf("after set-credentials: %s", l)
	}
	if b, _ := os.ReadFile(notes); string(b) != id+" error\n"+id+" transferred\n" {
		t.Errorf("notify log: %q", b)
	}
	if _, e, ok := jobsCmd(t, nil, db, "complete", id); !ok {
		t.Fatalf("complete: %s", e)
	}
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, data) {
		t.Fatal("file differs")
	}
	// a password never on the command line with --cred
	if _, e, ok := jobsCmd(t, nil, db, "set-credentials", id, "--cred", "server:digest:alice:pw"); ok || !strings.Contains(e, "never goes on the command line") {
		t.Errorf("--cred with a password: ok=%v %s", ok, e)
	}
}

// TestJobsRunWaits: `jobs run` without --once says it is waiting when
// there is nothing to do.
func TestJobsRunWaits(t *testing.T) {
	db := filepath.Join(t.TempDir(), "jobs.db")
	cmd := exec.Command(bin, "jobs", "run", "--db", db)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	got := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stderr).ReadString('\n')
		got <- line
	}()
	select {
	case l := <-got:
		if !strings.Contains(l, "waiting for jobs") {
			t.Errorf("idle worker says %q", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the idle worker said nothing")
	}
}

// TestProgressOnTerminalOnly: `gatehouse get -o` and `jobs run` draw a
// progress bar on a pseudo-terminal (script(1)) and nothing on a pipe.
func TestProgressOnTerminalOnly(t *testing.T) {
	script := testenv.LookPath(t, "script")
	data := make([]byte, 3<<20)
	rand.Read(data)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "f", time.Unix(1700000000, 0), bytes.NewReader(data))
	}))
	defer srv.Close()
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	tty, err := exec.Command(script, "-qc", fmt.Sprintf("%s get -o %s %s/f", bin, out, srv.URL), "/dev/null").CombinedOutput()
	if err != nil {
		t.Fatalf("script: %v %s", err, tty)
	}
	if !strings.Contains(string(tty), "100%") || !strings.Contains(string(tty), "MB") {
		t.Errorf("no progress bar on a terminal: %q", tty)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
		t.Error("file differs")
	}
	// a pipe: nothing on stderr
	if o, e, ok := get(t, nil, "-o", out, srv.URL+"/f"); !ok || o != "" || e != "" {
		t.Errorf("on a pipe: ok=%v stdout %q stderr %q", ok, o, e)
	}
	// -s on a terminal: nothing
	tty, _ = exec.Command(script, "-qc", fmt.Sprintf("%s get -s -o %s %s/f", bin, out, srv.URL), "/dev/null").CombinedOutput()
	if strings.Contains(string(tty), "%") {
		t.Errorf("-s drew progress: %q", tty)
	}
	// jobs run on a terminal and on a pipe
	db := filepath.Join(dir, "jobs.db")
	for i, viaTTY := range []bool{true, false} {
		if _, e, ok := jobsCmd(t, nil, db, "add", "-o", filepath.Join(dir, fmt.Sprint("j", i)), srv.URL+"/f"); !ok {
			t.Fatalf("jobs add: %s", e)
		}
		if viaTTY {
			tty, _ = exec.Command(script, "-qc", fmt.Sprintf("%s jobs run --once --db %s", bin, db), "/dev/null").CombinedOutput()
			if !strings.Contains(string(tty), "download ") || !strings.Contains(string(tty), "100%") {
				t.Errorf("jobs run drew no progress on a terminal: %q", tty)
			}
		} else if o, e, ok := jobsCmd(t, nil, db, "run", "--once"); !ok || o != "" || e != "" {
			t.Errorf("jobs run on a pipe: ok=%v %q %q", ok, o, e)
		}
	}
}

// TestJobsClientCertificate: a job presenting a client certificate (the
// paths are kept with the job and read when it runs).
func TestJobsClientCertificate(t *testing.T) {
	dir := t.TempDir()
	ca, caFile, issue := testCA(t, dir)
	srvCert, srvKey := issue("localhost", false)
	cliCert, cliKey := issue("alice", true)
	s := tlsServer(t, ca, srvCert, srvKey)
	u := strings.Replace(s.URL, "127.0.0.1", "localhost", 1)
	db := filepath.Join(dir, "jobs.db")
	dest := filepath.Join(dir, "hello")
	id, e, ok := jobsCmd(t, nil, db, "add", "--cacert", caFile, "--cert", cliCert, "--key", cliKey, "-o", dest, u+"/")
	if !ok {
		t.Fatalf("jobs add: %s", e)
	}
	id = strings.TrimSpace(id)
	noCert, _, _ := jobsCmd(t, nil, db, "add", "--cacert", caFile, "-o", dest+".2", u+"/")
	noCert = strings.TrimSpace(noCert)
	jobsCmd(t, nil, db, "run", "--once")
	if _, e, ok := jobsCmd(t, nil, db, "complete", id); !ok {
		t.Fatalf("complete: %s\n%s", e, jobLine(t, nil, db, id))
	}
	if got, _ := os.ReadFile(dest); string(got) != "hello alice\n" {
		t.Errorf("got %q", got)
	}
	if l := jobLine(t, nil, db, noCert); strings.Contains(l, "transferred") {
		t.Errorf("a job without the certificate: %s", l)
	}
}

// testCA makes a CA in dir and returns it, its PEM file, and a function
// issuing a server or client certificate as PEM files (cert, key).
func testCA(t *testing.T, dir string) (*x509.Certificate, string, func(name string, client bool) (string, string)) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	ca, _ := x509.ParseCertificate(caDER)
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600)
	issue := func(name string, client bool) (string, string) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
		if client {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		} else {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			tmpl.DNSNames, tmpl.IPAddresses = []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")}
		}
		der, _ := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		kb, _ := x509.MarshalPKCS8PrivateKey(k)
		cf, kf := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
		os.WriteFile(cf, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
		os.WriteFile(kf, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600)
		return cf, kf
	}
	return ca, caFile, issue
}

// tlsServer is an HTTPS server requiring a client certificate from ca,
// greeting its common name.
func tlsServer(t *testing.T, ca *x509.Certificate, certFile, keyFile string) *httptest.Server {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s\n", r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	s.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

package interop

import (
	"bytes"
	"crypto/rand"
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

// bitsServer is `gatehouse serve` with a bits_upload site at /upload taking
// every scheme (Basic over TLS only), alice/alicepw in the account store
// and the KDC's keytab. It returns the server and the upload root.
func bitsServer(t *testing.T, k *testenv.KDC) (*instance, string) {
	t.Helper()
	dir := t.TempDir()
	up := filepath.Join(dir, "uploads")
	os.MkdirAll(up, 0o755)
	addAccount(t, dir, "alice", "alicepw")
	krb := ""
	auth := "[digest, ntlm, basic]"
	if k != nil {
		krb = "kerberos: {keytab: " + k.Keytab + "}\n"
		auth = "[negotiate, digest, ntlm, basic]"
	}
	s := serve(t, dir, fmt.Sprintf(`
state_dir: ./state
accounts: ./gatehouse.db
listen: [{addr: 127.0.0.1:0}, {addr: 127.0.0.1:0, tls: {}}]
%s
sites:
  - path: /upload
    auth: %s
    handler: bits_upload
    root: %s
    max_upload_size: 67108864
`, krb, auth, up), 2)
	return s, up
}

// TestBITSUploadKilledAndResumed: a multi-megabyte random file uploaded by
// a job, the worker killed in the middle, the file absent until the
// session closes, then resumed (not restarted) by a new worker and
// byte-identical at the end.
func TestBITSUploadKilledAndResumed(t *testing.T) {
	s, up := bitsServer(t, nil)
	data := make([]byte, 6<<20+4321)
	rand.Read(data)
	src := filepath.Join(t.TempDir(), "big.bin")
	os.WriteFile(src, data, 0o600)
	db := filepath.Join(t.TempDir(), "jobs.db")
	id, e, ok := jobsCmdIn(t, nil, "alicepw\n", db, "add", "--upload", src, "--digest", "-u", "alice", "--password-stdin",
		"--limit-rate", "2M", s.HTTP+"/upload/in/big.bin")
	if !ok {
		t.Fatalf("jobs add --upload: %s", e)
	}
	id = strings.TrimSpace(id)
	worker := exec.Command(bin, "jobs", "run", "--db", db)
	if err := worker.Start(); err != nil {
		t.Fatal(err)
	}
	done := func() int64 {
		out, _, _ := jobsCmd(t, nil, db, "show", id)
		var j struct {
			BytesDone int64 `json:"bytes_done"`
		}
		json.Unmarshal([]byte(out), &j)
		return j.BytesDone
	}
	for deadline := time.Now().Add(30 * time.Second); done() < 2<<20; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			worker.Process.Kill()
			worker.Wait()
			t.Fatalf("the upload made no progress:\n%s", jobLine(t, nil, db, id))
		}
	}
	worker.Process.Kill() // SIGKILL in the middle of the upload
	worker.Wait()
	at := done()
	if at >= int64(len(data)) {
		t.Fatalf("the upload finished before the kill (%d bytes)", at)
	}
	if _, err := os.Stat(filepath.Join(up, "in", "big.bin")); err == nil {
		t.Fatal("the file is in place before Close-Session")
	}
	if l := jobLine(t, nil, db, id); !strings.Contains(l, "transferring") || !strings.Contains(l, "upload") {
		t.Fatalf("after the kill: %s", l)
	}
	if _, e, ok := jobsCmd(t, nil, db, "run", "--once"); !ok {
		t.Fatalf("jobs run: %s", e)
	}
	if l := jobLine(t, nil, db, id); !strings.Contains(l, "transferred") || !strings.Contains(l, "100") {
		t.Fatalf("after the resume: %s", l)
	}
	got, _ := os.ReadFile(filepath.Join(up, "in", "big.bin"))
	if !bytes.Equal(got, data) {
		t.Fatalf("uploaded file differs: %d of %d bytes", len(got), len(data))
	}
	if n := strings.Count(s.log.String(), "bits_upload session created"); n != 1 {
		t.Errorf("%d sessions created; the second worker should have resumed the first\n", n)
	}
	if out, e, ok := jobsCmd(t, nil, db, "complete", id); !ok || strings.TrimSpace(out) != src {
		t.Errorf("complete: %q %s", out, e)
	}
	if _, err := os.ReadDir(filepath.Join(up, ".gatehouse-bits")); err != nil {
		t.Fatal(err)
	} else if left, _ := filepath.Glob(filepath.Join(up, ".gatehouse-bits", "*")); len(left) != 0 {
		t.Errorf("session files left behind: %v", left)
	}
}

// TestBITSUploadSchemes: uploads under every scheme the client speaks.
func TestBITSUploadSchemes(t *testing.T) {
	k := testenv.NeedKDC(t)
	s, up := bitsServer(t, &k)
	krbEnv := kinit(t, k)
	data := make([]byte, 300<<10)
	rand.Read(data)
	src := filepath.Join(t.TempDir(), "f.bin")
	os.WriteFile(src, data, 0o600)
	db := filepath.Join(t.TempDir(), "jobs.db")
	cases := []struct {
		scheme string
		env    []string
		args   []string
		base   string
	}{
		{"negotiate", krbEnv, []string{"--negotiate", "--implicit-allow", "localhost"}, s.HTTP},
		{"ntlm", nil, []string{"--ntlm", "-u", "alice", "--password-stdin"}, s.HTTP},
		{"digest", nil, []string{"--digest", "-u", "alice", "--password-stdin"}, s.HTTP},
		{"basic", nil, []string{"--basic", "-u", "alice", "--password-stdin", "-k"}, s.HTTPS},
	}
	for _, c := range cases {
		args := append(append([]string{"add", "--upload", src}, c.args...), c.base+"/upload/"+c.scheme+".bin")
		id, e, ok := jobsCmdIn(t, c.env, "alicepw\n", db, args...)
		if !ok {
			t.Fatalf("%s: jobs add: %s", c.scheme, e)
		}
		if _, e, ok := jobsCmd(t, c.env, db, "run", "--once"); !ok {
			t.Fatalf("%s: jobs run: %s", c.scheme, e)
		}
		if l := jobLine(t, nil, db, strings.TrimSpace(id)); !strings.Contains(l, "transferred") {
			t.Errorf("%s: %s", c.scheme, l)
			continue
		}
		if got, _ := os.ReadFile(filepath.Join(up, c.scheme+".bin")); !bytes.Equal(got, data) {
			t.Errorf("%s: uploaded file differs", c.scheme)
		}
	}
	if !strings.Contains(s.log.String(), "alice@EXAMPLE.TEST") {
		t.Error("the Kerberos upload is not logged as alice@EXAMPLE.TEST")
	}
}

// TestBITSRefusals: no credentials → 401; a path escape, a hidden name or a
// wrong protocol → refused with BITS-Error-Code, nothing written outside
// the root.
func TestBITSRefusals(t *testing.T) {
	curl := testenv.LookPath(t, "curl")
	s, up := bitsServer(t, nil)
	post := func(args ...string) (status string, headers string) {
		t.Helper()
		out, err := exec.Command(curl, append([]string{"-s", "-o", "/dev/null", "-D", "-", "-X", "BITS_POST"}, args...)...).Output()
		if err != nil {
			t.Fatalf("curl %v: %v", args, err)
		}
		h := string(out)
		// the last response's status (a Digest exchange has a 401 first)
		parts := strings.Split(strings.TrimSpace(h), "\r\n\r\n")
		last := parts[len(parts)-1]
		f := strings.Fields(last)
		if len(f) < 2 {
			t.Fatalf("no status in %q", h)
		}
		return f[1], last
	}
	create := []string{"-H", "BITS-Packet-Type: Create-Session", "-H", "BITS-Supported-Protocols: {7df0354d-249b-430f-820d-3d2a9bef4931}"}
	if st, h := post(append(create, s.HTTP+"/upload/x.bin")...); st != "401" {
		t.Errorf("no credentials: %s\n%s", st, h)
	}
	if st, _ := post("-H", "BITS-Packet-Type: Ping", s.HTTP+"/upload/x.bin"); st != "401" {
		t.Errorf("Ping without credentials: %s", st)
	}
	digest := []string{"--digest", "-u", "alice:alicepw"}
	if st, h := post(append(append(digest, create...), s.HTTP+"/upload/ok.bin")...); st != "200" || !strings.Contains(h, "Bits-Session-Id: {") {
		t.Errorf("Create-Session with credentials: %s\n%s", st, h)
	}
	outside := filepath.Join(filepath.Dir(up), "escape.bin")
	for _, p := range []string{"/upload/../escape.bin", "/upload/%2e%2e/escape.bin", "/upload/a/../../escape.bin", "/upload/.gatehouse-bits/x", "/upload/..%2fescape.bin"} {
		st, h := post(append(append(append(digest, "--path-as-is"), create...), s.HTTP+p)...)
		if !strings.HasPrefix(st, "4") {
			t.Errorf("%s: not refused\n%s", p, h)
		}
		// the Gate refuses ambiguous paths before any site; what reaches
		// the handler (a hidden name) gets its BITS-Error-Code
		if strings.Contains(p, ".gatehouse-bits") && !strings.Contains(h, "Bits-Error-Code: 0x80070057") {
			t.Errorf("%s: 400 without BITS-Error-Code\n%s", p, h)
		}
	}
	if _, err := os.Stat(outside); err == nil {
		t.Error("a file was written outside the upload root")
	}
	if st, h := post(append(digest, "-H", "BITS-Packet-Type: Create-Session", "-H", "BITS-Supported-Protocols: {00000000-0000-0000-0000-000000000000}", s.HTTP+"/upload/p.bin")...); st != "400" || !strings.Contains(h, "0x80200022") {
		t.Errorf("unknown protocol: %s\n%s", st, h)
	}
	if st, h := post(append(digest, "-H", "BITS-Packet-Type: Fragment", "-H", "BITS-Session-Id: {00000000-0000-0000-0000-000000000000}",
		"-H", "Content-Range: bytes 0-0/1", "--data-binary", "x", s.HTTP+"/upload/p.bin")...); st != "500" || !strings.Contains(h, "0x8020001F") {
		t.Errorf("unknown session: %s\n%s", st, h)
	}
	if st, _ := post(append(digest, "-H", "BITS-Packet-Type: Ping", s.HTTP+"/upload/p.bin")...); st != "200" {
		t.Errorf("Ping: %s", st)
	}
}

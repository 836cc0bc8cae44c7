package interop

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// TLS 1.2 offers only ECDHE with AEAD ciphers unless tls_cipher_suites
// says otherwise: openssl s_client asking for a CBC-SHA suite is refused,
// an AES-GCM one is served; naming the CBC suite in the config lets it in.
func TestTLSOnlyAEADSuites(t *testing.T) {
	openssl := testenv.LookPath(t, "openssl")
	handshake := func(hostport, cipher string) bool {
		cmd := exec.Command(openssl, "s_client", "-connect", hostport, "-tls1_2", "-cipher", cipher, "-brief")
		cmd.Stdin = strings.NewReader("")
		out, err := cmd.CombinedOutput()
		ok := err == nil && strings.Contains(string(out), "Ciphersuite")
		t.Logf("%s: ok=%v %v\n%s", cipher, ok, err, out)
		return ok
	}
	for _, tc := range []struct {
		extra string
		cbc   bool
	}{{"", false}, {"tls_cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]\n", true}} {
		dir := t.TempDir()
		inst := serve(t, dir, "listen: [{addr: 127.0.0.1:0, tls: {}}]\nsites: [{path: /, auth: [anonymous]}]\n"+tc.extra, 1)
		u, _ := url.Parse(inst.HTTPS)
		if got := handshake(u.Host, "ECDHE-ECDSA-AES128-SHA"); got != tc.cbc {
			t.Errorf("config %q: CBC-SHA handshake ok=%v, want %v", tc.extra, got, tc.cbc)
		}
		if !handshake(u.Host, "ECDHE-ECDSA-AES128-GCM-SHA256") {
			t.Errorf("config %q: AES-GCM refused", tc.extra)
		}
		// Go's client offering only CBC suites is refused too
		c, err := tls.Dial("tcp", u.Host, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA}})
		if c != nil {
			c.Close()
		}
		if (err == nil) != tc.cbc {
			t.Errorf("config %q: Go client with CBC suites: %v", tc.extra, err)
		}
	}
}

// vmKB reads a Vm* line (VmRSS, VmHWM) of /proc/PID/status in KiB.
func vmKB(t *testing.T, pid int, field string) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatalf("%s: %q", field, line)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// A flood of 64 concurrent wrong Basic passwords (Argon2id, 19 MiB each)
// leaves the server's memory bounded, and a real login still succeeds.
// The bound is memory, not time: concurrent hashing is capped at the
// number of cores, the rest wait their turn or get 503.
func TestBasicFloodMemoryBounded(t *testing.T) {
	const floodSize = 64
	const peakLimitKB = 400 << 10 // generous: unbounded, 64 derivations reach 1.2 GiB
	dir := t.TempDir()
	addAccount(t, dir, "alice", "alicepw")
	inst := serve(t, dir, `
listen: [{addr: 127.0.0.1:0}]
sites:
  - path: /
    auth: [basic]
    basic_over_http: true
`, 1)
	pid := inst.cmd.Process.Pid
	get := func(user, pass string) int {
		req, _ := http.NewRequest("GET", inst.HTTP+"/", nil)
		req.SetBasicAuth(user, pass)
		req.Header.Set("Accept", "application/json")
		resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
		if err != nil {
			t.Errorf("request: %v", err)
			return 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := get("alice", "alicepw"); c != 200 {
		t.Fatalf("login before the flood: %d", c)
	}
	before := vmKB(t, pid, "VmRSS")

	var wg sync.WaitGroup
	codes := make(chan int, floodSize)
	for i := range floodSize {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := "alice"
			if i%2 == 1 {
				user = fmt.Sprintf("nobody%d", i) // unknown users cost the same
			}
			codes <- get(user, fmt.Sprintf("wrong%d", i))
		}()
	}
	// a real user logging in amid the flood gets in (503 means: retry)
	realLogin := make(chan int, 1)
	go func() {
		c := 0
		for range 30 {
			if c = get("alice", "alicepw"); c != 503 {
				break
			}
			time.Sleep(300 * time.Millisecond)
		}
		realLogin <- c
	}()
	wg.Wait()
	close(codes)
	if c := <-realLogin; c != 200 {
		t.Errorf("login during the flood: %d", c)
	}
	counts := map[int]int{}
	for c := range codes {
		counts[c]++
	}
	peak := vmKB(t, pid, "VmHWM")
	if counts[401]+counts[503] != floodSize {
		t.Errorf("flood answers: %v (want only 401 and 503)", counts)
	}
	// memory goes back once the burst is over (polled, not timed). The
	// margin is a few Argon2id buffers (19 MiB each): what matters is that
	// the flood's hundreds of MiB are not kept, not the last few.
	const givenBackKB = 64 << 10
	after := vmKB(t, pid, "VmRSS")
	for deadline := time.Now().Add(10 * time.Second); after > before+givenBackKB && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		after = vmKB(t, pid, "VmRSS")
	}
	t.Logf("RSS before %d MiB, peak %d MiB, after %d MiB; answers %v", before>>10, peak>>10, after>>10, counts)
	if peak > peakLimitKB {
		t.Errorf("peak RSS %d MiB during the flood, want < %d MiB", peak>>10, peakLimitKB>>10)
	}
	if after > before+givenBackKB {
		t.Errorf("RSS %d MiB after the flood, was %d MiB before: memory not given back", after>>10, before>>10)
	}
	if c := get("alice", "alicepw"); c != 200 {
		t.Errorf("login after the flood: %d", c)
	}
}

// Sessions end with their account: with session_revalidate: 1s, a session
// cookie (curl's cookie jar) stops working once the account loses the
// group a rule needs, or is deleted; a 403 never sets a session cookie.
func TestSessionRevalidateWithAccountChanges(t *testing.T) {
	curl := testenv.LookPath(t, "curl")
	dir := t.TempDir()
	addAccount(t, dir, "alice", "alicepw", "Admins")
	addAccount(t, dir, "bob", "bobpw")
	inst := serve(t, dir, `
listen: [{addr: 127.0.0.1:0}]
session_revalidate: 1s
sites:
  - path: /
    auth: [anonymous]
  - path: /admins
    auth: [basic]
    basic_over_http: true
    sessions: true
    authorization:
      - allow: {roles: [Admins]}
      - deny: {users: ["*"]}
  - path: /open
    auth: [basic]
    basic_over_http: true
    sessions: true
`, 1)
	db := filepath.Join(dir, "gatehouse.db")
	jar := filepath.Join(dir, "cookies.txt")
	// req returns the status and the response headers
	req := func(path string, args ...string) (int, string) {
		t.Helper()
		out, _ := run(t, nil, curl, append([]string{"-s", "-o", "/dev/null", "-D", "-", "-w", "\n%{http_code}", "-b", jar, "-c", jar,
			"-H", "Accept: application/json", inst.HTTP + path}, args...)...)
		out = strings.TrimSpace(out)
		i := strings.LastIndexByte(out, '\n')
		code, _ := strconv.Atoi(out[i+1:])
		return code, out[:max(i, 0)]
	}
	setsCookie := func(hdr string) bool { return strings.Contains(strings.ToLower(hdr), "set-cookie: gatehouse_session=") }
	clears := func(hdr string) bool {
		l := strings.ToLower(hdr)
		return strings.Contains(l, "set-cookie: gatehouse_session=;") && strings.Contains(l, "max-age=0")
	}

	// a 403 carries no session cookie
	if code, hdr := req("/admins", "-u", "bob:bobpw"); code != 403 || setsCookie(hdr) {
		t.Fatalf("bob on /admins: %d\n%s", code, hdr)
	}
	// login, then the cookie alone
	if code, hdr := req("/admins", "-u", "alice:alicepw"); code != 200 || !setsCookie(hdr) {
		t.Fatalf("alice login: %d\n%s", code, hdr)
	}
	if code, _ := req("/admins"); code != 200 {
		t.Fatalf("alice's session: %d", code)
	}
	// the group the rule needs is removed: after session_revalidate the session ends
	if out, err := gh(t, dir, "", "accounts", "group", "del", "Admins", "alice", "--db", db); err != nil {
		t.Fatalf("group del: %v\n%s", err, out)
	}
	time.Sleep(1100 * time.Millisecond)
	if code, hdr := req("/admins"); code != 401 || !clears(hdr) || !strings.Contains(strings.ToLower(hdr), "www-authenticate: basic") {
		t.Fatalf("session after the group was removed: %d\n%s", code, hdr)
	}
	// logging in again now gets the authenticated refusal, without a cookie
	if code, hdr := req("/admins", "-u", "alice:alicepw"); code != 403 || setsCookie(hdr) {
		t.Fatalf("alice without the group: %d\n%s", code, hdr)
	}

	// a session on /open, then the account is deleted
	if code, _ := req("/open", "-u", "alice:alicepw"); code != 200 {
		t.Fatalf("alice on /open: %d", code)
	}
	if code, _ := req("/open"); code != 200 {
		t.Fatalf("alice's /open session: %d", code)
	}
	if out, err := gh(t, dir, "", "accounts", "del", "alice", "--db", db); err != nil {
		t.Fatalf("accounts del: %v\n%s", err, out)
	}
	time.Sleep(1100 * time.Millisecond)
	if code, hdr := req("/open"); code != 401 || !clears(hdr) {
		t.Fatalf("session after the account was deleted: %d\n%s", code, hdr)
	}
	inst.waitLog(func(l string) bool { return strings.Contains(l, "session ended") })
}

package interop

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/authheader"
	"github.com/gatehouse-auth/gatehouse/client"
	"github.com/gatehouse-auth/gatehouse/digest"
	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// clusterInstance starts one gatehouse serve of a fleet sharing redis,
// with its own state directory and account store (instances share no
// disk), alice in the store.
func clusterInstance(t *testing.T, k testenv.KDC, redis string) *instance {
	dir := t.TempDir()
	addAccount(t, dir, "alice", "alice-pw")
	return serve(t, dir, fmt.Sprintf(`
state_dir: ./state
accounts: ./gatehouse.db
listen: [{addr: 127.0.0.1:0}]
cluster: {redis: %q}
identity_token: {issuer: fleet}
kerberos: {keytab: %s}
ntlm: {domain: EXAMPLE}
sites:
  - {path: /, auth: [anonymous]}
  - {path: /k, auth: [negotiate]}
  - {path: /d, auth: [digest]}
  - {path: /s, auth: [digest], sessions: true}
  - {path: /n, auth: [ntlm]}
`, redis, k.Keytab), 1)
}

// haproxy runs HAProxy in front of backends (host:port), round robin,
// and returns its URL.
func haproxy(t *testing.T, backends ...string) string {
	port := startHAProxy(t, func(port int) string {
		var b strings.Builder
		fmt.Fprintf(&b, "frontend fe\n  bind 127.0.0.1:%d\n  default_backend gatehouse\nbackend gatehouse\n  balance roundrobin\n", port)
		for i, be := range backends {
			fmt.Fprintf(&b, "  server gh%d %s\n", i, be)
		}
		return b.String()
	})
	return fmt.Sprintf("http://localhost:%d", port)
}

func hostPort(u string) string {
	return strings.TrimPrefix(strings.Replace(u, "localhost", "127.0.0.1", 1), "http://")
}

// TestClusterSharedState: two instances on one Redis behind HAProxy are one
// service. A Kerberos token used at A is refused at B; a Digest nonce count
// used at A is refused at B while the next count is accepted there; a
// session cookie made at A is good at B; NTLM works through HAProxy; a
// load through HAProxy has no errors. Redis killed: Kerberos gets 503 at
// once while anonymous pages are served; Redis back: Kerberos again,
// without a restart.
func TestClusterSharedState(t *testing.T) {
	k := testenv.NeedKDC(t)
	py := testenv.File(t, "/usr/bin/python3", "Debian's python3 (python3-gssapi)")
	curl := testenv.LookPath(t, "curl")
	env := kinit(t, k)
	r := testenv.StartRedis(t)
	a, b := clusterInstance(t, k, "redis://"+r.Addr+"/0"), clusterInstance(t, k, "redis://"+r.Addr+"/0")
	lb := haproxy(t, hostPort(a.HTTP), hostPort(b.HTTP))

	// The identity-token key is the fleet's: both publish the same JWKS.
	ja, errA := run(t, nil, curl, "-sf", a.HTTP+"/.well-known/gatehouse/jwks.json")
	jb, errB := run(t, nil, curl, "-sf", b.HTTP+"/.well-known/gatehouse/jwks.json")
	if errA != nil || errB != nil || ja != jb || !strings.Contains(ja, `"kid"`) {
		t.Fatalf("JWKS of A and B differ or are missing: %v %v\n%s\n%s", errA, errB, ja, jb)
	}

	// Kerberos: one token, A then B.
	tok, err := run(t, env, py, "-c", mitToken)
	if err != nil {
		t.Fatal(err)
	}
	hdr := "Authorization: Negotiate " + strings.TrimSpace(tok)
	if c := curlCode(t, "-H", hdr, a.HTTP+"/k/"); c != "200" {
		t.Fatalf("token at A: %s\n%s", c, a.log)
	}
	if c := curlCode(t, "-H", hdr, b.HTTP+"/k/"); c != "401" {
		t.Fatalf("the same token at B: %s, want 401", c)
	}
	if l := b.waitLog(func(l string) bool { return strings.Contains(l, "replay") }); !strings.Contains(l, "replay") {
		t.Errorf("B does not log the replay:\n%s", l)
	}

	// Digest: a nonce from A, nc 1 at A, nc 1 at B (refused), nc 2 at B.
	resp, err := http.Get(a.HTTP + "/d/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	chs, err := authheader.ParseChallenges(resp.Header.Values("WWW-Authenticate"))
	if err != nil || len(chs) == 0 {
		t.Fatalf("challenge: %v %v", chs, err)
	}
	sess, err := digest.NewClientSession(&chs[0], "alice", "alice-pw")
	if err != nil {
		t.Fatal(err)
	}
	digestGet := func(base, auth string) int {
		req, _ := http.NewRequest("GET", base+"/d/", nil)
		req.Header.Set("Authorization", auth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	nc1, _ := sess.Authorization("GET", "/d/")
	if c := digestGet(a.HTTP, nc1); c != 200 {
		t.Fatalf("nc 1 at A: %d\n%s", c, a.log)
	}
	if c := digestGet(b.HTTP, nc1); c != 401 {
		t.Fatalf("nc 1 again at B: %d, want 401", c)
	}
	nc2, _ := sess.Authorization("GET", "/d/")
	if c := digestGet(b.HTTP, nc2); c != 200 {
		t.Fatalf("nc 2 of A's nonce at B: %d\n%s", c, b.log)
	}

	// Sessions: the cookie from A opens at B.
	jar := filepath.Join(t.TempDir(), "jar")
	if c := curlCode(t, "--digest", "-u", "alice:alice-pw", "-c", jar, a.HTTP+"/s/"); c != "200" {
		t.Fatalf("login at A: %s", c)
	}
	out, err := run(t, nil, curl, "-sf", "-b", jar, "-H", "Accept: application/json", b.HTTP+"/s/")
	if w := parseWhoami(t, out); err != nil || !w.Session || w.Name != "alice" {
		t.Fatalf("A's session cookie at B: %v %q", err, out)
	}

	// NTLM through HAProxy, several times (each a handshake on a pinned
	// server connection).
	for i := 0; i < 4; i++ {
		if c := curlCode(t, "--ntlm", "-u", `EXAMPLE\alice:alice-pw`, lb+"/n/"); c != "200" {
			t.Fatalf("NTLM through HAProxy, try %d: %s", i, c)
		}
	}

	// A load through HAProxy: Digest (pre-emptive after the first 401),
	// eight clients, 50 requests each; both instances serve, none fails.
	var wg sync.WaitGroup
	var mu sync.Mutex
	failures := []string{}
	for c := 0; c < 8; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := &http.Client{Transport: &client.Transport{Server: &client.Credentials{User: "alice", Password: "alice-pw"}, Schemes: []string{client.Digest}}}
			for i := 0; i < 50; i++ {
				resp, err := hc.Get(lb + "/d/")
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode != 200 {
					mu.Lock()
					failures = append(failures, fmt.Sprint(err, resp))
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d of 400 requests through HAProxy failed, first: %s", len(failures), failures[0])
	}

	// A reload keeps the shared state (and its metrics) in place.
	b.cmd.Process.Signal(syscall.SIGHUP)
	if l := b.waitLog(func(l string) bool { return strings.Contains(l, "configuration reloaded") }); !strings.Contains(l, "configuration reloaded") {
		t.Fatalf("SIGHUP:\n%s", l)
	}
	tokR, _ := run(t, env, py, "-c", mitToken)
	hdrR := "Authorization: Negotiate " + strings.TrimSpace(tokR)
	if c := curlCode(t, "-H", hdrR, b.HTTP+"/k/"); c != "200" {
		t.Fatalf("Kerberos at B after its reload: %s\n%s", c, b.log)
	}
	if c := curlCode(t, "-H", hdrR, a.HTTP+"/k/"); c != "401" {
		t.Fatalf("B's token at A after B's reload: %s, want 401", c)
	}

	// Redis killed: Kerberos 503 at once, anonymous still 200, not ready.
	r.Stop()
	tok2, _ := run(t, env, py, "-c", mitToken)
	start := time.Now()
	c := curlCode(t, "-H", "Authorization: Negotiate "+strings.TrimSpace(tok2), b.HTTP+"/k/")
	took := time.Since(start)
	if c != "503" {
		t.Fatalf("Kerberos with Redis down: %s, want 503\n%s", c, b.log)
	}
	t.Logf("Kerberos with Redis down: 503 in %v", took)
	if took > 5*time.Second {
		t.Errorf("the 503 took %v", took)
	}
	if c := curlCode(t, b.HTTP+"/"); c != "200" {
		t.Errorf("anonymous with Redis down: %s", c)
	}
	if c := curlCode(t, b.HTTP+"/readyz"); c != "503" {
		t.Errorf("readyz with Redis down: %s", c)
	}
	if l := b.waitLog(func(l string) bool { return strings.Contains(l, "shared state unavailable") }); !strings.Contains(l, "shared state unavailable") {
		t.Errorf("the outage is not logged:\n%s", l)
	}

	// Redis back: Kerberos is served again by the same processes.
	r.Start()
	deadline := time.Now().Add(15 * time.Second)
	for curlCode(t, b.HTTP+"/readyz") != "200" && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	tok3, _ := run(t, env, py, "-c", mitToken)
	if c := curlCode(t, "-H", "Authorization: Negotiate "+strings.TrimSpace(tok3), b.HTTP+"/k/"); c != "200" {
		t.Fatalf("Kerberos after Redis came back: %s\n%s", c, b.log)
	}
}

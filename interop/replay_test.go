package interop

import (
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// pythonFreshTokens sends N requests on one keep-alive connection, each
// with a fresh MIT GSSAPI context (a new authenticator), and prints the
// status counts as JSON; then it sends the last token again and prints
// that status.
const pythonFreshTokens = `
import base64, http.client, json, sys, urllib.parse, gssapi
u = urllib.parse.urlsplit(sys.argv[1]); n = int(sys.argv[2])
name = gssapi.Name("HTTP@localhost", gssapi.NameType.hostbased_service)
conn = http.client.HTTPConnection(u.hostname, u.port)
counts, hdr = {}, ""
for i in range(n):
    tok = gssapi.SecurityContext(name=name, usage="initiate", mech=gssapi.MechType.kerberos).step()
    hdr = "Negotiate " + base64.b64encode(tok).decode()
    conn.request("GET", u.path, headers={"Authorization": hdr})
    r = conn.getresponse(); r.read()
    counts[r.status] = counts.get(r.status, 0) + 1
conn.request("GET", u.path, headers={"Authorization": hdr})
r = conn.getresponse(); r.read()
print(json.dumps({"counts": counts, "replayed": r.status}))
`

// TestKerberosReplayCacheFull: a Gatehouse whose replay cache holds 1,024
// authenticators takes 4,096 fresh ones from MIT GSSAPI in a row. Every
// one is admitted (the full cache forgets the oldest instead of failing
// closed); the last, sent again, is still refused as a replay; the log
// says the window narrowed and /metrics shows it.
func TestKerberosReplayCacheFull(t *testing.T) {
	k := testenv.NeedKDC(t)
	py := testenv.File(t, "/usr/bin/python3", "Debian's python3")
	if err := exec.Command(py, "-c", "import gssapi").Run(); err != nil {
		testenv.Missing(t, "python3-gssapi (Debian package)")
	}
	env := kinit(t, k)
	s := serve(t, t.TempDir(), `
state_dir: ./state
accounts: ./gatehouse.db
listen: [{addr: 127.0.0.1:0}]
admin: {addr: 127.0.0.1:0}   # /metrics: / requires a login
kerberos:
  keytab: `+k.Keytab+`
  replay_cache_entries: 1024
sites:
  - path: /
    auth: [negotiate]
`, 1)
	const n = 4096
	out, err := run(t, env, py, "-c", pythonFreshTokens, s.HTTP+"/", strconv.Itoa(n))
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Counts   map[string]int
		Replayed int
	}
	if err := jsonUnmarshal(out, &res); err != nil {
		t.Fatal(err, out)
	}
	if res.Counts["200"] != n {
		t.Errorf("fresh authenticators: %v, want %d × 200", res.Counts, n)
	}
	if res.Replayed != 401 {
		t.Errorf("the last token replayed: %d, want 401", res.Replayed)
	}
	l := s.waitLog(func(l string) bool {
		return strings.Contains(l, "request is a replay") && strings.Contains(l, "kerberos replay cache full")
	})
	if !strings.Contains(l, "request is a replay") || !strings.Contains(l, "kerberos replay cache full") {
		t.Errorf("replay and narrowed window not logged")
	}
	if c := strings.Count(l, "kerberos replay cache full"); c != 1 {
		t.Errorf("narrowed window logged %d times in well under a minute, want once", c)
	}
	resp, err := http.Get(s.admin(t) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`(?m)^gatehouse_kerberos_replay_window_seconds (\S+)$`).FindStringSubmatch(string(body))
	if m == nil {
		t.Fatalf("no window gauge in /metrics:\n%s", body)
	}
	if w, _ := strconv.ParseFloat(m[1], 64); w >= 300 || w < 0 {
		t.Errorf("window %v s after filling the cache, want less than the 300 s skew", w)
	}
	t.Logf("window after %d fresh authenticators into 1,024 entries: %s s", n, m[1])
}

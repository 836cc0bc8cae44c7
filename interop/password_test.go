package interop

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

const passwordConfig = `
state_dir: ./state
accounts: ./gatehouse.db
listen:
  - addr: 127.0.0.1:0
  - addr: 127.0.0.1:0
    tls: {}
digest:
  algorithms: [%ALGS%]
  nonce_lifetime: %LIFE%
sites:
  - path: /
    auth: [anonymous]
  - path: /whoami
    auth: [digest, basic]
  - path: /admins
    auth: [digest, basic]
    authorization:
      - allow: {roles: [Admins]}
      - deny: {users: ["*"]}
`

func passwordServer(t *testing.T, algs, life string) *instance {
	dir := t.TempDir()
	addAccount(t, dir, "alice", "alicepw", "Admins")
	addAccount(t, dir, "bob", "bobpw")
	cfg := strings.NewReplacer("%ALGS%", algs, "%LIFE%", life).Replace(passwordConfig)
	return serve(t, dir, cfg, 2)
}

func curlCode(t *testing.T, args ...string) string {
	t.Helper()
	out, _ := run(t, nil, testenv.LookPath(t, "curl"), append([]string{"-s", "-o", "/dev/null", "-w", "%{http_code}"}, args...)...)
	return out
}

func TestCurlBasicAndDigest(t *testing.T) {
	curl := testenv.LookPath(t, "curl")
	for _, algs := range []string{"SHA-256, MD5", "MD5"} {
		t.Run(strings.ReplaceAll(algs, ", ", "+"), func(t *testing.T) {
			s := passwordServer(t, algs, "5m")
			json := []string{"-H", "Accept: application/json"}
			// Digest over plain HTTP; curl answers the first Digest challenge
			out, err := run(t, nil, curl, append([]string{"-sf", "--digest", "-u", "alice:alicepw", s.HTTP + "/whoami"}, json...)...)
			if err != nil {
				t.Fatal(err)
			}
			w := parseWhoami(t, out)
			if w.User != "alice" || w.Scheme != "Digest" || w.Mechanism != "password" || w.ChannelBinding != "not_applicable" || len(w.Groups) != 1 {
				t.Fatalf("digest whoami: %+v", w)
			}
			// verbose trace shows which algorithm curl used
			trace, _ := exec.Command(curl, "-sv", "--digest", "-u", "alice:alicepw", s.HTTP+"/whoami", "-o", "/dev/null").CombinedOutput()
			want := "algorithm=" + strings.Split(algs, ",")[0]
			if !strings.Contains(string(trace), want) {
				t.Errorf("curl did not use %s:\n%s", want, trace)
			}
			// Basic over TLS
			out, err = run(t, nil, curl, append([]string{"-sfk", "--basic", "-u", "alice:alicepw", s.HTTPS + "/whoami"}, json...)...)
			if err != nil {
				t.Fatal(err)
			}
			if w := parseWhoami(t, out); w.User != "alice" || w.Scheme != "Basic" || w.ChannelBinding != "absent" {
				t.Fatalf("basic whoami: %+v", w)
			}
			// wrong passwords
			if c := curlCode(t, "--digest", "-u", "alice:nope", s.HTTP+"/whoami"); c != "401" {
				t.Errorf("digest wrong password: %s", c)
			}
			if c := curlCode(t, "-k", "--basic", "-u", "alice:nope", s.HTTPS+"/whoami"); c != "401" {
				t.Errorf("basic wrong password: %s", c)
			}
			// Basic is neither offered nor accepted over plain HTTP
			hdrs, _ := run(t, nil, curl, "-s", "-D", "-", "-o", "/dev/null", s.HTTP+"/whoami")
			if strings.Contains(strings.ToLower(hdrs), "www-authenticate: basic") {
				t.Errorf("Basic offered over HTTP:\n%s", hdrs)
			}
			if c := curlCode(t, "--basic", "-u", "alice:alicepw", s.HTTP+"/whoami"); c != "401" {
				t.Errorf("basic over http: %s", c)
			}
			// URL authorization: bob is authenticated but not an Admin
			if c := curlCode(t, "--digest", "-u", "bob:bobpw", s.HTTP+"/admins"); c != "403" {
				t.Errorf("bob on /admins: %s", c)
			}
			if c := curlCode(t, "--digest", "-u", "alice:alicepw", s.HTTP+"/admins"); c != "200" {
				t.Errorf("alice on /admins: %s", c)
			}
			// anonymous
			if c := curlCode(t, s.HTTP+"/"); c != "200" {
				t.Errorf("anonymous /: %s", c)
			}
		})
	}
}

// pythonRequests is a script for Debian's python3-requests: a session
// makes two requests with HTTPDigestAuth, sleeping past the nonce lifetime
// in between, and reports the statuses it saw (the second must recover from
// a stale nonce without failing).
const pythonRequests = `
import json, sys, time, requests, warnings
from requests.auth import HTTPDigestAuth, HTTPBasicAuth
warnings.filterwarnings("ignore")
base, sbase, sleep = sys.argv[1], sys.argv[2], float(sys.argv[3])
s = requests.Session()
s.auth = HTTPDigestAuth("alice", "alicepw")
h = {"Accept": "application/json"}
r1 = s.get(base + "/whoami", headers=h)
time.sleep(sleep)
r2 = s.get(base + "/whoami", headers=h)
bad = requests.get(base + "/whoami", auth=HTTPDigestAuth("alice", "wrong"))
basic = requests.get(sbase + "/whoami", auth=HTTPBasicAuth("alice", "alicepw"), headers=h, verify=False)
print(json.dumps({"r1": r1.status_code, "r2": r2.status_code, "who": r2.json() if r2.ok else None,
    "stale": any(h.status_code == 401 and "stale=true" in h.headers.get("WWW-Authenticate", "") for h in r2.history), "bad": bad.status_code,
    "basic": basic.status_code, "basic_who": basic.json() if basic.ok else None}))
`

func TestPythonRequestsDigest(t *testing.T) {
	py := testenv.File(t, "/usr/bin/python3", "Debian's python3")
	if err := exec.Command(py, "-c", "import requests").Run(); err != nil {
		testenv.Missing(t, "python3-requests (Debian package)")
	}
	for _, algs := range []string{"SHA-256, MD5", "MD5"} {
		t.Run(strings.ReplaceAll(algs, ", ", "+"), func(t *testing.T) {
			s := passwordServer(t, algs, "1s")
			out, err := run(t, nil, py, "-c", pythonRequests, s.HTTP, s.HTTPS, "2.2")
			if err != nil {
				t.Fatal(err)
			}
			var res struct {
				R1, R2, Bad, Basic int
				Stale              bool
				Who                *whoami `json:"who"`
				BasicWho           *whoami `json:"basic_who"`
			}
			if err := jsonUnmarshal(out, &res); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if res.R1 != 200 || res.R2 != 200 || res.Bad != 401 || res.Basic != 200 {
				t.Fatalf("statuses: %s", out)
			}
			if !res.Stale {
				t.Errorf("no stale=true seen after the nonce expired: %s", out)
			}
			if res.BasicWho == nil || res.BasicWho.Scheme != "Basic" {
				t.Errorf("basic whoami: %s", out)
			}
			if res.Who == nil || res.Who.User != "alice" || res.Who.Scheme != "Digest" {
				t.Errorf("whoami: %s", out)
			}
		})
	}
}

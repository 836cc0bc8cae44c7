package interop

import (
	"encoding/base64"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/krb"
	"github.com/gatehouse-auth/gatehouse/spnego"
)

// kinit gets alice a TGT in a private ccache and returns the environment
// a Kerberos client needs.
func kinit(t *testing.T, k testenv.KDC) []string {
	t.Helper()
	return kinitArgs(t, k)
}

func kerberosServer(t *testing.T, k testenv.KDC) *instance {
	t.Helper()
	dir := t.TempDir()
	cfg := `
state_dir: ./state
accounts: ./gatehouse.db
listen:
  - addr: 127.0.0.1:0
  - addr: 127.0.0.1:0
    tls: {}
kerberos:
  keytab: ` + k.Keytab + `
sites:
  - path: /
    auth: [anonymous]
  - path: /whoami
    auth: [negotiate]
  - path: /admins
    auth: [negotiate]
    authorization:
      - deny: {users: [alice@EXAMPLE.TEST]}
`
	return serve(t, dir, cfg, 2)
}

func TestKerberosCurl(t *testing.T) {
	k := testenv.NeedKDC(t)
	curl := testenv.LookPath(t, "curl")
	env := kinit(t, k)
	s := kerberosServer(t, k)
	for _, base := range []string{s.HTTP, s.HTTPS} {
		out, err := run(t, env, curl, "-sfk", "--negotiate", "-u", ":", "-H", "Accept: application/json", base+"/whoami")
		if err != nil {
			t.Fatal(err)
		}
		w := parseWhoami(t, out)
		if w.User != "alice@EXAMPLE.TEST" || w.Name != "alice" || w.Domain != "EXAMPLE.TEST" || w.Scheme != "Negotiate" || w.Mechanism != "kerberos" {
			t.Fatalf("whoami %+v", w)
		}
	}
	// the AP-REP comes back with the 200 (mutual authentication)
	hdrs, _ := run(t, env, curl, "-s", "--negotiate", "-u", ":", "-D", "-", "-o", "/dev/null", s.HTTP+"/whoami")
	if !strings.Contains(hdrs, "200 OK") || !regexpNegotiateToken.MatchString(hdrs) {
		t.Errorf("no Negotiate token with the 200:\n%s", hdrs)
	}
	// no ticket: 401
	if c := curlCode(t, s.HTTP+"/whoami"); c != "401" {
		t.Errorf("anonymous: %s", c)
	}
	// authorization by principal name
	if c := curlCodeEnv(t, env, "--negotiate", "-u", ":", s.HTTP+"/admins"); c != "403" {
		t.Errorf("denied principal: %s", c)
	}
}

func curlCodeEnv(t *testing.T, env []string, args ...string) string {
	t.Helper()
	out, _ := run(t, env, testenv.LookPath(t, "curl"), append([]string{"-s", "-o", "/dev/null", "-w", "%{http_code}"}, args...)...)
	return out
}

// pythonGSSAPI drives MIT GSSAPI by hand: it builds the token for
// HTTP@localhost with the mechanism named, sends it, and checks the
// server's AP-REP completes the context (mutual authentication).
const pythonGSSAPI = `
import base64, json, sys, urllib.request, gssapi
url, mech = sys.argv[1], sys.argv[2]
oid = {"krb5": gssapi.MechType.kerberos, "spnego": gssapi.OID.from_int_seq("1.3.6.1.5.5.2")}[mech]
name = gssapi.Name("HTTP@localhost", gssapi.NameType.hostbased_service)
ctx = gssapi.SecurityContext(name=name, usage="initiate", mech=oid,
    flags=gssapi.RequirementFlag.mutual_authentication | gssapi.RequirementFlag.out_of_sequence_detection)
tok = ctx.step()
req = urllib.request.Request(url, headers={"Authorization": "Negotiate " + base64.b64encode(tok).decode(), "Accept": "application/json"})
resp = urllib.request.urlopen(req)
hdr = resp.headers.get("WWW-Authenticate", "")
assert hdr.startswith("Negotiate "), "no mutual auth token: %r" % hdr
ctx.step(base64.b64decode(hdr.split(" ", 1)[1]))
print(json.dumps({"complete": ctx.complete, "who": json.load(resp)}))
`

func TestKerberosPythonGSSAPI(t *testing.T) {
	k := testenv.NeedKDC(t)
	py := testenv.File(t, "/usr/bin/python3", "Debian's python3")
	if err := exec.Command(py, "-c", "import gssapi").Run(); err != nil {
		testenv.Missing(t, "python3-gssapi (Debian package)")
	}
	env := kinit(t, k)
	s := kerberosServer(t, k)
	for _, mech := range []string{"krb5", "spnego"} {
		out, err := run(t, env, py, "-c", pythonGSSAPI, s.HTTP+"/whoami", mech)
		if err != nil {
			t.Fatalf("%s: %v", mech, err)
		}
		var res struct {
			Complete bool
			Who      whoami
		}
		if err := jsonUnmarshal(out, &res); err != nil {
			t.Fatal(err)
		}
		if !res.Complete || res.Who.User != "alice@EXAMPLE.TEST" || res.Who.Mechanism != "kerberos" {
			t.Fatalf("%s: %s", mech, out)
		}
	}
}

const pythonRequestsKerberos = `
import json, sys, requests
from requests_kerberos import HTTPKerberosAuth, REQUIRED
r = requests.get(sys.argv[1], auth=HTTPKerberosAuth(mutual_authentication=REQUIRED), headers={"Accept": "application/json"})
print(json.dumps({"status": r.status_code, "who": r.json() if r.ok else None}))
`

func TestKerberosRequestsKerberos(t *testing.T) {
	k := testenv.NeedKDC(t)
	py := testenv.File(t, "/usr/bin/python3", "Debian's python3")
	if err := exec.Command(py, "-c", "import requests_kerberos").Run(); err != nil {
		testenv.Missing(t, "python3-requests-kerberos (Debian package)")
	}
	env := kinit(t, k)
	s := kerberosServer(t, k)
	out, err := run(t, env, py, "-c", pythonRequestsKerberos, s.HTTP+"/whoami")
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Status int
		Who    *whoami
	}
	if err := jsonUnmarshal(out, &res); err != nil || res.Status != 200 || res.Who == nil || res.Who.User != "alice@EXAMPLE.TEST" {
		t.Fatalf("%v: %s", err, out)
	}
}

func TestKerberosChromium(t *testing.T) {
	k := testenv.NeedKDC(t)
	chrome := testenv.File(t, "/usr/lib/chromium/chromium-headless-shell", "Debian's chromium-headless-shell")
	env := kinit(t, k)
	s := kerberosServer(t, k)
	out, err := run(t, env, chrome, "--no-sandbox", "--user-data-dir="+t.TempDir(), "--auth-server-allowlist=localhost",
		"--disable-background-networking", "--disable-component-update", "--no-first-run", "--dump-dom", s.HTTP+"/whoami")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `<td id="user">alice@EXAMPLE.TEST</td>`) || !strings.Contains(out, `<td id="mechanism">kerberos</td>`) {
		t.Fatalf("chromium page:\n%s", out)
	}
}

// mitToken prints one SPNEGO token for HTTP@localhost from MIT GSSAPI.
const mitToken = `
import base64, gssapi
name = gssapi.Name("HTTP@localhost", gssapi.NameType.hostbased_service)
ctx = gssapi.SecurityContext(name=name, usage="initiate", mech=gssapi.OID.from_int_seq("1.3.6.1.5.5.2"),
    flags=gssapi.RequirementFlag.mutual_authentication)
print(base64.b64encode(ctx.step()).decode())
`

func TestKerberosRefusals(t *testing.T) {
	k := testenv.NeedKDC(t)
	py := testenv.File(t, "/usr/bin/python3", "Debian's python3")
	env := kinit(t, k)
	s := kerberosServer(t, k)
	tok, err := run(t, env, py, "-c", mitToken)
	if err != nil {
		t.Fatal(err)
	}
	hdr := "Authorization: Negotiate " + strings.TrimSpace(tok)
	if c := curlCode(t, "-H", hdr, s.HTTP+"/whoami"); c != "200" {
		t.Fatalf("first use: %s", c)
	}
	// the same token again, on a new connection: a replay
	if c := curlCode(t, "-H", hdr, s.HTTP+"/whoami"); c != "401" {
		t.Errorf("replayed token: %s, want 401", c)
	}
	if l := s.waitLog(func(l string) bool { return strings.Contains(l, "replay") }); !strings.Contains(l, "replay") {
		t.Errorf("replay not logged:\n%s", l)
	}
	// a server that is another service principal, HTTP/elsewhere
	otherKT := testenv.File(t, os.Getenv("GATEHOUSE_OTHER_KEYTAB"), "keytab of HTTP/elsewhere from scripts/kdc-up.sh")
	other := serve(t, t.TempDir(), `
state_dir: ./state
listen: [{addr: 127.0.0.1:0}]
kerberos: {keytab: `+otherKT+`}
sites: [{path: /, auth: [negotiate]}]
`, 1)
	tok2, _ := run(t, env, py, "-c", mitToken)
	if c := curlCode(t, "-H", "Authorization: Negotiate "+strings.TrimSpace(tok2), other.HTTP+"/"); c != "401" {
		t.Errorf("ticket for another SPN: %s, want 401", c)
	}
	// garbage and truncated tokens: 400, no crash
	if c := curlCode(t, "-H", "Authorization: Negotiate !!!", s.HTTP+"/whoami"); c != "400" {
		t.Errorf("bad base64: %s", c)
	}
	if c := curlCode(t, "-H", "Authorization: Negotiate "+strings.TrimSpace(tok2)[:40], s.HTTP+"/whoami"); c != "400" {
		t.Errorf("truncated token: %s", c)
	}
}

// TestKerberosClockSkew gives a real MIT token to an acceptor whose clock
// is off by more than the allowed skew.
func TestKerberosClockSkew(t *testing.T) {
	k := testenv.NeedKDC(t)
	py := testenv.File(t, "/usr/bin/python3", "Debian's python3")
	env := kinit(t, k)
	kt := loadKeytab(t, k.Keytab)
	for _, off := range []time.Duration{-10 * time.Minute, 10 * time.Minute} {
		tok, err := run(t, env, py, "-c", mitToken)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(tok))
		init, err := spnego.ParseNegTokenInit(raw)
		if err != nil {
			t.Fatal(err)
		}
		a, err := krb.NewAcceptor(krb.Config{Keytab: kt, Now: func() time.Time { return time.Now().Add(off) }})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Accept(init.MechToken, nil); !errors.Is(err, krb.ErrSkew) && !errors.Is(err, krb.ErrAuthFailed) {
			t.Errorf("clock off by %v: %v, want a skew failure", off, err)
		}
		ok, _ := krb.NewAcceptor(krb.Config{Keytab: kt})
		if _, err := ok.Accept(init.MechToken, nil); err != nil {
			t.Errorf("same token, right clock: %v", err)
		}
	}
}

func loadKeytab(t *testing.T, path string) *keytab.Keytab {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	kt := keytab.New()
	if err := kt.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	return kt
}

// TestKerberosSessions logs in once with Negotiate, then uses only the
// session cookie (curl's cookie jar, no ticket needed any more).
func TestKerberosSessions(t *testing.T) {
	k := testenv.NeedKDC(t)
	curl := testenv.LookPath(t, "curl")
	env := kinit(t, k)
	s := serve(t, t.TempDir(), `
state_dir: ./state
listen: [{addr: 127.0.0.1:0}]
kerberos: {keytab: `+k.Keytab+`}
sites:
  - {path: /, auth: [anonymous]}
  - {path: /app, auth: [negotiate], sessions: true}
`, 1)
	jar := filepath.Join(t.TempDir(), "jar")
	out, err := run(t, env, curl, "-sf", "--negotiate", "-u", ":", "-c", jar, "-H", "Accept: application/json", s.HTTP+"/app/whoami")
	if err != nil {
		t.Fatal(err)
	}
	if w := parseWhoami(t, out); w.Session || w.Mechanism != "kerberos" {
		t.Fatalf("login: %+v", w)
	}
	// no Negotiate now: the cookie alone
	out, err = run(t, nil, curl, "-sf", "-b", jar, "-H", "Accept: application/json", s.HTTP+"/app/x")
	if err != nil {
		t.Fatal(err)
	}
	if w := parseWhoami(t, out); !w.Session || w.User != "alice@EXAMPLE.TEST" || w.Scheme != "Negotiate" {
		t.Fatalf("session: %+v", w)
	}
	if c := curlCode(t, s.HTTP+"/app/x"); c != "401" {
		t.Errorf("without the cookie: %s", c)
	}
}

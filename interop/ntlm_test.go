package interop

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/ntlm"
)

const ntlmConfig = `
state_dir: ./state
accounts: ./gatehouse.db
ntlm: {domain: EXAMPLE}
extended_protection: {enforcement: %s}
listen:
  - addr: 127.0.0.1:0
  - addr: 127.0.0.1:0
    tls: {}
sites:
  - path: /
    auth: [anonymous]
  - path: /whoami
    auth: [negotiate, ntlm]
`

func ntlmServer(t *testing.T, enforcement string) (*instance, string) {
	t.Helper()
	dir := t.TempDir()
	addAccount(t, dir, "alice", "alicepw", "Admins")
	return serve(t, dir, fmt.Sprintf(ntlmConfig, enforcement), 2), dir
}

func TestNTLMCurl(t *testing.T) {
	curl := testenv.LookPath(t, "curl")
	s, _ := ntlmServer(t, "never")
	for _, base := range []string{s.HTTP, s.HTTPS} {
		out, err := run(t, nil, curl, "-sfk", "--ntlm", "-u", "alice:alicepw", "-H", "Accept: application/json", base+"/whoami")
		if err != nil {
			t.Fatal(err)
		}
		w := parseWhoami(t, out)
		if w.User != "alice" || w.Scheme != "NTLM" || w.Mechanism != "ntlm" || w.Domain != "EXAMPLE" || w.ServiceName != nil {
			t.Fatalf("%+v", w)
		}
	}
	if c := curlCode(t, "--ntlm", "-u", "alice:wrong", s.HTTP+"/whoami"); c != "401" {
		t.Errorf("wrong password: %s", c)
	}
	if c := curlCode(t, "--ntlm", "-u", "nobody:x", s.HTTP+"/whoami"); c != "401" {
		t.Errorf("unknown user: %s", c)
	}
	// the connection stays authenticated: two URLs, one handshake
	out, _ := run(t, nil, curl, "-sv", "--ntlm", "-u", "alice:alicepw", s.HTTP+"/whoami", s.HTTP+"/whoami/x")
	_ = out
}

// legacyOpenSSL is an OPENSSL_CONF that turns on MD4 (needed by Python's
// ntlm-auth under OpenSSL 3).
func legacyOpenSSL(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "openssl.cnf")
	os.WriteFile(p, []byte(`openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
default = default_sect
legacy = legacy_sect
[default_sect]
activate = 1
[legacy_sect]
activate = 1
`), 0o644)
	return p
}

const pythonRequestsNTLM = `
import json, sys, warnings, requests
from requests_ntlm import HttpNtlmAuth
warnings.filterwarnings("ignore")
url, user, pw = sys.argv[1:4]
r = requests.get(url, auth=HttpNtlmAuth(user, pw), headers={"Accept": "application/json"}, verify=False)
print(json.dumps({"status": r.status_code, "who": r.json() if r.ok else None}))
`

func TestNTLMRequestsNTLM(t *testing.T) {
	py := testenv.File(t, "/usr/bin/python3", "Debian's python3")
	if err := exec.Command(py, "-c", "import requests_ntlm").Run(); err != nil {
		testenv.Missing(t, "python3-requests-ntlm (Debian package)")
	}
	env := []string{"OPENSSL_CONF=" + legacyOpenSSL(t)}
	for _, enf := range []string{"never", "always"} {
		s, _ := ntlmServer(t, enf)
		// over HTTPS requests-ntlm sends channel bindings: even "always" lets it in
		out, err := run(t, env, py, "-c", pythonRequestsNTLM, s.HTTPS+"/whoami", `EXAMPLE\alice`, "alicepw")
		if err != nil {
			t.Fatal(err)
		}
		var res struct {
			Status int
			Who    *whoami
		}
		jsonUnmarshal(out, &res)
		if res.Status != 200 || res.Who.Mechanism != "ntlm" || res.Who.User != "alice" {
			t.Fatalf("%s: %s", enf, out)
		}
		if enf == "always" && res.Who.ChannelBinding != "verified" {
			t.Errorf("requests-ntlm over HTTPS: channel_binding %s", res.Who.ChannelBinding)
		}
		out, _ = run(t, env, py, "-c", pythonRequestsNTLM, s.HTTPS+"/whoami", `EXAMPLE\alice`, "bad")
		if !strings.Contains(out, `"status": 401`) {
			t.Errorf("wrong password: %s", out)
		}
	}
}

// pythonGSSNTLM is MIT GSSAPI with gss-ntlmssp as the initiator, raw NTLM
// or inside SPNEGO, with channel bindings right/wrong/none.
const pythonGSSNTLM = `
import base64, json, ssl, sys, http.client, gssapi
from gssapi.raw import ChannelBindings, acquire_cred_with_password
host, port, scheme, mech, cbmode, certhash = sys.argv[1:7]
ntlm = gssapi.OID.from_int_seq("1.3.6.1.4.1.311.2.2.10")
spnego = gssapi.OID.from_int_seq("1.3.6.1.5.5.2")
user = gssapi.Name("EXAMPLE\\alice", gssapi.NameType.user)
if mech == "spnego":
    cred = acquire_cred_with_password(user, b"alicepw", mechs=[spnego], usage="initiate").creds
    gssapi.raw.set_neg_mechs(cred, [ntlm])
else:
    cred = acquire_cred_with_password(user, b"alicepw", mechs=[ntlm], usage="initiate").creds
cb = None
if cbmode == "right":
    cb = ChannelBindings(application_data=b"tls-server-end-point:" + bytes.fromhex(certhash))
elif cbmode == "wrong":
    cb = ChannelBindings(application_data=b"tls-server-end-point:" + bytes(32))
ctx = gssapi.SecurityContext(name=gssapi.Name("HTTP@localhost", gssapi.NameType.hostbased_service),
    creds=cred, usage="initiate", mech=spnego if mech == "spnego" else ntlm, channel_bindings=cb)
if scheme == "https":
    c = http.client.HTTPSConnection(host, int(port), context=ssl._create_unverified_context())
else:
    c = http.client.HTTPConnection(host, int(port))
hdr = "Negotiate" if mech == "spnego" else "NTLM"
tok = ctx.step()
status, who = None, None
while True:
    c.request("GET", "/whoami", headers={"Authorization": hdr + " " + base64.b64encode(tok).decode(), "Accept": "application/json"})
    r = c.getresponse(); body = r.read(); status = r.status
    www = r.getheader("WWW-Authenticate", "")
    if status == 401 and www.startswith(hdr + " ") and not ctx.complete:
        tok = ctx.step(base64.b64decode(www.split(" ", 1)[1]))
        continue
    if status == 200:
        who = json.loads(body)
        if www.startswith(hdr + " ") and not ctx.complete:
            ctx.step(base64.b64decode(www.split(" ", 1)[1]))
    break
print(json.dumps({"status": status, "who": who}))
`

func TestNTLMGSSNTLMSSP(t *testing.T) {
	py := testenv.File(t, "/usr/bin/python3", "Debian's python3")
	testenv.File(t, "/usr/lib/x86_64-linux-gnu/gssntlmssp/gssntlmssp.so", "gss-ntlmssp (Debian package)")
	for _, enf := range []string{"never", "when_supported", "always"} {
		s, dir := ntlmServer(t, enf)
		hash := certHash(t, filepath.Join(dir, "state", "server.crt"))
		for _, mech := range []string{"ntlm", "spnego"} {
			for _, tc := range []struct{ scheme, cb string }{{"https", "right"}, {"https", "wrong"}, {"https", "none"}, {"http", "none"}} {
				base := s.HTTPS
				if tc.scheme == "http" {
					base = s.HTTP
				}
				hp := strings.TrimPrefix(strings.TrimPrefix(base, "https://"), "http://")
				host, port, _ := strings.Cut(hp, ":")
				out, err := run(t, nil, py, "-c", pythonGSSNTLM, host, port, tc.scheme, mech, tc.cb, hash)
				if err != nil {
					t.Fatalf("%s %s %+v: %v", enf, mech, tc, err)
				}
				var res struct {
					Status int
					Who    *whoami
				}
				jsonUnmarshal(out, &res)
				want := 200
				switch {
				case enf == "never":
				case tc.scheme == "https" && tc.cb == "wrong":
					want = 401
				case tc.scheme == "https" && tc.cb == "none" && enf == "always":
					want = 401
				}
				if res.Status != want {
					t.Errorf("enforcement=%s mech=%s %s cb=%s: %d, want %d", enf, mech, tc.scheme, tc.cb, res.Status, want)
					continue
				}
				if res.Who != nil && (res.Who.Mechanism != "ntlm" || res.Who.User != "alice") {
					t.Errorf("%s: whoami %+v", mech, res.Who)
				}
			}
		}
	}
}

func TestNTLMChromium(t *testing.T) {
	chrome := testenv.File(t, "/usr/lib/chromium/chromium-headless-shell", "Debian's chromium-headless-shell")
	s, _ := ntlmServer(t, "always")
	u := strings.Replace(s.HTTPS, "https://", `https://EXAMPLE%5Calice:alicepw@`, 1) + "/whoami"
	out, err := run(t, nil, chrome, "--no-sandbox", "--user-data-dir="+t.TempDir(), "--ignore-certificate-errors",
		"--disable-background-networking", "--disable-component-update", "--no-first-run", "--dump-dom", u)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `<td id="user">alice</td>`) || !strings.Contains(out, `<td id="mechanism">ntlm</td>`) ||
		!strings.Contains(out, `<td id="channel_binding">verified</td>`) {
		t.Fatalf("chromium page:\n%s", out)
	}
}

// pythonNTLMAcceptor is gss-ntlmssp's acceptor driven line by line: each
// input line is a base64 token, each output line the base64 reply (or
// DONE user / FAIL reason).
const pythonNTLMAcceptor = `
import base64, sys, gssapi
ntlm = gssapi.OID.from_int_seq("1.3.6.1.4.1.311.2.2.10")
ctx = gssapi.SecurityContext(usage="accept", creds=gssapi.Credentials(usage="accept", mechs=[ntlm]))
for line in sys.stdin:
    try:
        out = ctx.step(base64.b64decode(line.strip()))
    except Exception as e:
        print("FAIL " + str(e).replace("\n", " "), flush=True); break
    if ctx.complete:
        print("DONE " + str(ctx.initiator_name), flush=True); break
    print(base64.b64encode(out or b"").decode(), flush=True)
`

// TestNTLMInitiatorAgainstGSSNTLMSSP: our initiator logs in to
// gss-ntlmssp's acceptor (users from NTLM_USER_FILE).
func TestNTLMInitiatorAgainstGSSNTLMSSP(t *testing.T) {
	py := testenv.File(t, "/usr/bin/python3", "Debian's python3")
	testenv.File(t, "/usr/lib/x86_64-linux-gnu/gssntlmssp/gssntlmssp.so", "gss-ntlmssp (Debian package)")
	users := filepath.Join(t.TempDir(), "users")
	os.WriteFile(users, []byte("EXAMPLE:alice:alicepw\n"), 0o600)
	for _, pw := range []string{"alicepw", "wrong"} {
		cmd := exec.Command(py, "-c", pythonNTLMAcceptor)
		cmd.Env = append(os.Environ(), "NTLM_USER_FILE="+users)
		in, _ := cmd.StdinPipe()
		outp, _ := cmd.StdoutPipe()
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		rd := bufio.NewScanner(outp)
		cl := ntlm.NewClient(ntlm.ClientConfig{User: "alice", Domain: "EXAMPLE", Password: pw, Workstation: "GATEHOUSE", TargetName: "HTTP/localhost"})
		neg, _ := cl.Negotiate()
		fmt.Fprintln(in, base64.StdEncoding.EncodeToString(neg))
		if !rd.Scan() {
			t.Fatal("acceptor said nothing")
		}
		ch, err := base64.StdEncoding.DecodeString(rd.Text())
		if err != nil {
			t.Fatalf("acceptor: %s", rd.Text())
		}
		auth, err := cl.Authenticate(ch)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(in, base64.StdEncoding.EncodeToString(auth))
		rd.Scan()
		got := rd.Text()
		in.Close()
		cmd.Wait()
		if pw == "alicepw" && !strings.HasPrefix(got, "DONE") {
			t.Errorf("gss-ntlmssp refused our initiator: %s", got)
		}
		if pw == "wrong" && !strings.HasPrefix(got, "FAIL") {
			t.Errorf("gss-ntlmssp accepted a wrong password: %s", got)
		}
	}
}

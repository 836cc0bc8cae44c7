package interop

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// pythonSPNEGOTwoMechs is MIT's SPNEGO initiator offering NTLM first (its
// optimistic token, gss-ntlmssp) and Kerberos second, mutual
// authentication and integrity asked for; it follows the server's
// NegTokenResp legs on one connection and reports how many it took.
const pythonSPNEGOTwoMechs = `
import base64, json, sys, http.client, gssapi
host, port = sys.argv[1], sys.argv[2]
ntlm = gssapi.OID.from_int_seq("1.3.6.1.4.1.311.2.2.10")
spnego = gssapi.OID.from_int_seq("1.3.6.1.5.5.2")
cred = gssapi.Credentials(usage="initiate", mechs=[spnego])
gssapi.raw.set_neg_mechs(cred, [ntlm, gssapi.MechType.kerberos])
ctx = gssapi.SecurityContext(name=gssapi.Name("HTTP@localhost", gssapi.NameType.hostbased_service),
    creds=cred, usage="initiate", mech=spnego,
    flags=gssapi.RequirementFlag.mutual_authentication | gssapi.RequirementFlag.integrity)
c = http.client.HTTPConnection(host, int(port))
tok = ctx.step()
legs, status, who = 0, None, None
while True:
    legs += 1
    c.request("GET", "/whoami", headers={"Authorization": "Negotiate " + base64.b64encode(tok).decode(), "Accept": "application/json"})
    r = c.getresponse(); body = r.read(); status = r.status
    www = r.getheader("WWW-Authenticate", "")
    if status == 401 and www.startswith("Negotiate ") and not ctx.complete:
        tok = ctx.step(base64.b64decode(www.split(" ", 1)[1]))
        continue
    if status == 200:
        who = json.loads(body)
        if www.startswith("Negotiate ") and not ctx.complete:
            ctx.step(base64.b64decode(www.split(" ", 1)[1]))
    break
print(json.dumps({"status": status, "legs": legs, "complete": ctx.complete, "who": who}))
`

// TestSPNEGOTwoMechanismsMIT: with negotiate.mechanisms [kerberos] the
// server counter-proposes Kerberos to MIT's NTLM-first initiator; the
// exchange then takes three legs (AP-REQ; AP-REP with the server's
// Kerberos mechListMIC; the client's MIC), and MIT's initiator completes
// only if our MIC verified. With the default mechanisms the optimistic
// NTLM token is taken, MIC both ways.
func TestSPNEGOTwoMechanismsMIT(t *testing.T) {
	k := testenv.NeedKDC(t)
	py := testenv.File(t, "/usr/bin/python3", "Debian's python3")
	testenv.File(t, "/usr/lib/x86_64-linux-gnu/gssntlmssp/gssntlmssp.so", "gss-ntlmssp (Debian package)")
	if err := exec.Command(py, "-c", "import gssapi").Run(); err != nil {
		testenv.Missing(t, "python3-gssapi (Debian package)")
	}
	users := filepath.Join(t.TempDir(), "ntlm_users")
	if err := os.WriteFile(users, []byte("EXAMPLE:alice:alicepw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(kinit(t, k), "NTLM_USER_FILE="+users, "NTLMUSER=alice")
	for _, tc := range []struct {
		mechs, want string
		legs        int
	}{
		{"[kerberos]", "kerberos", 3},
		{"[kerberos, ntlm]", "ntlm", 2},
	} {
		dir := t.TempDir()
		addAccount(t, dir, "alice", "alicepw")
		s := serve(t, dir, `
state_dir: ./state
accounts: ./gatehouse.db
ntlm: {domain: EXAMPLE}
negotiate: {mechanisms: `+tc.mechs+`}
kerberos:
  keytab: `+k.Keytab+`
listen:
  - addr: 127.0.0.1:0
sites:
  - path: /whoami
    auth: [negotiate]
`, 1)
		host, port, _ := strings.Cut(strings.TrimPrefix(s.HTTP, "http://"), ":")
		out, err := run(t, env, py, "-c", pythonSPNEGOTwoMechs, host, port)
		if err != nil {
			t.Fatalf("%s: %v", tc.mechs, err)
		}
		var res struct {
			Status   int
			Legs     int
			Complete bool
			Who      *whoami
		}
		if err := jsonUnmarshal(out, &res); err != nil {
			t.Fatal(err)
		}
		if res.Status != 200 || !res.Complete || res.Legs != tc.legs || res.Who == nil || res.Who.Mechanism != tc.want {
			t.Errorf("mechanisms %s: %s\n%s", tc.mechs, out, s.log.String())
		}
	}
}

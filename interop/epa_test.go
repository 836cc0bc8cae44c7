package interop

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// pythonGSSAPICB is MIT GSSAPI (Kerberos, or NTLM with gss-ntlmssp) with
// channel bindings right, wrong or absent. It prints the HTTP status and,
// on 200, the whoami JSON.
const pythonGSSAPICB = `
import base64, json, ssl, sys, urllib.request, urllib.error, gssapi
from gssapi.raw import ChannelBindings
url, mech, cbmode, certhash = sys.argv[1:5]
oid = {"krb5": gssapi.MechType.kerberos, "spnego": gssapi.OID.from_int_seq("1.3.6.1.5.5.2")}[mech]
cb = None
if cbmode == "right":
    cb = ChannelBindings(application_data=b"tls-server-end-point:" + bytes.fromhex(certhash))
elif cbmode == "wrong":
    cb = ChannelBindings(application_data=b"tls-server-end-point:" + bytes(32))
name = gssapi.Name("HTTP@localhost", gssapi.NameType.hostbased_service)
ctx = gssapi.SecurityContext(name=name, usage="initiate", mech=oid, channel_bindings=cb,
    flags=gssapi.RequirementFlag.mutual_authentication)
tok = ctx.step()
req = urllib.request.Request(url, headers={"Authorization": "Negotiate " + base64.b64encode(tok).decode(), "Accept": "application/json"})
sslctx = ssl.create_default_context(); sslctx.check_hostname = False; sslctx.verify_mode = ssl.CERT_NONE
try:
    resp = urllib.request.urlopen(req, context=sslctx)
    print(json.dumps({"status": resp.status, "who": json.load(resp)}))
except urllib.error.HTTPError as e:
    print(json.dumps({"status": e.code, "who": None}))
`

// certHash is the tls-server-end-point hash of a PEM certificate
// (ECDSA-SHA256 self-signed: SHA-256 of the DER).
func certHash(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	h := sha256.Sum256(blk.Bytes)
	return hex.EncodeToString(h[:])
}

func TestExtendedProtectionKerberos(t *testing.T) {
	k := testenv.NeedKDC(t)
	py := testenv.File(t, "/usr/bin/python3", "Debian's python3")
	if err := exec.Command(py, "-c", "import gssapi").Run(); err != nil {
		testenv.Missing(t, "python3-gssapi (Debian package)")
	}
	env := kinit(t, k)
	type result struct {
		Status int
		Who    *whoami
	}
	for _, enf := range []string{"never", "when_supported", "always"} {
		dir := t.TempDir()
		s := serve(t, dir, fmt.Sprintf(`
state_dir: ./state
listen: [{addr: 127.0.0.1:0}, {addr: 127.0.0.1:0, tls: {}}]
kerberos: {keytab: %s}
extended_protection: {enforcement: %s}
sites: [{path: /, auth: [negotiate]}]
`, k.Keytab, enf), 2)
		hash := certHash(t, filepath.Join(dir, "state", "server.crt"))
		for _, cb := range []string{"right", "wrong", "none"} {
			out, err := run(t, env, py, "-c", pythonGSSAPICB, s.HTTPS+"/", "spnego", cb, hash)
			if err != nil {
				t.Fatal(err)
			}
			var res result
			if err := jsonUnmarshal(out, &res); err != nil {
				t.Fatal(err)
			}
			want := 200
			switch {
			case enf == "never":
			case cb == "wrong":
				want = 401
			case cb == "none" && enf == "always":
				want = 401
			}
			if res.Status != want {
				t.Errorf("https enforcement=%s cb=%s: %d, want %d", enf, cb, res.Status, want)
				continue
			}
			if res.Who != nil {
				wantCB := "absent"
				if cb == "right" {
					wantCB = "verified"
				}
				if res.Who.ChannelBinding != wantCB || res.Who.ServiceName == nil || *res.Who.ServiceName != "HTTP/localhost" {
					t.Errorf("https enforcement=%s cb=%s: whoami %+v", enf, cb, res.Who)
				}
			}
		}
		// plain HTTP: the SPN in the ticket is checked against the derived list
		out, _ := run(t, env, py, "-c", pythonGSSAPICB, s.HTTP+"/", "krb5", "none", hash)
		var res result
		jsonUnmarshal(out, &res)
		if res.Status != 200 || res.Who.ChannelBinding != "not_applicable" {
			t.Errorf("http enforcement=%s: %s", enf, out)
		}
	}
	// service binding: a server that calls itself something else refuses
	dir := t.TempDir()
	s := serve(t, dir, `
state_dir: ./state
listen: [{addr: 127.0.0.1:0}]
kerberos: {keytab: `+k.Keytab+`}
extended_protection: {enforcement: when_supported, service_names: [HTTP/www.example.test]}
sites: [{path: /, auth: [negotiate]}]
`, 1)
	if c := curlCodeEnv(t, env, "--negotiate", "-u", ":", s.HTTP+"/"); c != "401" {
		t.Errorf("wrong service name: %s", c)
	}
}

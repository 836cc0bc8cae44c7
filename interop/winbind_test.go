package interop

import (
	"os"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// TestNTLMPassThroughToDomainController: ntlm.verifier winbind sends the
// challenge and response to a Samba AD DC (scripts/samba-dc.sh) through
// ntlm_auth; curl and requests-ntlm (MIC, channel bindings) log in as a
// domain user that has no local account.
func TestNTLMPassThroughToDomainController(t *testing.T) {
	helper := os.Getenv("GATEHOUSE_NTLM_AUTH")
	if helper == "" {
		testenv.Missing(t, "Samba AD DC (eval \"$(scripts/samba-dc.sh up DIR)\" sets GATEHOUSE_NTLM_AUTH)")
	}
	curl := testenv.LookPath(t, "curl")
	s := serve(t, t.TempDir(), `
state_dir: ./state
listen: [{addr: 127.0.0.1:0}, {addr: 127.0.0.1:0, tls: {}}]
ntlm: {verifier: winbind, ntlm_auth: `+helper+`, domain: SAMBA}
extended_protection: {enforcement: when_supported}
sites: [{path: /, auth: [negotiate, ntlm]}]
`, 2)
	out, err := run(t, nil, curl, "-sf", "--ntlm", "-u", `SAMBA\carol:Carol-pw-1`, "-H", "Accept: application/json", s.HTTP+"/")
	if err != nil {
		t.Fatal(err)
	}
	if w := parseWhoami(t, out); w.User != `SAMBA\carol` || w.Name != "carol" || w.Domain != "SAMBA" || w.Mechanism != "ntlm" {
		t.Fatalf("%+v", w)
	}
	if c := curlCode(t, "--ntlm", "-u", `SAMBA\carol:wrong`, s.HTTP+"/"); c != "401" {
		t.Errorf("wrong password: %s", c)
	}
	if l := s.waitLog(func(l string) bool {
		return strings.Contains(l, "WRONG_PASSWORD") || strings.Contains(l, "password")
	}); !strings.Contains(l, "WRONG_PASSWORD") && !strings.Contains(l, "password") {
		t.Errorf("the DC's reason is not in the log:\n%s", l)
	}
	// our initiator over HTTPS: MIC checked with the session key the DC
	// returned, channel bindings verified
	out, e, ok := get(t, nil, "--ntlm", "-u", `SAMBA\carol:Carol-pw-1`, "-k", "-H", "Accept: application/json", s.HTTPS+"/")
	if w := parseWhoami(t, out); !ok || w.ChannelBinding != "verified" || w.User != `SAMBA\carol` {
		t.Fatalf("gatehouse get through the DC: %s %s", out, e)
	}
	// requests-ntlm (MIC, channel bindings) too
	py := testenv.File(t, "/usr/bin/python3", "Debian's python3")
	out, err = run(t, []string{"OPENSSL_CONF=" + legacyOpenSSL(t)}, py, "-c", pythonRequestsNTLM, s.HTTPS+"/", `SAMBA\carol`, "Carol-pw-1")
	if err != nil || !strings.Contains(out, `"status": 200`) || !strings.Contains(out, `"channel_binding": "verified"`) {
		t.Fatalf("requests-ntlm through the DC: %v %s", err, out)
	}
}

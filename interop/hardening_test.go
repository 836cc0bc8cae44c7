package interop

import (
	"crypto/tls"
	"net/url"
	"os/exec"
	"strings"
	"testing"

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

package interop

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// relay is the man in the middle Extended Protection exists for: it
// terminates the client's connection itself (with its own certificate, or
// plain HTTP) and replays every request, Authorization header included, to
// the real server over its own TLS connection.
func relay(t *testing.T, upstream string, useTLS bool) (u string, certHashHex string) {
	t.Helper()
	up, _ := url.Parse(upstream)
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, MaxConnsPerHost: 1}
	t.Cleanup(tr.CloseIdleConnections)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out, _ := http.NewRequest(r.Method, up.Scheme+"://"+up.Host+r.URL.RequestURI(), r.Body)
		out.Header = r.Header.Clone()
		resp, err := tr.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, vs := range resp.Header {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	})
	var s *httptest.Server
	if useTLS {
		s = httptest.NewTLSServer(h)
		sum := sha256.Sum256(s.Certificate().Raw)
		certHashHex = hex.EncodeToString(sum[:])
	} else {
		s = httptest.NewServer(h)
	}
	t.Cleanup(s.Close)
	return strings.Replace(s.URL, "127.0.0.1", "localhost", 1), certHashHex
}

func TestRelayAttackKerberos(t *testing.T) {
	k := testenv.NeedKDC(t)
	py := testenv.File(t, "/usr/bin/python3", "Debian's python3")
	if err := exec.Command(py, "-c", "import gssapi").Run(); err != nil {
		testenv.Missing(t, "python3-gssapi (Debian package)")
	}
	env := kinit(t, k)
	for _, enf := range []string{"never", "when_supported", "always"} {
		dir := t.TempDir()
		s := serve(t, dir, fmt.Sprintf(`
state_dir: ./state
listen: [{addr: 127.0.0.1:0, tls: {}}]
kerberos: {keytab: %s}
extended_protection: {enforcement: %s}
sites: [{path: /, auth: [negotiate]}]
`, k.Keytab, enf), 1)
		direct := certHash(t, filepath.Join(dir, "state", "server.crt"))
		// 1. the EPA-aware client straight to the server: always fine
		if st := gssStatus(t, env, py, s.HTTPS+"/", "right", direct); st != 200 {
			t.Errorf("%s: direct client: %d", enf, st)
		}
		// 2. HTTPS relay: the client binds to the relay's certificate
		ru, relayHash := relay(t, s.HTTPS, true)
		want := 401
		if enf == "never" {
			want = 200 // the risk: the relayed credential gets in
		}
		if st := gssStatus(t, env, py, ru+"/", "right", relayHash); st != want {
			t.Errorf("%s: HTTPS relay: %d, want %d", enf, st, want)
		}
		// 3. relay from plain HTTP to HTTPS: the client has no channel to
		// bind to. Only "always" stops it: "when_supported" lets a
		// token without bindings through by design (partially hardened).
		hu, _ := relay(t, s.HTTPS, false)
		want = 200
		if enf == "always" {
			want = 401
		}
		if st := gssStatus(t, env, py, hu+"/", "none", ""); st != want {
			t.Errorf("%s: HTTP-to-HTTPS relay: %d, want %d", enf, st, want)
		}
	}
}

func gssStatus(t *testing.T, env []string, py, url, cb, hash string) int {
	t.Helper()
	out, err := run(t, env, py, "-c", pythonGSSAPICB, url, "spnego", cb, hash)
	if err != nil {
		t.Fatal(err)
	}
	var res struct{ Status int }
	if err := jsonUnmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return res.Status
}

func TestRelayAttackNTLM(t *testing.T) {
	py := testenv.File(t, "/usr/bin/python3", "Debian's python3")
	if err := exec.Command(py, "-c", "import requests_ntlm").Run(); err != nil {
		testenv.Missing(t, "python3-requests-ntlm (Debian package)")
	}
	env := []string{"OPENSSL_CONF=" + legacyOpenSSL(t)}
	status := func(url string) int {
		out, err := run(t, env, py, "-c", pythonRequestsNTLM, url, `EXAMPLE\alice`, "alicepw")
		if err != nil {
			t.Fatal(err)
		}
		var res struct{ Status int }
		jsonUnmarshal(out, &res)
		return res.Status
	}
	for _, enf := range []string{"never", "when_supported", "always"} {
		s, _ := ntlmServer(t, enf)
		if st := status(s.HTTPS + "/whoami"); st != 200 {
			t.Errorf("%s: direct: %d", enf, st)
		}
		ru, _ := relay(t, s.HTTPS, true) // requests-ntlm binds to the relay's certificate
		want := 401
		if enf == "never" {
			want = 200
		}
		if st := status(ru + "/whoami"); st != want {
			t.Errorf("%s: HTTPS relay: %d, want %d", enf, st, want)
		}
		hu, _ := relay(t, s.HTTPS, false) // no channel on the client side
		want = 200
		if enf == "always" {
			want = 401
		}
		if st := status(hu + "/whoami"); st != want {
			t.Errorf("%s: HTTP-to-HTTPS relay: %d, want %d", enf, st, want)
		}
	}
}

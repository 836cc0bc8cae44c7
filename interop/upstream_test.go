package interop

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// TestProxyDelegatesToUpstream: the double hop. A client delegates its
// TGT to Gatehouse (curl with MIT's library, and our own client); the
// proxy site authenticates to the upstream as the user with it. The
// upstream is MIT's acceptor (gsshttp.py) and another Gatehouse, both
// HTTP/elsewhere. Without delegation the proxy answers 502 and says why.
func TestProxyDelegatesToUpstream(t *testing.T) {
	k := testenv.NeedKDC(t)
	env := kinit(t, k)
	mit := "http://127.0.0.1:" + gssHTTP(t, []string{"KRB5_CONFIG=" + k.Krb5Conf, "KRB5_KTNAME=" + k.OtherKeytab}, "server", "Negotiate") + "/"
	back := serve(t, t.TempDir(), `
state_dir: ./state
accounts: ./gatehouse.db
listen: [{addr: 127.0.0.1:0}]
kerberos: {keytab: `+k.OtherKeytab+`}
sites: [{path: /, auth: [negotiate]}]
`, 1)
	front := func(upstream string) *instance {
		return serve(t, t.TempDir(), fmt.Sprintf(`
state_dir: ./state
accounts: ./gatehouse.db
listen: [{addr: 127.0.0.1:0}]
admin: {addr: 127.0.0.1:0}              # /metrics: the proxy at / owns every public path
kerberos: {keytab: %s, krb5_conf: %s}   # krb5_conf: where the front finds the KDC
sites:
  - {path: /, auth: [negotiate], handler: proxy, upstream: %q, upstream_auth: negotiate, upstream_spn: HTTP/elsewhere}
`, k.Keytab, k.Krb5Conf, upstream), 1)
	}
	curl := testenv.LookPath(t, "curl")
	for _, c := range []struct {
		name     string
		upstream string
	}{{"MIT upstream", mit}, {"Gatehouse upstream", strings.Replace(back.HTTP, "localhost", "127.0.0.1", 1) + "/whoami"}} {
		t.Run(c.name, func(t *testing.T) {
			f := front(c.upstream)
			for _, client := range [][]string{
				{curl, "-s", "--negotiate", "-u", ":", "--delegation", "always", "-H", "Accept: application/json", f.HTTP + "/"},
				{bin, "get", "--negotiate", "--implicit-allow", "localhost", "--delegation", "always", "-H", "Accept: application/json", f.HTTP + "/"},
			} {
				out, err := run(t, env, client[0], client[1:]...)
				var got struct {
					User string `json:"user"`
				}
				if err != nil || json.Unmarshal([]byte(out), &got) != nil || got.User != k.User+"@"+k.Realm {
					t.Fatalf("%s through the proxy: %v %q\n%s", client[0], err, out, f.log)
				}
			}
			// no delegation: 502 and the reason, in the body and the log
			out, _ := run(t, env, curl, "-s", "-w", "\n%{http_code}", "--negotiate", "-u", ":", f.HTTP+"/")
			if !strings.HasSuffix(out, "502") || !strings.Contains(out, "delegated no Kerberos credentials") {
				t.Fatalf("without delegation: %q", out)
			}
			if l := f.waitLog(func(l string) bool { return strings.Contains(l, "no credentials for the upstream") }); !strings.Contains(l, "no credentials for the upstream") {
				t.Errorf("not logged:\n%s", l)
			}
			metrics, _ := run(t, nil, curl, "-s", f.admin(t)+"/metrics")
			u, _ := url.Parse(c.upstream)
			host := u.Host
			for _, m := range []string{`gatehouse_upstream_auth_total{mode="negotiate",outcome="ok",upstream="` + host + `"} 2`, `gatehouse_upstream_auth_total{mode="negotiate",outcome="refused",upstream="` + host + `"} 1`} {
				if !strings.Contains(metrics, m) {
					t.Errorf("metrics lack %s:\n%s", m, metrics)
				}
			}
		})
	}
}

package interop

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// TestKerberosSambaAD: Kerberos from a real Active Directory KDC (Samba
// AD DC, in its network namespace), whose tickets carry a full PAC: the
// identity's SIDs are the user's and its groups' (Domain Users, Staff)
// from LOGON_INFO, decoded by our NDR reader. Clients: curl (MIT) and
// gatehouse get, both inside the namespace with carol's TGT.
func TestKerberosSambaAD(t *testing.T) {
	ns, kconf, svcKT := os.Getenv("GATEHOUSE_DC_NETNS"), os.Getenv("GATEHOUSE_DC_KRB5_CONFIG"), os.Getenv("GATEHOUSE_DC_SVC_KEYTAB")
	if ns == "" || kconf == "" || svcKT == "" {
		testenv.Missing(t, "Samba AD DC (eval \"$(scripts/samba-dc.sh up DIR)\" sets GATEHOUSE_DC_NETNS…)")
	}
	ip := testenv.LookPath(t, "ip")
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	ktPath := relabelKeytab(t, dir, "http.keytab", svcKT, "HTTP/localhost", false)

	inNS := func(env []string, name string, args ...string) *exec.Cmd {
		cmd := exec.Command(ip, append([]string{"netns", "exec", ns, "env"}, append(env, append([]string{name}, args...)...)...)...)
		return cmd
	}
	env := []string{"KRB5_CONFIG=" + kconf, "KRB5CCNAME=FILE:" + filepath.Join(dir, "carol.cc")}
	kinit := inNS(env, testenv.LookPath(t, "kinit"), "carol")
	kinit.Stdin = strings.NewReader("Carol-pw-1\n")
	if out, err := kinit.CombinedOutput(); err != nil {
		t.Fatalf("kinit carol: %v\n%s", err, out)
	}

	port, log := serveInNS(t, ns, dir, `
state_dir: `+filepath.Join(dir, "state")+`
accounts: `+filepath.Join(dir, "gatehouse.db")+`
listen: [{addr: 127.0.0.1:0}]
kerberos: {keytab: `+ktPath+`}
sites: [{path: /, auth: [negotiate]}]
`)
	url := fmt.Sprintf("http://localhost:%s/", port)

	check := func(who string, out []byte, err error) {
		t.Helper()
		w := parseWhoami(t, string(out))
		if err != nil || w.User != "carol@SAMBA.TEST" || w.Mechanism != "kerberos" {
			t.Fatalf("%s: %v %s\nserver log:\n%s", who, err, out, log)
		}
		var user, domainUsers bool
		for _, s := range w.SIDs {
			user = user || strings.HasPrefix(s, "S-1-5-21-") && !strings.HasSuffix(s, "-513")
			domainUsers = domainUsers || strings.HasPrefix(s, "S-1-5-21-") && strings.HasSuffix(s, "-513")
		}
		t.Logf("%s: %s sids %v", who, w.User, w.SIDs)
		if !user || !domainUsers || len(w.SIDs) < 3 { // carol, Domain Users, Staff
			t.Fatalf("%s: SIDs from the AD PAC: %v", who, w.SIDs)
		}
	}
	out, err := inNS(env, testenv.LookPath(t, "curl"), "-sf", "--negotiate", "-u", ":", "-H", "Accept: application/json", url).Output()
	check("curl", out, err)
	out, err = inNS(env, bin, "get", "--negotiate", "--implicit-allow", "localhost", "-H", "Accept: application/json", url).Output()
	check("gatehouse get", out, err)
}

// relabelKeytab writes into dir/name the entries of an AD account's keytab
// under spn, as ktpass or msktutil write them (AD's salt is the
// account's, whatever the SPN); keepAccount keeps the account's own
// entries too (for logging in as the account).
func relabelKeytab(t *testing.T, dir, name, src, spn string, keepAccount bool) string {
	t.Helper()
	kt, err := keytab.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	orig := append(kt.Entries[:0:0], kt.Entries...)
	for i := range kt.Entries {
		kt.Entries[i].Principal.Components = strings.Split(spn, "/")
		kt.Entries[i].Principal.NumComponents = int16(len(kt.Entries[i].Principal.Components))
	}
	if keepAccount {
		kt.Entries = append(kt.Entries, orig...)
	}
	b, err := kt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	os.WriteFile(p, b, 0o600)
	return p
}

// serveInNS starts `gatehouse serve` with cfg inside network namespace ns
// and returns its port and log.
func serveInNS(t *testing.T, ns, dir, cfg string) (string, *syncBuffer) {
	t.Helper()
	f, err := os.CreateTemp(dir, "gatehouse-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(cfg)
	f.Close()
	ctx, cancel := context.WithCancel(context.Background())
	srv := exec.CommandContext(ctx, testenv.LookPath(t, "ip"), "netns", "exec", ns, bin, "serve", "--config", f.Name())
	stderr, _ := srv.StderrPipe()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); srv.Wait() })
	log := &syncBuffer{mu: make(chan struct{}, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			log.Write([]byte(sc.Text() + "\n"))
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[2]
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	select {
	case a := <-addr:
		return a[strings.LastIndex(a, ":")+1:], log
	case <-time.After(15 * time.Second):
		t.Fatalf("gatehouse did not start in the namespace:\n%s", log)
	}
	return "", nil
}

// TestConstrainedDelegationSambaAD: MS-SFU S4U2Proxy against a real AD
// KDC. carol authenticates to the front (HTTP/localhost, account
// gatehouse-svc) without delegating anything; the front's proxy asks the
// KDC for a ticket to HTTP/upstream in carol's name, which AD grants
// because gatehouse-svc may delegate to it (msDS-AllowedToDelegateTo).
// The upstream, another Gatehouse, sees carol.
func TestConstrainedDelegationSambaAD(t *testing.T) {
	ns, kconf, svcKT, upKT := os.Getenv("GATEHOUSE_DC_NETNS"), os.Getenv("GATEHOUSE_DC_KRB5_CONFIG"), os.Getenv("GATEHOUSE_DC_SVC_KEYTAB"), os.Getenv("GATEHOUSE_DC_UP_KEYTAB")
	if ns == "" || kconf == "" || svcKT == "" || upKT == "" {
		testenv.Missing(t, "Samba AD DC (eval \"$(scripts/samba-dc.sh up DIR)\" sets GATEHOUSE_DC_UP_KEYTAB…)")
	}
	ip := testenv.LookPath(t, "ip")
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	frontKT := relabelKeytab(t, dir, "front.keytab", svcKT, "HTTP/localhost", true)
	upstreamKT := relabelKeytab(t, dir, "up.keytab", upKT, "HTTP/upstream", false)
	upPort, upLog := serveInNS(t, ns, dir, `
state_dir: `+filepath.Join(dir, "up-state")+`
accounts: `+filepath.Join(dir, "up.db")+`
listen: [{addr: 127.0.0.1:0}]
kerberos: {keytab: `+upstreamKT+`}
sites: [{path: /, auth: [negotiate]}]
`)
	addAccount(t, dir, "carol", "local-pw") // a local account, for protocol transition
	frontPort, frontLog := serveInNS(t, ns, dir, `
state_dir: `+filepath.Join(dir, "front-state")+`
accounts: `+filepath.Join(dir, "gatehouse.db")+`
listen: [{addr: 127.0.0.1:0}]
kerberos: {keytab: `+frontKT+`, service_account: gatehouse-svc, krb5_conf: `+kconf+`, protocol_transition: true}
sites:
  - {path: /basic, auth: [basic], basic_over_http: true, handler: proxy, upstream: "http://127.0.0.1:`+upPort+`/", upstream_auth: constrained, upstream_spn: HTTP/upstream}
  - {path: /, auth: [negotiate], handler: proxy, upstream: "http://127.0.0.1:`+upPort+`/", upstream_auth: constrained, upstream_spn: HTTP/upstream}
  - {path: /elsewhere, auth: [negotiate], handler: proxy, upstream: "http://127.0.0.1:`+upPort+`/", upstream_auth: constrained, upstream_spn: HTTP/localhost}
`)
	env := []string{"KRB5_CONFIG=" + kconf, "KRB5CCNAME=FILE:" + filepath.Join(dir, "carol.cc")}
	kinit := exec.Command(ip, "netns", "exec", ns, "env", env[0], env[1], testenv.LookPath(t, "kinit"), "carol")
	kinit.Stdin = strings.NewReader("Carol-pw-1\n")
	if out, err := kinit.CombinedOutput(); err != nil {
		t.Fatalf("kinit carol: %v\n%s", err, out)
	}
	out, err := exec.Command(ip, "netns", "exec", ns, "env", env[0], env[1], testenv.LookPath(t, "curl"),
		"-s", "--negotiate", "-u", ":", "-H", "Accept: application/json", "http://localhost:"+frontPort+"/").Output()
	w := parseWhoami(t, string(out))
	if err != nil || w.User != "carol@SAMBA.TEST" || w.Scheme != "Negotiate" || w.Delegated {
		t.Fatalf("through constrained delegation: %v %s\nfront:\n%s\nupstream:\n%s", err, out, frontLog, upLog)
	}
	t.Logf("the upstream sees %s (%s), SIDs %v", w.User, w.Mechanism, w.SIDs)
	if len(w.SIDs) < 3 {
		t.Errorf("the S4U2Proxy ticket's PAC: SIDs %v", w.SIDs)
	}
	// Protocol transition: carol logs in with Basic (a local account);
	// S4U2Self makes her a Kerberos identity the upstream accepts.
	out, err = exec.Command(ip, "netns", "exec", ns, testenv.LookPath(t, "curl"),
		"-s", "--basic", "-u", "carol:local-pw", "-H", "Accept: application/json", "http://localhost:"+frontPort+"/basic/").Output()
	if w := parseWhoami(t, string(out)); err != nil || w.User != "carol@SAMBA.TEST" || w.Mechanism != "kerberos" {
		t.Fatalf("protocol transition: %v %s\nfront:\n%s\nupstream:\n%s", err, out, frontLog, upLog)
	}
	// A service gatehouse-svc may not delegate to: the KDC refuses, 502.
	out, _ = exec.Command(ip, "netns", "exec", ns, "env", env[0], env[1], testenv.LookPath(t, "curl"),
		"-s", "-o", "/dev/null", "-w", "%{http_code}", "--negotiate", "-u", ":", "http://localhost:"+frontPort+"/elsewhere/").Output()
	if string(out) != "502" {
		t.Errorf("delegation to a service not allowed: %s, want 502", out)
	}
}

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
	// The account's keys under the SPN, as ktpass or msktutil write them.
	kt, err := keytab.Load(svcKT)
	if err != nil {
		t.Fatal(err)
	}
	for i := range kt.Entries {
		kt.Entries[i].Principal.Components = []string{"HTTP", "localhost"}
		kt.Entries[i].Principal.NumComponents = 2
	}
	b, err := kt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	ktPath := filepath.Join(dir, "http.keytab")
	os.WriteFile(ktPath, b, 0o600)

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

	cfg := filepath.Join(dir, "gatehouse.yaml")
	os.WriteFile(cfg, []byte(`
state_dir: `+filepath.Join(dir, "state")+`
accounts: `+filepath.Join(dir, "gatehouse.db")+`
listen: [{addr: 127.0.0.1:0}]
kerberos: {keytab: `+ktPath+`}
sites: [{path: /, auth: [negotiate]}]
`), 0o600)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := exec.CommandContext(ctx, ip, "netns", "exec", ns, bin, "serve", "--config", cfg)
	stderr, _ := srv.StderrPipe()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); srv.Wait() }()
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
	var port string
	select {
	case a := <-addr:
		port = a[strings.LastIndex(a, ":")+1:]
	case <-time.After(15 * time.Second):
		t.Fatalf("gatehouse did not start in the namespace:\n%s", log)
	}
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

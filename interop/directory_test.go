package interop

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// TestDirectorySambaAD: groups from a real Active Directory (Samba AD DC
// over LDAPS) for every scheme. carol is in Finance only through Staff (a
// nested group). Kerberos (curl --negotiate, PAC SIDs named by the
// directory), NTLM verified by the DC (curl --ntlm, winbind; tokenGroups)
// and Basic verified by the KDC (curl --basic; tokenGroups) are admitted
// by rules naming Finance by bare name, by SAMBA\Finance and by its SID,
// and refused by a rule naming a group carol is not in. A user removed
// from Staff is refused once the cache time has passed, and their session
// ends when it is next revalidated; a directory that
// does not answer refuses the group rules (503) while sites without them
// still work; a KDC that does not answer makes Basic 503; no password
// reaches a log.
func TestDirectorySambaAD(t *testing.T) {
	dc := testenv.NeedDirectory(t)
	helper := os.Getenv("GATEHOUSE_NTLM_AUTH")
	if helper == "" {
		testenv.Missing(t, "GATEHOUSE_NTLM_AUTH (scripts/samba-dc.sh)")
	}
	ip, curl := testenv.LookPath(t, "ip"), testenv.LookPath(t, "curl")
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	kt := relabelKeytab(t, dir, "http.keytab", dc.SvcKeytab, "HTTP/localhost", true)
	inNS := func(env []string, name string, args ...string) *exec.Cmd {
		return exec.Command(ip, append([]string{"netns", "exec", dc.Netns, "env"}, append(env, append([]string{name}, args...)...)...)...)
	}
	smbConf := filepath.Join(dc.Dir, "etc", "smb.conf")
	sambaTool := func(args ...string) string {
		t.Helper()
		out, err := inNS(nil, "samba-tool", append(args, "-s", smbConf)...).CombinedOutput()
		if err != nil {
			t.Fatalf("samba-tool %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	m := regexp.MustCompile(`objectSid: (S-1-5-21-[0-9-]+)`).FindStringSubmatch(sambaTool("group", "show", "Finance", "--attributes=objectSid"))
	if m == nil {
		t.Fatal("no objectSid for Finance")
	}
	financeSID := m[1]
	// a user of our own, whose membership the test changes
	user := fmt.Sprintf("dirtest%d", time.Now().UnixNano()%1e9)
	sambaTool("user", "add", user, "Dave-pw-1234!")
	t.Cleanup(func() { inNS(nil, "samba-tool", "user", "delete", user, "-s", smbConf).Run() })
	sambaTool("group", "addmembers", "Staff", user)

	auth := "[negotiate, ntlm, basic], basic_over_http: true"
	sites := func(dirCfg, krb5 string) string {
		return `
state_dir: ` + filepath.Join(dir, "state") + `
accounts: ` + filepath.Join(dir, "gatehouse.db") + `
listen: [{addr: 127.0.0.1:0}]
kerberos: {keytab: ` + kt + `, service_account: gatehouse-svc, krb5_conf: ` + krb5 + `}
ntlm: {verifier: winbind, ntlm_auth: ` + helper + `, domain: SAMBA, connection_auth: false}
basic: {verifier: kerberos}
session_revalidate: 1s
directory: ` + dirCfg + `
sites:
  - {path: /sess, auth: [basic], basic_over_http: true, sessions: true, authorization: [{allow: {roles: [finance]}}, {deny: {users: ["*"]}}]}
  - {path: /, auth: ` + auth + `}
  - {path: /bare, auth: ` + auth + `, authorization: [{allow: {roles: [finance]}}, {deny: {users: ["*"]}}]}
  - {path: /qualified, auth: ` + auth + `, authorization: [{allow: {roles: ['SAMBA\Finance']}}, {deny: {users: ["*"]}}]}
  - {path: /sid, auth: ` + auth + `, authorization: [{allow: {roles: [` + financeSID + `]}}, {deny: {users: ["*"]}}]}
  - {path: /other, auth: ` + auth + `, authorization: [{allow: {roles: [Domain Admins]}}, {deny: {users: ["*"]}}]}
`
	}
	port, log := serveInNS(t, dc.Netns, dir, sites(`{url: `+dc.LDAPURL+`, ca_file: `+dc.CA+`, bind: simple, bind_dn: '`+dc.BindDN+`', password_file: `+dc.BindPasswordFile+`, cache: 2s}`, dc.Krb5Conf))
	base := "http://localhost:" + port

	ccEnv := []string{"KRB5_CONFIG=" + dc.Krb5Conf, "KRB5CCNAME=FILE:" + filepath.Join(dir, "carol.cc")}
	kinit := inNS(ccEnv, testenv.LookPath(t, "kinit"), "carol")
	kinit.Stdin = strings.NewReader("Carol-pw-1\n")
	if out, err := kinit.CombinedOutput(); err != nil {
		t.Fatalf("kinit carol: %v\n%s", err, out)
	}
	schemes := []struct {
		name string
		env  []string
		args []string
		user string
	}{
		{"kerberos", ccEnv, []string{"--negotiate", "-u", ":"}, "carol@SAMBA.TEST"},
		{"ntlm", nil, []string{"--ntlm", "-u", `SAMBA\carol:Carol-pw-1`}, `SAMBA\carol`},
		{"basic", nil, []string{"--basic", "-u", "carol:Carol-pw-1"}, "carol@SAMBA.TEST"},
	}
	code := func(env []string, args []string, path string) string {
		out, _ := inNS(env, curl, append([]string{"-s", "-o", "/dev/null", "-w", "%{http_code}"}, append(args, base+path)...)...).Output()
		return string(out)
	}
	for _, s := range schemes {
		out, err := inNS(s.env, curl, append([]string{"-sf", "-H", "Accept: application/json"}, append(s.args, base+"/")...)...).Output()
		if err != nil {
			t.Fatalf("%s: whoami: %v %s\n%s", s.name, err, out, log)
		}
		w := parseWhoami(t, string(out))
		t.Logf("%s: %s groups %v sids %v", s.name, w.User, w.Groups, w.SIDs)
		if w.User != s.user || !slices.Contains(w.Groups, `SAMBA\Finance`) || !slices.Contains(w.Groups, `SAMBA\Staff`) || !slices.Contains(w.SIDs, financeSID) {
			t.Errorf("%s: whoami %+v", s.name, w)
		}
		for path, want := range map[string]string{"/bare": "200", "/qualified": "200", "/sid": "200", "/other": "403"} {
			if c := code(s.env, s.args, path); c != want {
				t.Errorf("%s %s: %s, want %s", s.name, path, c, want)
			}
		}
	}
	if c := code(nil, []string{"--basic", "-u", "carol:wrong-pw-5678"}, "/bare"); c != "401" {
		t.Errorf("Basic with a wrong password: %s", c)
	}

	// membership removed in the directory: refused after the cache time
	for _, s := range [][]string{{"--basic", "-u", user + ":Dave-pw-1234!"}, {"--ntlm", "-u", `SAMBA\` + user + ":Dave-pw-1234!"}} {
		if c := code(nil, s, "/bare"); c != "200" {
			t.Fatalf("%s in Staff: %s\n%s", user, c, log)
		}
	}
	// and a session cookie from a Basic login
	jar := filepath.Join(dir, "cookies.txt")
	if c := code(nil, []string{"-c", jar, "--basic", "-u", user + ":Dave-pw-1234!"}, "/sess/"); c != "200" {
		t.Fatalf("%s logs in to /sess: %s", user, c)
	}
	if c := code(nil, []string{"-b", jar, "-c", jar}, "/sess/"); c != "200" {
		t.Fatalf("%s with the session cookie: %s", user, c)
	}
	sambaTool("group", "removemembers", "Staff", user)
	for _, s := range [][]string{{"--basic", "-u", user + ":Dave-pw-1234!"}, {"--ntlm", "-u", `SAMBA\` + user + ":Dave-pw-1234!"}} {
		c := ""
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
			if c = code(nil, s, "/bare"); c == "403" {
				break
			}
		}
		if c != "403" {
			t.Errorf("%s %s after leaving Staff: %s, want 403 once the 2s cache time passed", s[0], user, c)
		}
		if c := code(nil, s, "/"); c != "200" {
			t.Errorf("%s %s on a site without group rules: %s", s[0], user, c)
		}
	}

	// the session ends once it is revalidated (1s) with the directory's
	// answer after its cache time (2s): 401, the cookie cleared
	c := ""
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		if c = code(nil, []string{"-b", jar, "-c", jar}, "/sess/"); c != "200" {
			break
		}
	}
	if c != "401" {
		t.Errorf("the session of %s after leaving Staff: %s, want 401\n%s", user, c, log)
	}

	// a directory and a KDC that do not answer
	badKrb5 := filepath.Join(dir, "nokdc.conf")
	os.WriteFile(badKrb5, []byte("[libdefaults]\n default_realm = SAMBA.TEST\n dns_lookup_kdc = false\n[realms]\n SAMBA.TEST = {\n  kdc = 127.0.0.1:9\n }\n"), 0o644)
	dir2 := filepath.Join(dir, "down")
	os.MkdirAll(dir2, 0o755)
	port2, log2 := serveInNS(t, dc.Netns, dir2, strings.ReplaceAll(sites(`{url: ldaps://127.0.0.1:1, ca_file: `+dc.CA+`, bind: simple, bind_dn: '`+dc.BindDN+`', password_file: `+dc.BindPasswordFile+`}`, badKrb5), filepath.Join(dir, "state"), filepath.Join(dir2, "state")))
	base = "http://localhost:" + port2
	if c := code(ccEnv, schemes[0].args, "/"); c != "200" {
		t.Errorf("Kerberos, directory down, no group rules: %s\n%s", c, log2)
	}
	for _, s := range schemes[:2] {
		if c := code(s.env, s.args, "/bare"); c != "503" {
			t.Errorf("%s, directory down, a group rule: %s, want 503", s.name, c)
		}
	}
	// SIDs need no directory: the PAC has them (NTLM's come from the directory)
	if c := code(ccEnv, schemes[0].args, "/sid"); c != "200" {
		t.Errorf("Kerberos, directory down, a rule naming a SID: %s, want 200", c)
	}
	if c := code(nil, schemes[1].args, "/sid"); c != "503" {
		t.Errorf("NTLM, directory down, a rule naming a SID: %s, want 503", c)
	}
	if c := code(nil, schemes[2].args, "/"); c != "503" {
		t.Errorf("Basic with the KDC down: %s, want 503", c)
	}
	l2 := log2.String()
	if !strings.Contains(l2, "directory lookup failed") || !strings.Contains(l2, "ldaps://127.0.0.1:1") || !strings.Contains(l2, "authentication unavailable") {
		t.Errorf("the log does not say the directory and the KDC are down:\n%s", l2)
	}

	// a bind the directory refuses stops the start, in one line
	badPW := filepath.Join(dir, "bad.pw")
	os.WriteFile(badPW, []byte("not-the-password\n"), 0o600)
	cfg := filepath.Join(dir, "badbind.yaml")
	os.WriteFile(cfg, []byte(strings.ReplaceAll(sites(`{url: `+dc.LDAPURL+`, ca_file: `+dc.CA+`, bind: simple, bind_dn: '`+dc.BindDN+`', password_file: `+badPW+`}`, dc.Krb5Conf), filepath.Join(dir, "state"), filepath.Join(dir, "state3"))), 0o644)
	out, err := exec.Command(ip, "netns", "exec", dc.Netns, bin, "serve", "--config", cfg).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "directory") || !strings.Contains(string(out), "bind") || strings.Contains(string(out), "not-the-password") {
		t.Errorf("a refused bind at start: %v\n%s", err, out)
	}
	t.Logf("a refused bind at start: %s", strings.TrimSpace(string(out)))

	for _, secret := range []string{"Carol-pw-1", "Dave-pw-1234!", "wrong-pw-5678", "Svc-pw-12345!"} {
		for _, l := range []string{log.String(), l2, string(out)} {
			if strings.Contains(l, secret) {
				t.Errorf("a password in a log: %q", secret)
			}
		}
	}
}

// TestDirectoryKerberosBind: the directory bound with GSSAPI as
// kerberos.service_account (its keys from the keytab), no password.
func TestDirectoryKerberosBind(t *testing.T) {
	dc := testenv.NeedDirectory(t)
	ip := testenv.LookPath(t, "ip")
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	kt := relabelKeytab(t, dir, "http.keytab", dc.SvcKeytab, "HTTP/localhost", true)
	port, log := serveInNS(t, dc.Netns, dir, `
state_dir: `+filepath.Join(dir, "state")+`
accounts: `+filepath.Join(dir, "gatehouse.db")+`
listen: [{addr: 127.0.0.1:0}]
kerberos: {keytab: `+kt+`, service_account: gatehouse-svc, krb5_conf: `+dc.Krb5Conf+`}
basic: {verifier: kerberos}
directory: {url: `+dc.LDAPURL+`, ca_file: `+dc.CA+`, bind: kerberos}
sites: [{path: /, auth: [basic], basic_over_http: true, authorization: [{allow: {roles: ['samba\finance']}}, {deny: {users: ["*"]}}]}]
`)
	out, err := exec.Command(ip, "netns", "exec", dc.Netns, testenv.LookPath(t, "curl"), "-sf", "--basic", "-u", "carol:Carol-pw-1",
		"-H", "Accept: application/json", "http://localhost:"+port+"/").Output()
	if w := parseWhoami(t, string(out)); err != nil || !slices.Contains(w.Groups, `SAMBA\Finance`) {
		t.Fatalf("%v %s\n%s", err, out, log)
	}
}

// TestServeCheckDirectory: serve --check reads the directory's files and
// settings but does not ask the directory (none listens here).
func TestServeCheckDirectory(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "ldap.pw"), []byte("a-password\n"), 0o600)
	cfg := func(d string) string {
		return "state_dir: ./state\nlisten: [{addr: 127.0.0.1:0}]\nsites: [{path: /, auth: [basic]}]\ndirectory: " + d + "\n"
	}
	if out, code := ghCheck(t, dir, cfg("{url: ldaps://127.0.0.1:1, bind_dn: 'cn=x', password_file: ./ldap.pw}")); code != 0 {
		t.Errorf("a directory that does not answer: %d\n%s", code, out)
	}
	for want, d := range map[string]string{
		"password_file": "{url: ldaps://127.0.0.1:1, bind_dn: 'cn=x', password_file: ./missing.pw}",
		"ca_file":       "{url: ldaps://127.0.0.1:1, bind_dn: 'cn=x', password_file: ./ldap.pw, ca_file: ./missing.pem}",
		"directory.url": "{url: ldap://127.0.0.1:1, bind_dn: 'cn=x', password_file: ./ldap.pw}",
	} {
		out, code := ghCheck(t, dir, cfg(d))
		if code != 1 || !strings.Contains(out, want) || strings.Contains(out, "a-password") {
			t.Errorf("%s: %d\n%s", want, code, out)
		}
	}
}

// TestBasicKDCTicketMustDecrypt: basic.verifier kerberos believes the
// KDC only when the ticket it issues for this service decrypts with the
// keytab. Here the keytab holds another account's keys under
// HTTP/localhost (as a stale keytab or a forged KDC answer would look):
// carol's right password is refused, with the reason logged.
func TestBasicKDCTicketMustDecrypt(t *testing.T) {
	dc := testenv.NeedDirectory(t)
	upKT := os.Getenv("GATEHOUSE_DC_UP_KEYTAB")
	if upKT == "" {
		testenv.Missing(t, "GATEHOUSE_DC_UP_KEYTAB (scripts/samba-dc.sh)")
	}
	ip := testenv.LookPath(t, "ip")
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	wrong := relabelKeytab(t, dir, "wrong.keytab", upKT, "HTTP/localhost", false)
	port, log := serveInNS(t, dc.Netns, dir, `
state_dir: `+filepath.Join(dir, "state")+`
accounts: `+filepath.Join(dir, "gatehouse.db")+`
listen: [{addr: 127.0.0.1:0}]
kerberos: {keytab: `+wrong+`, krb5_conf: `+dc.Krb5Conf+`}
basic: {verifier: kerberos}
sites: [{path: /, auth: [basic], basic_over_http: true}]
`)
	out, _ := exec.Command(ip, "netns", "exec", dc.Netns, testenv.LookPath(t, "curl"), "-s", "-o", "/dev/null", "-w", "%{http_code}",
		"--basic", "-u", "carol:Carol-pw-1", "http://localhost:"+port+"/").Output()
	if string(out) != "401" {
		t.Errorf("a ticket the keytab cannot decrypt: %s, want 401", out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(log.String(), "does not decrypt with the keytab") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if l := log.String(); !strings.Contains(l, "does not decrypt with the keytab") || strings.Contains(l, "Carol-pw-1") {
		t.Errorf("log:\n%s", l)
	}
}

// TestDirectoryOpenLDAPWithMITKerberos: the Linux stack without AD, an
// MIT KDC (tickets without a PAC) and OpenLDAP (slapd, LDAPS): alice's
// groups come from the directory by name (memberOf), so a rule naming
// Engineers admits her, one naming ops refuses her, and whoami names
// Engineers. Basic through the same KDC gets the same groups.
func TestDirectoryOpenLDAPWithMITKerberos(t *testing.T) {
	k := testenv.NeedKDC(t)
	curl := testenv.LookPath(t, "curl")
	s := testenv.StartSlapd(t)
	alice := s.AddUser(t, "alice")
	s.AddUser(t, "reader")
	s.Add(t, "cn=Engineers,ou=groups,"+s.Base, map[string][]string{"objectClass": {"groupOfNames"}, "cn": {"Engineers"}, "member": {alice}})
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "ldap.pw"), []byte("reader-pw\n"), 0o600)
	inst := serve(t, dir, `
state_dir: ./state
accounts: ./gatehouse.db
listen: [{addr: 127.0.0.1:0}]
kerberos: {keytab: `+k.Keytab+`, krb5_conf: `+k.Krb5Conf+`}
basic: {verifier: kerberos}
directory: {url: `+s.URL+`, ca_file: `+s.CAFile+`, bind_dn: 'uid=reader,ou=people,`+s.Base+`', password_file: ./ldap.pw}
sites:
  - {path: /, auth: [negotiate, basic], basic_over_http: true}
  - {path: /eng, auth: [negotiate, basic], basic_over_http: true, authorization: [{allow: {roles: [engineers]}}, {deny: {users: ["*"]}}]}
  - {path: /ops, auth: [negotiate, basic], basic_over_http: true, authorization: [{allow: {roles: [ops]}}, {deny: {users: ["*"]}}]}
`, 1)
	env := kinit(t, k)
	for _, c := range []struct {
		name string
		args []string
	}{{"kerberos", []string{"--negotiate", "-u", ":"}}, {"basic", []string{"--basic", "-u", k.User + ":" + k.Password}}} {
		out, err := run(t, env, curl, append([]string{"-sf", "-H", "Accept: application/json"}, append(c.args, inst.HTTP+"/")...)...)
		if err != nil {
			t.Fatalf("%s: %v\n%s", c.name, err, inst.log)
		}
		w := parseWhoami(t, out)
		if w.User != "alice@EXAMPLE.TEST" || !slices.Equal(w.Groups, []string{"Engineers"}) {
			t.Errorf("%s: whoami %+v", c.name, w)
		}
		for path, want := range map[string]string{"/eng": "200", "/ops": "403"} {
			if got := curlCodeEnv(t, env, append(c.args, inst.HTTP+path)...); got != want {
				t.Errorf("%s %s: %s, want %s", c.name, path, got, want)
			}
		}
	}
	if strings.Contains(inst.log.String(), "reader-pw") || strings.Contains(inst.log.String(), k.Password) {
		t.Error("a password in the log")
	}
}

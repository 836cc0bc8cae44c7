// Package testenv is what integration tests use to find the real peers
// (MIT KDC, curl, Python, Chromium…) that scripts/test-env.sh installs and
// starts. When a prerequisite is missing a test skips on a developer's
// machine and fails when CI=true, so a green CI run never hides a peer that
// was not there.
package testenv

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// InCI reports whether the tests run under CI (CI=true).
func InCI() bool { return os.Getenv("CI") == "true" }

// Missing fails the test under CI and skips it elsewhere.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("prerequisite missing (CI=true): "+format, args...)
	}
	t.Skipf("prerequisite missing: "+format, args...)
}

// LookPath returns the path of an executable or calls Missing.
func LookPath(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, "%s not found on PATH (run scripts/test-env.sh)", name)
	}
	return p
}

// File returns path if it exists, or calls Missing.
func File(t testing.TB, path, why string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		Missing(t, "%s (%s) not found (run scripts/test-env.sh)", path, why)
	}
	return path
}

// KDC describes the throwaway MIT realm started by scripts/kdc-up.sh.
type KDC struct {
	Dir      string // realm directory
	Krb5Conf string // client krb5.conf
	Keytab   string // keytab holding HTTP/localhost
	Realm    string // EXAMPLE.TEST
	User     string // alice
	Password string // alice's password
	SPN      string // HTTP/localhost
	// OtherKeytab holds HTTP/elsewhere, which the KDC marks ok-as-delegate.
	OtherKeytab string
}

// NeedKDC returns the realm from the environment that scripts/kdc-up.sh
// prints (GATEHOUSE_KDC_DIR and friends), or calls Missing.
func NeedKDC(t testing.TB) KDC {
	t.Helper()
	k := KDC{
		Dir:      os.Getenv("GATEHOUSE_KDC_DIR"),
		Krb5Conf: os.Getenv("GATEHOUSE_KRB5_CONFIG"),
		Keytab:   os.Getenv("GATEHOUSE_KEYTAB"),
		Realm:    os.Getenv("GATEHOUSE_REALM"),
		User:     os.Getenv("GATEHOUSE_KRB_USER"),
		Password: os.Getenv("GATEHOUSE_KRB_PASSWORD"),
		SPN:      os.Getenv("GATEHOUSE_SPN"),

		OtherKeytab: os.Getenv("GATEHOUSE_OTHER_KEYTAB"),
	}
	if k.Dir == "" || k.Keytab == "" || k.Krb5Conf == "" || k.OtherKeytab == "" {
		Missing(t, "MIT KDC environment (GATEHOUSE_KDC_DIR…); run: eval \"$(scripts/kdc-up.sh)\"")
	}
	return k
}

// DC describes the Samba AD domain controller started by
// scripts/samba-dc.sh (realm SAMBA.TEST, NetBIOS domain SAMBA), whose
// clients run inside its network namespace.
type DC struct {
	Dir      string // its directory (etc/smb.conf…)
	Netns    string // network namespace (GATEHOUSE_DC_NETNS)
	Krb5Conf string // krb5.conf for clients in the namespace
	// SvcKeytab holds the keys of gatehouse-svc (SPN HTTP/localhost).
	SvcKeytab string
	// LDAP: URL inside the namespace, the CA of its certificate, a bind
	// DN and the file holding its password.
	LDAPURL, CA, BindDN, BindPasswordFile string
}

// NeedDirectory returns the Samba AD DC with LDAPS from the environment
// (GATEHOUSE_DC_LDAP_URL and friends, printed by scripts/samba-dc.sh), or
// calls Missing.
func NeedDirectory(t testing.TB) DC {
	t.Helper()
	dc := DC{
		Dir: os.Getenv("GATEHOUSE_DC_DIR"), Netns: os.Getenv("GATEHOUSE_DC_NETNS"),
		Krb5Conf: os.Getenv("GATEHOUSE_DC_KRB5_CONFIG"), SvcKeytab: os.Getenv("GATEHOUSE_DC_SVC_KEYTAB"),
		LDAPURL: os.Getenv("GATEHOUSE_DC_LDAP_URL"), CA: os.Getenv("GATEHOUSE_DC_CA"),
		BindDN: os.Getenv("GATEHOUSE_DC_BIND_DN"), BindPasswordFile: os.Getenv("GATEHOUSE_DC_BIND_PASSWORD_FILE"),
	}
	if dc.Netns == "" || dc.Dir == "" || dc.Krb5Conf == "" || dc.SvcKeytab == "" {
		Missing(t, "Samba AD DC (eval \"$(scripts/samba-dc.sh up DIR)\" sets GATEHOUSE_DC_NETNS…)")
	}
	if dc.LDAPURL == "" || dc.CA == "" || dc.BindDN == "" || dc.BindPasswordFile == "" {
		Missing(t, "Samba AD DC with LDAPS: GATEHOUSE_DC_LDAP_URL, GATEHOUSE_DC_CA, GATEHOUSE_DC_BIND_DN, GATEHOUSE_DC_BIND_PASSWORD_FILE (printed by scripts/samba-dc.sh up)")
	}
	return dc
}

// InNetns runs the calling top-level test again, inside network namespace
// ns, and reports whether the caller is that inner run (then it goes on
// with the test); the outer run returns false after the inner one passed,
// and fails the test when it failed.
func InNetns(t *testing.T, ns string) bool {
	t.Helper()
	if os.Getenv("GATEHOUSE_TEST_NETNS") == ns {
		return true
	}
	ip := LookPath(t, "ip")
	args := []string{"netns", "exec", ns, "env", "GATEHOUSE_TEST_NETNS=" + ns, os.Args[0], "-test.run", "^" + t.Name() + "$", "-test.count=1", "-test.v"}
	out, err := exec.Command(ip, args...).CombinedOutput()
	t.Logf("inside network namespace %s:\n%s", ns, out)
	if err != nil {
		t.Fatalf("the test failed inside network namespace %s: %v", ns, err)
	}
	return false
}

// DefaultPorts holds, until the test ends, a lock shared by every test on
// this machine that runs `gatehouse serve` on the embedded default's fixed
// ports (127.0.0.1:8080 and 127.0.0.1:8443): the interop test of the
// embedded default and the documentation's examples, which run in
// different packages, hence in parallel. Once the lock is held it waits
// (up to a minute) until both ports are free.
func DefaultPorts(t testing.TB) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "gatehouse-default-ports.lock"), os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() }) // closing the file releases the lock
	for _, addr := range []string{"127.0.0.1:8080", "127.0.0.1:8443"} {
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
			ln, err := net.Listen("tcp", addr)
			if err == nil {
				ln.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s stays in use: %v", addr, err)
			}
		}
	}
}

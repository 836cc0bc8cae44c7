// Package testenv is what integration tests use to find the real peers
// (MIT KDC, curl, Python, Chromium…) that scripts/test-env.sh installs and
// starts. When a prerequisite is missing a test skips on a developer's
// machine and fails when CI=true, so a green CI run never hides a peer that
// was not there.
package testenv

import (
	"os"
	"os/exec"
	"testing"
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

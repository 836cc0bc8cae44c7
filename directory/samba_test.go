package directory

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/client"
	krbconfig "github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

func sambaConfig(t *testing.T, dc testenv.DC) Config {
	t.Helper()
	pool, err := LoadCAFile(dc.CA)
	if err != nil {
		t.Fatal(err)
	}
	pw, err := ReadPasswordFile(dc.BindPasswordFile)
	if err != nil {
		t.Fatal(err)
	}
	return Config{URL: dc.LDAPURL, RootCAs: pool, Bind: BindSimple, BindDN: dc.BindDN, Password: pw, CacheTTL: time.Minute}
}

// samba runs samba-tool against the DC (inside its namespace).
func samba(t *testing.T, dc testenv.DC, args ...string) {
	t.Helper()
	out, err := exec.Command("samba-tool", append(args, "-s", filepath.Join(dc.Dir, "etc", "smb.conf"))...).CombinedOutput()
	if err != nil {
		t.Fatalf("samba-tool %v: %v\n%s", args, err, out)
	}
}

// TestSambaAD: groups from a real Active Directory (Samba AD DC, LDAPS
// with the script's CA): carol is in Staff, and in Finance only through
// Staff; tokenGroups gives both, named SAMBA\…, and the PAC-style SID
// resolution names the same groups. Binds: simple (LDAPS), simple after
// StartTLS, and Kerberos (GSSAPI) as gatehouse-svc with its keytab.
func TestSambaAD(t *testing.T) {
	dc := testenv.NeedDirectory(t)
	if !testenv.InNetns(t, dc.Netns) {
		return
	}
	cfg := sambaConfig(t, dc)
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	m, err := d.UserGroups(`SAMBA\carol`)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("carol: %v %v", m.Names, m.SIDs)
	for _, g := range []string{`SAMBA\Staff`, `SAMBA\Finance`, `SAMBA\Domain Users`, `BUILTIN\Users`} {
		if !slices.Contains(m.Names, g) {
			t.Errorf("carol's groups %v lack %s", m.Names, g)
		}
	}
	if d.Domain() != "SAMBA" || len(m.SIDs) != len(m.Names)+1 || !strings.HasPrefix(m.SIDs[0], "S-1-5-21-") {
		t.Errorf("domain %q, SIDs %v", d.Domain(), m.SIDs)
	}
	// the SIDs as a PAC carries them, plus one the directory does not know
	sids := append(slices.Clone(m.SIDs), "S-1-5-21-1-2-3-4242")
	r, err := d.ResolveSIDs(sids)
	if err != nil || !slices.Equal(r.Names, m.Names) || !slices.Equal(r.SIDs, sids) {
		t.Errorf("ResolveSIDs: %v %v, want names %v", err, r, m.Names)
	}
	if _, err := d.UserGroups("nobody-here"); !errors.Is(err, ErrNoUser) {
		t.Errorf("unknown user: %v", err)
	}
	// carol of another domain is not this domain's carol
	for _, other := range []string{`OTHER\carol`, "carol@OTHER.TEST"} {
		if _, err := d.UserGroups(other); !errors.Is(err, ErrNoUser) {
			t.Errorf("%s: %v", other, err)
		}
	}
	// a burst of lookups of one uncached account shares one answer
	answers := make(chan *Membership, 20)
	for i := 0; i < cap(answers); i++ {
		go func() {
			m, err := d.UserGroups("carol@samba.test")
			if err != nil {
				t.Error(err)
			}
			answers <- m
		}()
	}
	first := <-answers
	for i := 1; i < cap(answers); i++ {
		if m := <-answers; m != first {
			t.Errorf("concurrent lookups got different answers")
		}
	}

	t.Run("starttls", func(t *testing.T) {
		c := cfg
		c.URL, c.StartTLS = strings.Replace(strings.Replace(cfg.URL, "ldaps:", "ldap:", 1), ":636", ":389", 1), true
		d, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if m, err := d.UserGroups("carol"); err != nil || !slices.Contains(m.Names, `SAMBA\Finance`) {
			t.Fatalf("%v %v", err, m)
		}
	})
	t.Run("kerberos", func(t *testing.T) {
		kt, err := keytab.Load(dc.SvcKeytab)
		if err != nil {
			t.Fatal(err)
		}
		kc, err := krbconfig.Load(dc.Krb5Conf)
		if err != nil {
			t.Fatal(err)
		}
		cl := client.NewWithKeytab("gatehouse-svc", "SAMBA.TEST", kt, kc, client.DisablePAFXFAST(true))
		c := cfg
		c.Bind, c.BindDN, c.Password, c.Kerberos = BindKerberos, "", "", cl
		d, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if m, err := d.UserGroups("carol@SAMBA.TEST"); err != nil || !slices.Contains(m.Names, `SAMBA\Finance`) {
			t.Fatalf("%v %v", err, m)
		}
	})
	t.Run("refusals", func(t *testing.T) {
		c := cfg
		c.Password = "not-the-password"
		d, _ := New(c)
		err := d.Check()
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "bind") || strings.Contains(err.Error(), c.Password) {
			t.Errorf("wrong bind password: %v", err)
		}
		c = cfg
		c.RootCAs = nil // the system pool does not know the DC's CA
		d, _ = New(c)
		if err := d.Check(); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("unknown CA: %v", err)
		}
		c = cfg
		c.URL = "ldaps://127.0.0.1:1"
		d, _ = New(c)
		if _, err := d.UserGroups("carol"); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "ldaps://127.0.0.1:1") {
			t.Errorf("nothing listening: %v", err)
		}
	})
	t.Run("membership change after the cache time", func(t *testing.T) {
		user := "dir-test-" + strings.ToLower(strings.ReplaceAll(time.Now().Format("150405.000"), ".", ""))
		samba(t, dc, "user", "add", user, "Dir-pw-1234!")
		defer exec.Command("samba-tool", "user", "delete", user, "-s", filepath.Join(dc.Dir, "etc", "smb.conf")).Run()
		samba(t, dc, "group", "addmembers", "Staff", user)
		clock := time.Now()
		d, _ := New(cfg)
		d.now = func() time.Time { return clock }
		defer d.Close()
		if m, err := d.UserGroups(user); err != nil || !slices.Contains(m.Names, `SAMBA\Finance`) {
			t.Fatalf("%v %v", err, m)
		}
		samba(t, dc, "group", "removemembers", "Staff", user)
		if m, _ := d.UserGroups(user); !slices.Contains(m.Names, `SAMBA\Finance`) {
			t.Errorf("the cached answer changed within the cache time: %v", m.Names)
		}
		clock = clock.Add(cfg.CacheTTL)
		if m, err := d.UserGroups(user); err != nil || slices.Contains(m.Names, `SAMBA\Finance`) || slices.Contains(m.Names, `SAMBA\Staff`) {
			t.Errorf("after the cache time: %v %v", err, m)
		}
	})
	_ = os.Getenv
}

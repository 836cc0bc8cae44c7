package server

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gatehouse-auth/gatehouse/krb"
)

func delegatedIdentity(user string, end time.Time) *Identity {
	cname := types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, "alice")
	tgt := types.NewPrincipalName(nametype.KRB_NT_SRV_INST, "krbtgt/EXAMPLE.TEST")
	return &Identity{User: user, delegatedTGT: &delegatedTGT{crealm: "EXAMPLE.TEST", cname: cname, cred: krb.Credential{
		Ticket:   krb.Ticket{Realm: "EXAMPLE.TEST", SName: tgt, EncPart: types.EncryptedData{EType: 18, Cipher: []byte("t")}},
		Key:      types.EncryptionKey{KeyType: 18, KeyValue: make([]byte, 32)},
		AuthTime: end.Add(-time.Hour), EndTime: end, SRealm: "EXAMPLE.TEST", SName: tgt,
	}}}
}

// TestCcacheDir: a delegated TGT is written 0600 under the user's escaped
// name, replaced by a newer one, and deleted once expired.
func TestCcacheDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cc")
	c, err := NewCcacheDir(dir, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v", st.Mode().Perm())
	}
	now := time.Now()
	if p := c.Store(&Identity{User: "bob"}); p != "" {
		t.Errorf("no delegation, but %q", p)
	}
	p := c.Store(delegatedIdentity("alice/admin@EXAMPLE.TEST", now.Add(time.Hour)))
	if p != filepath.Join(dir, "alice%2Fadmin@EXAMPLE.TEST") {
		t.Fatalf("path %q", p)
	}
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm() != 0o600 || st.ModTime().Sub(now.Add(time.Hour)).Abs() > time.Second {
		t.Fatalf("file %v %v", st, err)
	}
	b, _ := os.ReadFile(p)
	cc := new(credentials.CCache)
	if err := cc.Unmarshal(b); err != nil || cc.DefaultPrincipal.Realm != "EXAMPLE.TEST" {
		t.Fatalf("ccache: %v", err)
	}
	// a newer TGT replaces it
	c.Store(delegatedIdentity("alice/admin@EXAMPLE.TEST", now.Add(2*time.Hour)))
	if st, _ := os.Stat(p); st.ModTime().Before(now.Add(time.Hour + 30*time.Minute)) {
		t.Errorf("not refreshed: mtime %v", st.ModTime())
	}
	// names that would be hidden files are refused
	if p := c.Store(delegatedIdentity("..", now.Add(time.Hour))); p != "" {
		t.Errorf("wrote %q", p)
	}
	// expired: swept
	c.sweep(now.Add(3 * time.Hour))
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("expired ccache still there: %v", err)
	}
}

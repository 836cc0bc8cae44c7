package server

import (
	"encoding/binary"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// TestFileAuthorization uses the Unix accounts every Debian has (daemon
// uid 1, bin uid 2, sys uid 3, each with its own group) and files owned
// by them; changing owners needs root.
func TestFileAuthorization(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "root (the test gives files to other Unix accounts)")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	write := func(name string, mode os.FileMode, uid, gid int) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(name), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("public.txt", 0o644, 0, 0)
	// a directory only daemon may list, and one whose index only daemon may read
	for _, d := range []string{"private", "site"} {
		os.Mkdir(filepath.Join(dir, d), 0o755)
	}
	os.Chown(filepath.Join(dir, "private"), 1, 1)
	os.Chmod(filepath.Join(dir, "private"), 0o700)
	os.WriteFile(filepath.Join(dir, "site", "index.html"), []byte("index"), 0o600)
	os.Chown(filepath.Join(dir, "site", "index.html"), 1, 1)
	write("ben.txt", 0o600, 1, 1)   // daemon only
	write("group.txt", 0o640, 0, 3) // group sys
	acl := write("acl.txt", 0o600, 0, 0)
	// user::rw- user:bin:r-- group::--- mask::r-- other::---
	var b []byte
	b = binary.LittleEndian.AppendUint32(b, aclVersion)
	for _, e := range []aclEntry{{aclUserObj, 6, ^uint32(0)}, {aclUser, 4, 2}, {aclGroupObj, 0, ^uint32(0)}, {aclMask, 4, ^uint32(0)}, {aclOther, 0, ^uint32(0)}} {
		b = binary.LittleEndian.AppendUint16(b, e.tag)
		b = binary.LittleEndian.AppendUint16(b, e.perm)
		b = binary.LittleEndian.AppendUint32(b, e.id)
	}
	if err := syscall.Setxattr(acl, "system.posix_acl_access", b, 0); err != nil {
		t.Fatalf("setting a POSIX ACL: %v", err)
	}

	st := testStore(t)
	for _, u := range []string{"daemon", "bin", "sys", "carol"} {
		st.Add(u, u+"pw", nil)
	}
	st.AddToGroup("sys", "carol") // a Gatehouse group named like a Unix group
	g, err := New(Options{Store: st, Secret: make([]byte, 32), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
		[]Site{{Path: "/", Schemes: []string{"anonymous", "basic"}, BasicOverHTTP: true, Handler: StaticWithFileAuthz("/", dir)}})
	if err != nil {
		t.Fatal(err)
	}
	h := g.Wrap(nil)
	for _, c := range []struct {
		file, user string
		want       int
	}{
		{"public.txt", "", 200},
		{"ben.txt", "", 401}, // the seed's case: anonymous is asked to authenticate
		{"ben.txt", "daemon", 200},
		{"ben.txt", "bin", 401},
		{"group.txt", "sys", 200},   // primary group
		{"group.txt", "bin", 401},   // not in sys
		{"group.txt", "carol", 200}, // no Unix account; Gatehouse group "sys"
		{"group.txt", "", 401},
		{"acl.txt", "bin", 200}, // named user entry
		{"acl.txt", "daemon", 401},
		{"acl.txt", "", 401},
		{"missing.txt", "", 404},
		{"private/", "", 401}, // the listing
		{"private/", "daemon", 200},
		{"site/", "", 401}, // the index.html
		{"site/", "daemon", 200},
	} {
		hdr := map[string]string{}
		if c.user != "" {
			hdr = basicHdr(c.user, c.user+"pw")
		}
		w := do(t, h, "GET", "/"+c.file, hdr, false)
		if w.Code != c.want {
			t.Errorf("%s as %q: %d, want %d", c.file, c.user, w.Code, c.want)
		}
		if w.Code == 401 && w.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("%s as %q: 401 without challenges", c.file, c.user)
		}
	}
}

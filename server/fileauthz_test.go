package server

import (
	"encoding/binary"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
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
	write("private/pub.txt", 0o644, 0, 0) // readable, in a directory only daemon may search
	// a directory root owns, searchable by bin through a named ACL entry
	os.Mkdir(filepath.Join(dir, "aclDir"), 0o700)
	write("aclDir/pub.txt", 0o644, 0, 0)
	if err := syscall.Setxattr(filepath.Join(dir, "aclDir"), "system.posix_acl_access", aclBytes(aclEntry{aclUserObj, 7, ^uint32(0)}, aclEntry{aclUser, 1, 2}, aclEntry{aclGroupObj, 0, ^uint32(0)}, aclEntry{aclMask, 1, ^uint32(0)}, aclEntry{aclOther, 0, ^uint32(0)}), 0); err != nil {
		t.Fatalf("setting a POSIX ACL: %v", err)
	}
	write("ben.txt", 0o600, 1, 1)   // daemon only
	write("group.txt", 0o640, 0, 3) // group sys
	acl := write("acl.txt", 0o600, 0, 0)
	// user::rw- user:bin:r-- group::--- mask::r-- other::---
	b := aclBytes(aclEntry{aclUserObj, 6, ^uint32(0)}, aclEntry{aclUser, 4, 2}, aclEntry{aclGroupObj, 0, ^uint32(0)}, aclEntry{aclMask, 4, ^uint32(0)}, aclEntry{aclOther, 0, ^uint32(0)})
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
		// search permission on the directories on the way (POSIX)
		{"private/pub.txt", "", 401},
		{"private/pub.txt", "bin", 401},
		{"private/pub.txt", "daemon", 200},
		{"private/missing.txt", "", 401}, // not a 404: the name is not the caller's to know
		{"aclDir/pub.txt", "bin", 200},   // user:bin:--x
		{"aclDir/pub.txt", "daemon", 401},
		{"aclDir/pub.txt", "", 401},
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

func aclBytes(es ...aclEntry) []byte {
	var b []byte
	b = binary.LittleEndian.AppendUint32(b, aclVersion)
	for _, e := range es {
		b = binary.LittleEndian.AppendUint16(b, e.tag)
		b = binary.LittleEndian.AppendUint16(b, e.perm)
		b = binary.LittleEndian.AppendUint32(b, e.id)
	}
	return b
}

// TestFileAuthorizationServesWhatItChecks: the handler alone (behind the
// Gate, such paths are refused with 400 before any site sees them) must
// serve the very file it authorized, however the path is spelled. The
// site is /files on a root that has a files/ subdirectory; the file
// inside it is daemon's only; root/inner.txt does not exist.
func TestFileAuthorizationServesWhatItChecks(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "root (the test gives files to other Unix accounts)")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	os.Mkdir(filepath.Join(dir, "files"), 0o755)
	secret := filepath.Join(dir, "files", "inner.txt")
	os.WriteFile(secret, []byte("daemon's secret"), 0o600)
	os.Chown(secret, 1, 1)
	os.WriteFile(filepath.Join(dir, "pub.txt"), []byte("public"), 0o644)
	// symbolic links: one staying inside the root, one leading out of it
	os.Symlink("pub.txt", filepath.Join(dir, "link.txt"))
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "out.txt"), []byte("outside"), 0o644)
	os.Symlink(outside, filepath.Join(dir, "out"))
	for _, mk := range []func() http.Handler{
		func() http.Handler { return StaticWithFileAuthz("/files", dir) },
		func() http.Handler { return StaticWithFileAuthz("/files/", dir) },
	} {
		h := mk()
		for _, c := range []struct {
			target string
			want   int
		}{
			{"/files/pub.txt", 200},
			{"/FILES/pub.txt", 200}, // the Gate matches sites without regard to case
			{"/files/files/inner.txt", 401},
			{"/files/a/../../files/inner.txt", 404}, // root/inner.txt: the file the Gate's site match implies
			{"/files/a/..%2f..%2ffiles/inner.txt", 404},
			{"/files/./files/inner.txt", 401},
			{"/files//files/inner.txt", 401},
			{"/files/files/../files/inner.txt", 401},
			{"/files/../files/files/inner.txt", 401},
			{"/files/../../../etc/passwd", 404},
			{"/files/link.txt", 200},
			{"/files/out/out.txt", 404},
		} {
			r := httptest.NewRequest("GET", "http://x"+c.target, nil)
			r = r.WithContext(WithIdentity(r.Context(), anonymousIdentity(r)))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != c.want || strings.Contains(w.Body.String(), "secret") {
				t.Errorf("%s: %d %q, want %d", c.target, w.Code, w.Body.String(), c.want)
			}
		}
	}
}

// TestStaticResolvesOnce: without file authorization too, the file served
// is the one under the site's root that the cleaned path names.
func TestStaticResolvesOnce(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "files"), 0o755)
	os.WriteFile(filepath.Join(dir, "files", "inner.txt"), []byte("inner"), 0o644)
	os.WriteFile(filepath.Join(dir, "top.txt"), []byte("top"), 0o644)
	os.WriteFile(filepath.Join(dir, "files", "index.html"), []byte("index"), 0o644)
	h := Static("/files", dir)
	for _, c := range []struct {
		target string
		want   int
		body   string
	}{
		{"/files/top.txt", 200, "top"},
		{"/files/files/inner.txt", 200, "inner"},
		{"/files/a/../../files/inner.txt", 404, ""},
		{"/files/files/", 200, "index"},
		{"/files/files", 301, ""},
		{"/files/", 200, "files/"}, // the listing
		{"/other/top.txt", 404, ""},
	} {
		r := httptest.NewRequest("GET", "http://x"+c.target, nil)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != c.want || !strings.Contains(w.Body.String(), c.body) {
			t.Errorf("%s: %d %q, want %d %q", c.target, w.Code, w.Body.String(), c.want, c.body)
		}
	}
}

// FuzzSitePath: whatever the request path, the path below the site is
// clean, absolute and never climbs out.
func FuzzSitePath(f *testing.F) {
	for _, s := range []string{"/files/a/../../files/inner.txt", "/FILES/x", "/files", "/filesx", "//files//a", "/files/..", ""} {
		f.Add("/files", s)
		f.Add("/", s)
	}
	f.Fuzz(func(t *testing.T, prefix, p string) {
		rel, ok := sitePath(prefix, p)
		if !ok {
			return
		}
		if !strings.HasPrefix(rel, "/") || path.Clean(rel) != rel {
			t.Fatalf("sitePath(%q, %q) = %q: not clean", prefix, p, rel)
		}
		for _, seg := range strings.Split(rel, "/") {
			if seg == ".." {
				t.Fatalf("sitePath(%q, %q) = %q climbs", prefix, p, rel)
			}
		}
	})
}

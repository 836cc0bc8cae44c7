package server

import (
	"context"
	"encoding/binary"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// File authorization: ASP.NET's FileAuthorizationModule, portable. Where
// Windows runs AccessCheck of the user's token against the file's DACL,
// Gatehouse checks read permission on the file, and search permission on
// every directory from the site's root down to it, as POSIX does for the Unix
// account of the same name (the accounts a domain-joined host gets from
// winbind or SSSD, or local ones): owner, named users and groups of the
// POSIX ACL (system.posix_acl_access, with its mask), owning group, other.
// Anonymous requests, and users with no Unix account, are "other" (IIS's
// anonymous user); the identity's groups count where a Unix group has the
// same name. Refused: 401 with the site's challenges, as the module
// answers, so that an anonymous client is asked to authenticate (the
// BITS note in the seed: anonymous + integrated, a file only Ben may
// read).

type challengeKey struct{}

// Challenge answers r with the challenges of its site (401), as the Gate
// does when authorization refuses; for handlers behind Wrap.
func Challenge(w http.ResponseWriter, r *http.Request) {
	if f, ok := r.Context().Value(challengeKey{}).(func(http.ResponseWriter)); ok {
		f(w)
		return
	}
	http.Error(w, "401 Unauthorized", http.StatusUnauthorized)
}

func withChallenge(ctx context.Context, f func(http.ResponseWriter)) context.Context {
	return context.WithValue(ctx, challengeKey{}, f)
}

// StaticWithFileAuthz is Static whose files are also checked against the
// identity's permissions (see above): search (x) on every directory from
// root down to the file, and read on the file, or for a directory on its
// index.html, else on the directory itself (the listing). The file served
// is the one checked, read from the same descriptor. Symbolic links are
// followed only where they stay inside root; the directories checked are
// those of the resolved path.
func StaticWithFileAuthz(prefix, root string) http.Handler {
	if st, err := os.Stat(root); err == nil && st.Mode().IsRegular() {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			f, err := os.Open(root)
			if err != nil {
				http.NotFound(w, r)
				return
			}
			defer f.Close()
			if err := newAccess(IdentityFrom(r.Context())).check(f, permRead); err != nil {
				Challenge(w, r)
				return
			}
			fi, err := f.Stat()
			if err != nil || !fi.Mode().IsRegular() {
				http.NotFound(w, r)
				return
			}
			http.ServeContent(w, r, fi.Name(), fi.ModTime(), f)
		})
	}
	return &fileSite{prefix: prefix, root: root, authz: true}
}

// errOutsideRoot: a symbolic link leads out of the site's root.
var errOutsideRoot = errors.New("server: the path leaves the site's root")

// access is one request's view of the file system as its identity.
type access struct {
	a unixAccount
}

func newAccess(id *Identity) *access { return &access{a: unixAccountOf(id)} }

// open resolves rel (slash-separated, cleaned, from sitePath) under root
// and opens it, checking search permission on root and every directory
// below it on the way, and read permission on a file (a directory is
// returned unchecked: its index or listing decides). Each step opens the
// next name relative to the directory just checked, refusing symbolic
// links, so what is checked is what is opened.
func (c *access) open(root, rel string) (*os.File, error) {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, err
	}
	inner := filepath.FromSlash(strings.Trim(rel, "/"))
	if inner == "" {
		inner = "."
	}
	if real, err := filepath.EvalSymlinks(filepath.Join(root, inner)); err == nil {
		if inner, err = filepath.Rel(realRoot, real); err != nil || inner == ".." || strings.HasPrefix(inner, ".."+string(filepath.Separator)) {
			return nil, errOutsideRoot
		}
	} // else walk the names as given: a missing name is then reported
	// only where the identity may search the directory that lacks it
	fd, err := unix.Open(realRoot, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: realRoot, Err: err}
	}
	cur := os.NewFile(uintptr(fd), realRoot)
	if inner == "." {
		return cur, nil
	}
	for _, name := range strings.Split(inner, string(filepath.Separator)) {
		if err := c.check(cur, permExec); err != nil {
			cur.Close()
			return nil, err
		}
		next, err := openAt(cur, name)
		cur.Close()
		if err != nil {
			return nil, err
		}
		cur = next
	}
	fi, err := cur.Stat()
	if err != nil {
		cur.Close()
		return nil, err
	}
	if !fi.IsDir() {
		if err := c.check(cur, permRead); err != nil {
			cur.Close()
			return nil, err
		}
	}
	return cur, nil
}

// openIndex opens dir's index.html after checking search on dir and read
// on the file; fs.ErrNotExist when there is no regular index.html.
func (c *access) openIndex(dir *os.File) (*os.File, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(int(dir.Fd()), "index.html", &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fs.ErrNotExist
	}
	if err := c.check(dir, permExec); err != nil {
		return nil, err
	}
	f, err := openAt(dir, "index.html")
	if err != nil {
		return nil, err
	}
	if err := c.check(f, permRead); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// openAt opens name in dir without following a symbolic link.
func openAt(dir *os.File, name string) (*os.File, error) {
	p := filepath.Join(dir.Name(), name)
	fd, err := unix.Openat(int(dir.Fd()), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	f := os.NewFile(uintptr(fd), p)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		f.Close()
		return nil, &os.PathError{Op: "stat", Path: p, Err: err}
	}
	if t := st.Mode & unix.S_IFMT; t != unix.S_IFREG && t != unix.S_IFDIR {
		f.Close()
		return nil, &os.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
	return f, nil
}

// check is the access check of want (permRead, permExec) on the open f.
func (c *access) check(f *os.File, want uint16) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return err
	}
	acl, _ := readACL(f)
	if !mayAccess(c.a, st.Uid, st.Gid, uint16(st.Mode&0o777), acl, want) {
		return errDenied
	}
	return nil
}

// unixAccount is the Unix view of an identity: uid (-1: none) and gids.
type unixAccount struct {
	uid  int64
	gids map[int64]bool
}

func unixAccountOf(id *Identity) unixAccount {
	a := unixAccount{uid: -1, gids: map[int64]bool{}}
	if id == nil || id.Anonymous() {
		return a
	}
	for _, name := range []string{id.Name, id.User} {
		if name == "" {
			continue
		}
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		if uid, err := strconv.ParseInt(u.Uid, 10, 64); err == nil {
			a.uid = uid
		}
		if gids, err := u.GroupIds(); err == nil {
			for _, g := range gids {
				if gid, err := strconv.ParseInt(g, 10, 64); err == nil {
					a.gids[gid] = true
				}
			}
		}
		if gid, err := strconv.ParseInt(u.Gid, 10, 64); err == nil {
			a.gids[gid] = true
		}
		break
	}
	for _, g := range id.Groups {
		if ug, err := user.LookupGroup(g); err == nil {
			if gid, err := strconv.ParseInt(ug.Gid, 10, 64); err == nil {
				a.gids[gid] = true
			}
		}
	}
	return a
}

// POSIX ACL xattr layout (Linux): a 4-byte version 2, then 8-byte
// entries of tag (2), perm (2), id (4), little-endian.
const (
	aclVersion  = 2
	aclUserObj  = 0x01
	aclUser     = 0x02
	aclGroupObj = 0x04
	aclGroup    = 0x08
	aclMask     = 0x10
	aclOther    = 0x20
	permRead    = 4
	permExec    = 1 // search, on a directory
)

type aclEntry struct {
	tag, perm uint16
	id        uint32
}

var errNoACL = errors.New("no ACL")

func readACL(f *os.File) ([]aclEntry, error) {
	buf := make([]byte, 4096)
	n, err := unix.Fgetxattr(int(f.Fd()), "system.posix_acl_access", buf)
	if err != nil || n < 4 {
		return nil, errNoACL
	}
	b := buf[:n]
	if binary.LittleEndian.Uint32(b) != aclVersion || (len(b)-4)%8 != 0 {
		return nil, errNoACL
	}
	var out []aclEntry
	for p := 4; p < len(b); p += 8 {
		out = append(out, aclEntry{binary.LittleEndian.Uint16(b[p:]), binary.LittleEndian.Uint16(b[p+2:]), binary.LittleEndian.Uint32(b[p+4:])})
	}
	return out, nil
}

// mayAccess is the POSIX access check (acl(5), "ACCESS CHECK ALGORITHM")
// of want (one permission bit) on a file of owner uid, group gid, mode
// bits mode and ACL acl (nil: none) for the Unix account a. Root is not
// special here: the server's own privileges are not the user's.
func mayAccess(a unixAccount, uid, gid uint32, mode uint16, acl []aclEntry, want uint16) bool {
	if acl == nil { // mode bits only
		switch {
		case a.uid >= 0 && uint32(a.uid) == uid:
			return mode&(want<<6) != 0
		case a.gids[int64(gid)]:
			return mode&(want<<3) != 0
		default:
			return mode&want != 0
		}
	}
	mask := uint16(7) // no mask entry: named entries are not limited
	for _, e := range acl {
		if e.tag == aclMask {
			mask = e.perm
		}
	}
	var other uint16
	groupMatched, groupGrants := false, false
	for _, e := range acl {
		switch e.tag {
		case aclUserObj:
			if a.uid >= 0 && uint32(a.uid) == uid {
				return e.perm&want != 0
			}
		case aclOther:
			other = e.perm
		}
	}
	for _, e := range acl {
		if e.tag == aclUser && a.uid >= 0 && e.id == uint32(a.uid) {
			return e.perm&mask&want != 0
		}
	}
	for _, e := range acl {
		var g uint32
		switch e.tag {
		case aclGroupObj:
			g = gid
		case aclGroup:
			g = e.id
		default:
			continue
		}
		if a.gids[int64(g)] {
			groupMatched = true
			if e.perm&mask&want != 0 {
				groupGrants = true
			}
		}
	}
	if groupMatched {
		return groupGrants
	}
	return other&want != 0
}

package server

import (
	"context"
	"encoding/binary"
	"errors"
	"net/http"
	"os"
	"os/user"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// File authorization: ASP.NET's FileAuthorizationModule, portable. Where
// Windows runs AccessCheck of the user's token against the file's DACL,
// Gatehouse checks read permission on the file as POSIX does for the Unix
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
// identity's read permission (see above).
func StaticWithFileAuthz(prefix, root string) http.Handler {
	inner := Static(prefix, root)
	single := false
	if st, err := os.Stat(root); err == nil && st.Mode().IsRegular() {
		single = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		file := root
		if !single {
			rel := strings.TrimPrefix(path.Clean("/"+r.URL.Path), strings.TrimRight(prefix, "/"))
			file = filepath.Join(root, filepath.FromSlash(path.Clean("/"+rel)))
		}
		fi, err := os.Stat(file)
		if err == nil && fi.IsDir() {
			// the file server answers a directory with its index.html,
			// else a listing: check whichever it would read
			if ifi, err := os.Stat(filepath.Join(file, "index.html")); err == nil && ifi.Mode().IsRegular() {
				file, fi = filepath.Join(file, "index.html"), ifi
			}
		}
		if err == nil && !mayRead(IdentityFrom(r.Context()), file, fi) {
			Challenge(w, r)
			return
		}
		inner.ServeHTTP(w, r) // missing files: the file server's answer
	})
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
)

type aclEntry struct {
	tag, perm uint16
	id        uint32
}

var errNoACL = errors.New("no ACL")

func readACL(file string) ([]aclEntry, error) {
	buf := make([]byte, 4096)
	n, err := syscall.Getxattr(file, "system.posix_acl_access", buf)
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

// mayRead is the POSIX access check (acl(5), "ACCESS CHECK ALGORITHM")
// for reading file as id's Unix account. Root is not special here: the
// server's own privileges are not the user's.
func mayRead(id *Identity, file string, fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	a := unixAccountOf(id)
	mode := uint16(fi.Mode().Perm())
	acl, err := readACL(file)
	if err != nil { // mode bits only
		switch {
		case a.uid >= 0 && uint32(a.uid) == st.Uid:
			return mode&(permRead<<6) != 0
		case a.gids[int64(st.Gid)]:
			return mode&(permRead<<3) != 0
		default:
			return mode&permRead != 0
		}
	}
	mask := uint16(7) // no mask entry: named entries are not limited
	for _, e := range acl {
		if e.tag == aclMask {
			mask = e.perm
		}
	}
	var other uint16
	groupMatched, groupRead := false, false
	for _, e := range acl {
		switch e.tag {
		case aclUserObj:
			if a.uid >= 0 && uint32(a.uid) == st.Uid {
				return e.perm&permRead != 0
			}
		case aclOther:
			other = e.perm
		}
	}
	for _, e := range acl {
		if e.tag == aclUser && a.uid >= 0 && e.id == uint32(a.uid) {
			return e.perm&mask&permRead != 0
		}
	}
	for _, e := range acl {
		var gid uint32
		switch e.tag {
		case aclGroupObj:
			gid = st.Gid
		case aclGroup:
			gid = e.id
		default:
			continue
		}
		if a.gids[int64(gid)] {
			groupMatched = true
			if e.perm&mask&permRead != 0 {
				groupRead = true
			}
		}
	}
	if groupMatched {
		return groupRead
	}
	return other&permRead != 0
}

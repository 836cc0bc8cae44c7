package server

import (
	"errors"
	"fmt"
	"html"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// Static files: the request path is resolved once, into the file that is
// both authorized (with file_authorization) and served. The file is served
// from the descriptor that was checked; the URL is never resolved again
// (http.StripPrefix + http.FileServer would resolve the raw path a second
// time, and a path like /files/a/../../files/x then names another file
// than the one the site matched).

// sitePath is the path of r below the site at prefix, cleaned the way the
// Gate cleans it to match the site (path.Clean, prefix compared without
// regard to case), always starting with "/". ok is false when the path is
// not under prefix.
func sitePath(prefix, urlPath string) (rel string, ok bool) {
	clean := path.Clean("/" + urlPath)
	prefix = strings.TrimRight(prefix, "/")
	if prefix == "" {
		return clean, true
	}
	switch {
	case strings.EqualFold(clean, prefix):
		return "/", true
	case len(clean) > len(prefix) && clean[len(prefix)] == '/' && strings.EqualFold(clean[:len(prefix)], prefix):
		return clean[len(prefix):], true
	}
	return "", false
}

// errDenied: the identity may not search a directory on the way or read
// the file.
var errDenied = errors.New("server: file access denied")

// fileSite serves the files under root for the site at prefix; with authz,
// every file is checked against the identity's permissions (fileauthz.go).
type fileSite struct {
	prefix string
	root   string
	authz  bool
}

func (s *fileSite) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rel, ok := sitePath(s.prefix, r.URL.Path)
	if !ok {
		http.NotFound(w, r)
		return
	}
	var (
		f   *os.File
		err error
		acc *access
	)
	if s.authz {
		acc = newAccess(IdentityFrom(r.Context()))
		f, err = acc.open(s.root, rel)
	} else {
		f, err = os.Open(filepath.Join(s.root, filepath.FromSlash(rel)))
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !fi.IsDir() {
		if !fi.Mode().IsRegular() {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, fi.Name(), fi.ModTime(), f)
		return
	}
	// a directory: as http.FileServer, redirect to the slash form, then
	// its index.html, else a listing
	if !strings.HasSuffix(r.URL.Path, "/") {
		target := path.Base(r.URL.Path) + "/"
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		w.Header().Set("Location", target)
		w.WriteHeader(http.StatusMovedPermanently)
		return
	}
	var idx *os.File
	if acc != nil {
		idx, err = acc.openIndex(f)
	} else {
		idx, err = os.Open(filepath.Join(f.Name(), "index.html"))
		if err == nil {
			if ifi, err2 := idx.Stat(); err2 != nil || !ifi.Mode().IsRegular() {
				idx.Close()
				idx, err = nil, fs.ErrNotExist
			}
		}
	}
	switch {
	case err == nil:
		defer idx.Close()
		ifi, err := idx.Stat()
		if err != nil {
			s.fail(w, r, err)
			return
		}
		http.ServeContent(w, r, "index.html", ifi.ModTime(), idx)
		return
	case !errors.Is(err, fs.ErrNotExist):
		s.fail(w, r, err)
		return
	}
	if acc != nil {
		if err := acc.check(f, permRead); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	dirList(w, r, f)
}

func (s *fileSite) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, errDenied):
		Challenge(w, r)
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, unix.ELOOP), errors.Is(err, unix.ENOTDIR), errors.Is(err, errOutsideRoot):
		http.NotFound(w, r)
	case errors.Is(err, fs.ErrPermission):
		// the server itself may not read it
		http.Error(w, "403 Forbidden", http.StatusForbidden)
	default:
		http.Error(w, "500 Internal Server Error", http.StatusInternalServerError)
	}
}

// dirList writes the names in d as http.FileServer does.
func dirList(w http.ResponseWriter, r *http.Request, d *os.File) {
	ents, err := d.ReadDir(-1)
	if err != nil {
		http.Error(w, "500 Internal Server Error: reading the directory", http.StatusInternalServerError)
		return
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	var b strings.Builder
	b.WriteString("<!doctype html>\n<meta name=\"viewport\" content=\"width=device-width\">\n<pre>\n")
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() {
			name += "/"
		}
		u := url.URL{Path: name}
		fmt.Fprintf(&b, "<a href=\"%s\">%s</a>\n", u.String(), html.EscapeString(name))
	}
	b.WriteString("</pre>\n")
	_, _ = w.Write([]byte(b.String()))
}

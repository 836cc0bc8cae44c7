package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// WhoAmI writes the request's identity: JSON when the client asks for
// application/json, HTML otherwise.
func WhoAmI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := IdentityFrom(r.Context())
		if id == nil {
			http.Error(w, "no identity: WhoAmI must run behind the Gate", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		if strings.Contains(r.Header.Get("Accept"), "application/json") {
			w.Header().Set("Content-Type", "application/json")
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			_ = enc.Encode(id)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = whoamiHTML.Execute(w, id)
	})
}

// whoamiHTML is the whoami page of pages.go.
var whoamiHTML = pages.Lookup("whoami")

// Static serves files under root for the site at prefix; when root is a
// regular file, every request gets that file. The path is resolved once,
// as the Gate resolved it to match the site (files.go).
func Static(prefix, root string) http.Handler {
	if st, err := os.Stat(root); err == nil && st.Mode().IsRegular() {
		return &singleFile{path: root}
	}
	return &fileSite{prefix: prefix, root: root}
}

// spoofable are request headers an upstream might take as identity: a
// client must never be able to set them through the proxy.
var spoofable = []string{
	"X-Remote-User", "X-Remote-Name", "X-Remote-Domain", "X-Remote-Groups", "X-Remote-Scheme",
	"Remote-User", "X-Forwarded-User", "X-Authenticated-User", "X-Gatehouse-Identity",
}

// Proxy forwards to upstream with the identity in X-Remote-* headers and
// the X-Forwarded-* set; whatever the client sent in those headers, and its
// Authorization header (a Basic password must not travel on), is removed.
func Proxy(upstream *url.URL) http.Handler {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			pr.SetXForwarded()
			h := pr.Out.Header
			for _, k := range spoofable {
				h.Del(k)
			}
			h.Del("Authorization")
			stripSessionCookie(pr.Out)
			id := IdentityFrom(pr.In.Context())
			if id == nil || id.Anonymous() {
				return
			}
			h.Set("X-Remote-User", id.User)
			h.Set("X-Remote-Name", id.Name)
			h.Set("X-Remote-Domain", id.Domain)
			h.Set("X-Remote-Scheme", id.Scheme)
			if len(id.Groups) > 0 {
				h.Set("X-Remote-Groups", strings.Join(id.Groups, ","))
			}
		},
	}
}

// singleFile serves one small file from memory, re-reading it when its
// modification time changes (checked at most once per singleFileRecheck),
// which spares the open/stat/read system calls per request that
// http.ServeFile makes. Files over singleFileMax are served from disk.
type singleFile struct {
	path string
	mu   sync.Mutex
	body []byte
	mod  time.Time
	seen time.Time // last stat
}

const (
	singleFileRecheck = time.Second
	singleFileMax     = 1 << 20
)

func (f *singleFile) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	now := time.Now()
	if now.Sub(f.seen) > singleFileRecheck {
		f.seen = now
		st, err := os.Stat(f.path)
		if err != nil || st.Size() > singleFileMax {
			f.body = nil
		} else if f.body == nil || !st.ModTime().Equal(f.mod) {
			if b, err := os.ReadFile(f.path); err == nil && len(b) <= singleFileMax {
				f.body, f.mod = b, st.ModTime()
			} else {
				f.body = nil
			}
		}
	}
	body, mod := f.body, f.mod
	f.mu.Unlock()
	if body == nil {
		http.ServeFile(w, r, f.path)
		return
	}
	http.ServeContent(w, r, f.path, mod, bytes.NewReader(body))
}

// stripSessionCookie keeps Gatehouse's own session cookie from the
// upstream: it is a bearer credential for this server, not the app's.
func stripSessionCookie(r *http.Request) {
	cs := r.Cookies()
	r.Header.Del("Cookie")
	for _, c := range cs {
		if c.Name != SessionCookie {
			r.AddCookie(c)
		}
	}
}

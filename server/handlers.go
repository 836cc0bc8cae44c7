package server

import (
	"bytes"
	"encoding/json"
	"log"
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
// client must never be able to set them through the proxy. Every name
// beginning X-Remote- or X-Gatehouse- is reserved too (X-Remote-Ccache,
// X-Gatehouse-Jwt-Assertion…).
var spoofable = []string{
	"X-Remote-User", "X-Remote-Name", "X-Remote-Domain", "X-Remote-Groups", "X-Remote-Scheme",
	"Remote-User", "X-Forwarded-User", "X-Authenticated-User", "X-Gatehouse-Identity",
	HeaderAssertion, HeaderCcache,
}

// reservedPrefixes are the header name prefixes the proxy reserves.
var reservedPrefixes = []string{"x-remote-", "x-gatehouse-"}

// pathOverrides are request headers some frameworks (Symfony, Zend,
// Laminas; IIS URL Rewrite sets them) take as the request's path instead
// of the request line: from a client they would route the upstream to a
// path no site rule was checked for.
var pathOverrides = []string{"X-Original-URL", "X-Rewrite-URL"}

// scrubHeaders removes, from a request going upstream, every header the
// upstream could read as one of the identity headers. CGI (RFC 3875
// §4.1.18), WSGI, PHP, Rack and many frameworks name a header
// HTTP_X_REMOTE_USER whatever its case and whether it was spelled with -
// or _ (Apache's CGI turns any other character into _ too), so X_Remote_User
// would pass for X-Remote-User. Removed: every name with a character other
// than a letter, digit or - (as Apache 2.4 and nginx do for CGI, with
// underscores_in_headers off), and every name that, read with any such
// character as - and case-folded, is reserved.
func scrubHeaders(h http.Header) {
	for k := range h {
		if !plainHeaderName(k) || reservedHeader(k) {
			delete(h, k)
		}
	}
}

func plainHeaderName(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return k != ""
}

// reservedHeader: name, read as CGI reads it, is one the proxy sets or
// reserves.
func reservedHeader(name string) bool {
	n := []byte(strings.ToLower(name))
	for i, c := range n {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			n[i] = '-'
		}
	}
	s := string(n)
	for _, p := range reservedPrefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	for _, list := range [][]string{spoofable, pathOverrides} {
		for _, k := range list {
			if s == strings.ToLower(k) {
				return true
			}
		}
	}
	return false
}

// Proxy forwards to upstream with the identity in X-Remote-* headers and
// the X-Forwarded-* set; whatever the client sent in those headers, in any
// spelling (scrubHeaders), and its Authorization header (a Basic password
// must not travel on), is removed. The path goes upstream as the decoded
// path the Gate authorized, in its canonical encoding, never the client's
// spelling of it.
func Proxy(upstream *url.URL) http.Handler {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.RawPath = ""
			pr.SetURL(upstream)
			pr.SetXForwarded()
			h := pr.Out.Header
			scrubHeaders(h)
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
		ErrorHandler: proxyError,
	}
}

// proxyError answers a request the upstream could not: 408 when the
// client's body came too slowly (body.go), else 502.
func proxyError(w http.ResponseWriter, r *http.Request, err error) {
	if bodyTimedOut(r, err) {
		w.Header().Set("Connection", "close")
		http.Error(w, "408 Request Timeout: the request body arrived too slowly", http.StatusRequestTimeout)
		return
	}
	log.Printf("http: proxy error: %v", err)
	w.WriteHeader(http.StatusBadGateway)
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

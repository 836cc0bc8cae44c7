package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-auth/gatehouse/identitytoken"
)

// Forward auth makes the Gate the authentication service of a front end
// (nginx auth_request, Caddy forward_auth, Traefik ForwardAuth): the front
// end sends each request's headers, with the original method and URI in
// X-Forwarded-* or X-Original-* headers, and copies the identity headers of
// a 200 into the request it passes to the application. The site, schemes
// and rules are those of the original path.
//
// Connection-bound authentication does not survive a front end: it pools
// its connections to the auth service, so one connection carries many
// users' requests. Through forward auth a connection is never
// authenticated, and NTLM is offered only on sites with sessions: its two
// legs are tied together by a handshake cookie instead of the connection,
// and the last leg sets the session cookie that later requests carry.

// Header names of the forward-auth exchange.
const (
	HeaderAssertion = "X-Gatehouse-Jwt-Assertion"
	HeaderCcache    = "X-Remote-Ccache"
)

// identityHeaders are the headers a forward-auth 200 always carries, empty
// when there is nothing to say, so that a front end that copies them never
// passes a client's own value on.
var identityHeaders = []string{"X-Remote-User", "X-Remote-Name", "X-Remote-Domain", "X-Remote-Groups", "X-Remote-Scheme"}

// HandshakeCookie ties the legs of an NTLM handshake made through forward
// auth together (the front end's connections cannot).
const HandshakeCookie = "gatehouse_handshake"

// ForwardAuthOptions configure Gate.ForwardAuth.
type ForwardAuthOptions struct {
	// TrustedProxies may call the endpoint; anyone else gets 403.
	TrustedProxies []netip.Prefix
	// Token signs the identity into X-Gatehouse-Jwt-Assertion (nil: none).
	Token *identitytoken.Signer
	// Ccaches writes delegated credentials (nil: none); the answer then
	// carries X-Remote-Ccache.
	Ccaches *CcacheDir
}

type forwardAuth struct {
	g     *Gate
	o     ForwardAuthOptions
	sites map[*site]*site // the forward-auth view of each site

	mu         sync.Mutex
	handshakes map[string]*connInfo
	swept      time.Time
}

// ForwardAuth returns the forward-auth endpoint's handler. It logs a
// warning for each site that lists NTLM without sessions: NTLM is not
// offered there through forward auth.
func (g *Gate) ForwardAuth(o ForwardAuthOptions) http.Handler {
	fa := &forwardAuth{g: g, o: o, sites: map[*site]*site{}, handshakes: map[string]*connInfo{}}
	for _, st := range g.sites {
		v := *st
		v.connAuth = false
		v.schemes = nil
		for _, sc := range st.schemes {
			switch s := sc.(type) {
			case *ntlmScheme:
				if !st.sessions {
					g.log.Warn("forward auth: NTLM is not offered through forward auth on a site without sessions (a front end pools its connections, so the handshake needs sessions: true)", "site", st.path)
					continue
				}
			case *negotiateScheme:
				if !st.sessions && s.useNTLM {
					c := *s
					c.useNTLM = false
					sc = &c
				}
			}
			v.schemes = append(v.schemes, sc)
		}
		fa.sites[st] = &v
	}
	return fa
}

func (fa *forwardAuth) trusted(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range fa.o.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// original is the request the front end is asking about.
type original struct {
	method, uri, host, proto string
}

// originalRequest reads the original request from one family of headers:
// X-Forwarded-Method/-Uri/-Host/-Proto (Traefik, Caddy) or
// X-Original-Method/-URI (nginx, with Host and X-Original-Proto). A front
// end passes the client's own headers along, so a request carrying both
// families, or a header twice, is refused: a client of nginx could
// otherwise name another path in X-Forwarded-Uri than the one it asks for.
func originalRequest(r *http.Request) (original, string) {
	one := func(name string) (string, bool) {
		v := r.Header.Values(name)
		if len(v) > 1 {
			return "", false
		}
		if len(v) == 1 {
			return v[0], true
		}
		return "", true
	}
	var o original
	fwdURI, ok1 := one("X-Forwarded-Uri")
	origURI, ok2 := one("X-Original-Uri")
	if !ok1 || !ok2 {
		return o, "the original URI header appears twice"
	}
	switch {
	case fwdURI != "" && origURI != "":
		return o, "both X-Forwarded-Uri and X-Original-URI are present (the front end must clear the one it does not set)"
	case fwdURI != "":
		var ok bool
		o.uri = fwdURI
		m, okm := one("X-Forwarded-Method")
		h, okh := one("X-Forwarded-Host")
		p, okp := one("X-Forwarded-Proto")
		if ok = okm && okh && okp; !ok {
			return o, "an X-Forwarded-* header appears twice"
		}
		if om, _ := one("X-Original-Method"); om != "" {
			return o, "X-Original-Method present with X-Forwarded-Uri"
		}
		o.method, o.host, o.proto = m, h, p
	case origURI != "":
		o.uri = origURI
		m, okm := one("X-Original-Method")
		p, okp := one("X-Original-Proto")
		h, okh := one("X-Original-Host")
		if !okm || !okp || !okh {
			return o, "an X-Original-* header appears twice"
		}
		if fm, _ := one("X-Forwarded-Method"); fm != "" {
			return o, "X-Forwarded-Method present with X-Original-URI"
		}
		o.method, o.host, o.proto = m, h, p
	default:
		return o, "no X-Forwarded-Uri or X-Original-URI header"
	}
	if o.method == "" {
		return o, "no original method (X-Forwarded-Method or X-Original-Method)"
	}
	if o.host == "" {
		o.host = r.Host
	}
	if o.proto == "" {
		o.proto = "http"
	}
	o.proto = strings.ToLower(o.proto)
	if o.proto != "http" && o.proto != "https" {
		return o, "the original scheme is neither http nor https"
	}
	if !strings.HasPrefix(o.uri, "/") {
		return o, "the original URI is not an absolute path"
	}
	return o, ""
}

func (fa *forwardAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g := fa.g
	w.Header().Set("Cache-Control", "no-store")
	if !fa.trusted(r) {
		g.log.Warn("forward auth: caller is not a trusted proxy", "remote", r.RemoteAddr)
		http.Error(w, "403 Forbidden: not a trusted proxy", http.StatusForbidden)
		return
	}
	o, why := originalRequest(r)
	if why != "" {
		g.log.Info("forward auth: bad request", "reason", why, "remote", r.RemoteAddr)
		http.Error(w, "400 Bad Request: "+why, http.StatusBadRequest)
		return
	}
	u, err := url.ParseRequestURI(o.uri)
	if err != nil {
		http.Error(w, "400 Bad Request: the original URI does not parse", http.StatusBadRequest)
		return
	}
	// an original path the application may read differently is refused,
	// as for requests the Gate serves itself (pathcheck.go)
	if why := pathProblem(u.EscapedPath()); why != "" {
		g.log.Info("ambiguous path refused", "reason", why, "path", o.uri, "remote", r.RemoteAddr, "via", "forward_auth")
		http.Error(w, "400 Bad Request: "+why, http.StatusBadRequest)
		return
	}
	st := g.match(u.Path)
	if st == nil {
		http.Error(w, "404 Not Found: no site for the original path", http.StatusNotFound)
		return
	}
	view := fa.sites[st]

	// The request the front end received, as far as authentication is
	// concerned: its method and URI (Digest checks both), host, and the
	// client's headers as the front end passed them.
	orig := r.Clone(r.Context())
	orig.Method, orig.URL, orig.RequestURI, orig.Host = o.method, u, o.uri, o.host
	orig.TLS = nil // the client's TLS ended at the front end
	ci, hsID := fa.handshake(r)
	orig = orig.WithContext(context.WithValue(orig.Context(), connKey{}, ci))
	hw := &handshakeWriter{ResponseWriter: w, fa: fa, ci: ci, id: hsID}

	id, note := g.authenticate(hw, orig, view)
	if id == nil {
		return
	}
	hw.settle()
	if ok, rule := st.rules.Decide(subjectOf(id), o.method); !ok {
		if g.sessionDenied(w, orig, view, id, note) {
			return
		}
		if id.Anonymous() && len(g.challenges(orig, view, false)) > 0 {
			g.log.Info("authorization denied", "user", "(anonymous)", "rule", rule, "method", o.method, "path", u.Path, "remote", r.RemoteAddr, "via", "forward_auth")
			g.unauthorized(w, orig, view, false)
			return
		}
		g.log.Info("authorization denied", "user", id.User, "rule", rule, "method", o.method, "path", u.Path, "remote", r.RemoteAddr, "via", "forward_auth")
		http.Error(w, "403 Forbidden: access is denied by the authorization rules", http.StatusForbidden)
		return
	}
	cookieReq := orig
	if o.proto == "https" {
		// the session cookie is Secure when the client came over TLS
		cookieReq = orig.Clone(orig.Context())
		cookieReq.TLS = &tls.ConnectionState{}
	}
	g.sessionAllowed(w, cookieReq, view, id, note)
	h := w.Header()
	setIdentityHeaders(h, id)
	if fa.o.Token != nil {
		tok := ""
		if !id.Anonymous() {
			if tok, err = fa.o.Token.SignCached(tokenIdentity(id), o.proto+"://"+o.host); err != nil {
				g.log.Error("identity token", "error", err)
				http.Error(w, "500 Internal Server Error", http.StatusInternalServerError)
				return
			}
		}
		h.Set(HeaderAssertion, tok)
	}
	if fa.o.Ccaches != nil {
		h.Set(HeaderCcache, fa.o.Ccaches.Store(id))
	}
	w.WriteHeader(http.StatusOK)
}

// setIdentityHeaders sets every identity header, empty for the anonymous.
func setIdentityHeaders(h http.Header, id *Identity) {
	for _, k := range identityHeaders {
		h.Set(k, "")
	}
	if id == nil || id.Anonymous() {
		return
	}
	h.Set("X-Remote-User", id.User)
	h.Set("X-Remote-Name", id.Name)
	h.Set("X-Remote-Domain", id.Domain)
	h.Set("X-Remote-Scheme", id.Scheme)
	h.Set("X-Remote-Groups", strings.Join(id.Groups, ","))
}

func tokenIdentity(id *Identity) identitytoken.Identity {
	return identitytoken.Identity{User: id.User, Name: id.Name, Domain: id.Domain, Groups: id.Groups, SIDs: id.SIDs, Scheme: id.Scheme}
}

// handshake returns the NTLM handshake state named by the request's
// handshake cookie, or a fresh one (id "") that lives only as long as
// this request unless a handshake starts on it.
func (fa *forwardAuth) handshake(r *http.Request) (*connInfo, string) {
	if c, err := r.Cookie(HandshakeCookie); err == nil {
		fa.mu.Lock()
		ci := fa.handshakes[c.Value]
		fa.mu.Unlock()
		if ci != nil {
			return ci, c.Value
		}
	}
	return &connInfo{client: forwardedClient(r)}, ""
}

// forwardedClient is the key of the per-client cap on half-finished
// handshakes for a request through a front end: the address the front end
// appended to X-Forwarded-For (the last one; earlier ones are the
// client's say), else the front end's own.
func forwardedClient(r *http.Request) string {
	xff := r.Header.Values("X-Forwarded-For")
	if len(xff) > 0 {
		last := xff[len(xff)-1]
		if i := strings.LastIndexByte(last, ','); i >= 0 {
			last = last[i+1:]
		}
		if a := strings.TrimSpace(last); a != "" {
			return "forwarded " + a
		}
	}
	return hostOf(r.RemoteAddr)
}

// handshakeWriter keeps a handshake that started (or goes on) on this
// request under a cookie, and forgets one that ended, just before the
// answer's headers go out.
type handshakeWriter struct {
	http.ResponseWriter
	fa      *forwardAuth
	ci      *connInfo
	id      string
	settled bool
}

func (w *handshakeWriter) WriteHeader(code int) {
	w.settle()
	w.ResponseWriter.WriteHeader(code)
}

func (w *handshakeWriter) Write(b []byte) (int, error) {
	w.settle()
	return w.ResponseWriter.Write(b)
}

func (w *handshakeWriter) settle() {
	if w.settled {
		return
	}
	w.settled = true
	w.ci.mu.Lock()
	pending := w.ci.pending != nil
	w.ci.mu.Unlock()
	fa := w.fa
	switch {
	case pending && w.id == "":
		b := make([]byte, 18)
		rand.Read(b)
		w.id = base64.RawURLEncoding.EncodeToString(b)
		fa.mu.Lock()
		fa.sweep()
		fa.handshakes[w.id] = w.ci
		fa.mu.Unlock()
		http.SetCookie(w.ResponseWriter, &http.Cookie{Name: HandshakeCookie, Value: w.id, Path: "/", MaxAge: int(fa.g.conns.ttl / time.Second), HttpOnly: true, SameSite: http.SameSiteLaxMode})
	case !pending && w.id != "":
		// The cookie is left to expire (the handshake timeout): a second
		// Set-Cookie would displace the session cookie with front ends
		// that pass only the first (nginx's $upstream_http_set_cookie).
		fa.mu.Lock()
		delete(fa.handshakes, w.id)
		fa.mu.Unlock()
	}
}

// sweep forgets finished or expired handshakes (fa.mu held); their slots
// in the pending count were given back when they ended. The caps on
// pending handshakes (ntlm.max_pending, per client) bound the map.
func (fa *forwardAuth) sweep() {
	now := time.Now()
	if now.Sub(fa.swept) < time.Second {
		return
	}
	fa.swept = now
	for k, ci := range fa.handshakes {
		ci.mu.Lock()
		done := ci.pending == nil // finished, or expired (its timer freed the slot)
		ci.mu.Unlock()
		if done {
			delete(fa.handshakes, k)
		}
	}
}

// JWKS serves the identity token's public keys (anonymous, cacheable for
// a minute so a rotation is seen soon).
func JWKS(s *identitytoken.Signer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.Write(s.JWKS())
	})
}

// JWKSPath is where JWKS is served on every listener.
const JWKSPath = "/.well-known/gatehouse/jwks.json"

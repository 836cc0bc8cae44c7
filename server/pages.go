package server

import (
	"html/template"
	"net"
	"net/http"
	"strings"
)

// The pages a person sees: who they are, why they may not come in, and
// what to do. Small, styled inline, no external assets (a 401 page must
// render before the browser may fetch anything else from the site).

const pageStyle = `<style>
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
main{max-width:40rem;margin:3rem auto;padding:2rem 2.5rem;background:#fff;border-radius:10px;box-shadow:0 1px 4px #0002}
h1{font-size:1.5rem;margin:0 0 .25rem}
.status{color:#6b7280;font-size:.9rem;margin:0 0 1.25rem}
.bad h1{color:#b42318}.ok h1{color:#067647}
table{border-collapse:collapse;width:100%;margin:1rem 0}
th{text-align:left;font-weight:600;color:#4b5563;width:11rem;vertical-align:top}
th,td{padding:.35rem .5rem;border-top:1px solid #eceef2}
code{background:#f1f2f5;padding:.1rem .3rem;border-radius:4px;font-size:.9em}
ul{padding-left:1.25rem}li{margin:.3rem 0}
footer{color:#9ca3af;font-size:.8rem;margin-top:1.5rem}
</style>`

var pages = template.Must(template.New("pages").Parse(`
{{define "head"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{{.}}</title>` + pageStyle + `</head>{{end}}

{{define "identity"}}<table>
<tr><th>user</th><td id="user">{{if .Anonymous}}(anonymous){{else}}{{.User}}{{end}}</td></tr>
<tr><th>name</th><td id="name">{{.Name}}</td></tr>
<tr><th>domain</th><td id="domain">{{.Domain}}</td></tr>
<tr><th>scheme</th><td id="scheme">{{.Scheme}}</td></tr>
<tr><th>mechanism</th><td id="mechanism">{{.Mechanism}}</td></tr>
<tr><th>groups</th><td id="groups">{{range $i, $g := .Groups}}{{if $i}}, {{end}}{{$g}}{{else}}(none){{end}}</td></tr>
<tr><th>sids</th><td id="sids">{{range $i, $g := .SIDs}}{{if $i}}, {{end}}{{$g}}{{else}}(none){{end}}</td></tr>
<tr><th>service name</th><td id="service_name">{{if .ServiceName}}{{.ServiceName}}{{else}}(none){{end}}</td></tr>
<tr><th>channel binding</th><td id="channel_binding">{{.ChannelBinding}}</td></tr>
<tr><th>delegated</th><td id="delegated">{{.Delegated}}</td></tr>
<tr><th>session</th><td id="session">{{.Session}}</td></tr>
</table>{{end}}

{{define "whoami"}}{{template "head" "Gatehouse: who am I"}}
<body class="ok"><main>
<h1>{{if .Anonymous}}Anonymous{{else}}{{.User}}{{end}}</h1>
<p class="status">{{if .Anonymous}}This page needs no sign-in, and your browser sent none.{{else}}You are signed in with {{.Scheme}}{{if ne .Mechanism "none"}} ({{.Mechanism}}){{end}}.{{end}}</p>
{{template "identity" .}}
<footer>Gatehouse</footer>
</main></body></html>
{{end}}

{{define "401"}}{{template "head" "401 Sign-in required"}}
<body class="bad"><main>
<h1>Sign-in required</h1>
<p class="status">401 Unauthorized{{if .Stale}}: your sign-in has expired{{end}}</p>
<p>{{.Path}} accepts: <strong>{{range $i, $s := .Schemes}}{{if $i}}, {{end}}{{$s}}{{end}}</strong>.</p>
<ul>
{{if .Negotiate}}<li>Windows sign-in (Kerberos) is offered.{{if .IPHost}} Browsers and Kerberos need the server's name, not an address: use its host name in the URL.{{end}} If your browser did not send it: add <code>{{.Host}}</code> to the <em>Local intranet</em> zone (Internet Options → Security), or start Chrome/Edge with <code>--auth-server-allowlist={{.Host}}</code>; in Firefox add it to <code>network.negotiate-auth.trusted-uris</code>. Kerberos also needs a ticket: <code>klist</code> shows yours, <code>kinit</code> gets one.</li>{{end}}
{{if .Password}}<li>A user name and password are accepted: your browser should ask for them; if it did not, reload the page.</li>{{end}}
{{if .Certificate}}<li>A client certificate is accepted: choose one when your browser asks (it asks again after a restart).</li>{{end}}
<li>From a command line: <code>curl --negotiate -u : {{.URL}}</code> or <code>gatehouse get {{.URL}}</code>.</li>
</ul>
<footer>Gatehouse</footer>
</main></body></html>
{{end}}

{{define "403"}}{{template "head" "403 Forbidden"}}
<body class="bad"><main>
<h1>Access denied</h1>
<p class="status">403 Forbidden</p>
<p>{{.Reason}}</p>
{{if .ID}}{{template "identity" .ID}}{{end}}
<p>If you should have access, ask the administrator to add you, or a group you are in, to the site's <code>authorization</code> rules.</p>
<footer>Gatehouse</footer>
</main></body></html>
{{end}}
`))

// page401 is what unauthorized writes under the challenges.
type page401 struct {
	Path, Host, URL                  string
	Schemes                          []string
	Stale                            bool
	Negotiate, Password, Certificate bool
	IPHost                           bool // Kerberos cannot name an IP address
}

// writeUnauthorizedPage writes the 401 body (the challenges are set).
func writeUnauthorizedPage(w http.ResponseWriter, r *http.Request, challenges []string, stale, cert bool) {
	p := page401{Path: r.URL.Path, Host: hostOnly(r.Host), Stale: stale, Certificate: cert}
	p.IPHost = net.ParseIP(p.Host) != nil
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	p.URL = scheme + "://" + r.Host + r.URL.RequestURI()
	seen := map[string]bool{}
	for _, c := range challenges {
		name, _, _ := strings.Cut(c, " ")
		if seen[strings.ToLower(name)] {
			continue
		}
		seen[strings.ToLower(name)] = true
		p.Schemes = append(p.Schemes, name)
		switch strings.ToLower(name) {
		case "negotiate":
			p.Negotiate = true
		case "basic", "digest", "ntlm":
			p.Password = true
		}
	}
	if cert {
		p.Schemes = append(p.Schemes, "client certificate")
	}
	writePage(w, "401", http.StatusUnauthorized, p)
}

// writeForbiddenPage writes a 403 saying who the request is (id may be
// nil) and why it was refused.
func writeForbiddenPage(w http.ResponseWriter, id *Identity, reason string) {
	writePage(w, "403", http.StatusForbidden, struct {
		ID     *Identity
		Reason string
	}{id, reason})
}

func writePage(w http.ResponseWriter, name string, code int, data any) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = pages.ExecuteTemplate(w, name, data)
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

package interop

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// The front-end tests put real nginx (auth_request) and real Caddy
// (forward_auth) in front of testdata/echoapp.py, with Gatehouse as their
// authentication service. The app echoes what reached it, verifies the
// identity token with PyJWT against Gatehouse's JWKS, and runs kvno as the
// user with the delegated credential cache it is handed.

const frontendConfig = `
state_dir: ./state
accounts: ./gatehouse.db
listen: [{addr: 127.0.0.1:0}]
kerberos: {keytab: %s}
forward_auth: {path: /_gatehouse/auth, trusted_proxies: [127.0.0.1]}
identity_token: {}
delegation: {ccache_dir: ./ccaches}
sites:
  - {path: /, auth: [anonymous]}
  - {path: /krb, auth: [negotiate]}
  - path: /krb/admin
    auth: [negotiate]
    authorization: [{deny: {users: [alice@EXAMPLE.TEST]}}]
  - {path: /digest, auth: [digest]}
  - path: /digest/admin
    auth: [digest]
    authorization: [{allow: {users: [alice]}}, {deny: {users: ["*"]}}]
  - {path: /ntlm, auth: [ntlm]}
  - {path: /ntlm-sessions, auth: [ntlm], sessions: true}
`

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitListening waits until something accepts on 127.0.0.1:port.
func waitListening(t *testing.T, port int, what string, log func() string) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return
		}
	}
	t.Fatalf("%s did not start\n%s", what, log())
}

// startDaemon runs a foreground daemon until the test ends (killed by pid).
func startDaemon(t *testing.T, env []string, name string, args ...string) *syncBuffer {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	log := &syncBuffer{mu: make(chan struct{}, 1)}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd.WaitDelay = 5 * time.Second // nginx's worker holds the output pipes a moment longer
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM) // nginx's master stops its workers
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s log:\n%s", filepath.Base(name), log.String())
		}
	})
	return log
}

// echoApp starts testdata/echoapp.py and returns its port.
func echoApp(t *testing.T, k testenv.KDC, jwksURL, audience string, env ...string) int {
	t.Helper()
	py := testenv.File(t, "/usr/bin/python3", "Debian's python3")
	if err := exec.Command(py, "-c", "import jwt, cryptography").Run(); err != nil {
		testenv.Missing(t, "python3-jwt (PyJWT) and python3-cryptography")
	}
	testenv.LookPath(t, "kvno")
	cmd := exec.Command(py, "testdata/echoapp.py", jwksURL, audience, "HTTP/elsewhere")
	cmd.Env = append(append(os.Environ(), "KRB5_CONFIG="+k.Krb5Conf), env...)
	out, _ := cmd.StdoutPipe()
	log := &syncBuffer{mu: make(chan struct{}, 1)}
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		t.Fatalf("echoapp.py did not start:\n%s", log.String())
	}
	var port int
	fmt.Sscan(sc.Text(), &port)
	return port
}

// nginxFront writes and starts the nginx of docs/FRONT_ENDS.md.
func nginxFront(t *testing.T, port, gh, app int) {
	t.Helper()
	bin := testenv.LookPath(t, "nginx")
	dir := t.TempDir()
	conf := fmt.Sprintf(`
daemon off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events {}
http {
  access_log off;
  client_body_temp_path %[1]s/client_body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  upstream gatehouse { server 127.0.0.1:%[3]d; }
  server {
    listen 127.0.0.1:%[2]d;
`+nginxLocations+`
    location / {
      auth_request /_gatehouse/auth;
`+nginxAuthSet+`
      proxy_pass http://127.0.0.1:%[4]d;
    }
  }
}
`, dir, port, gh, app)
	cf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	log := startDaemon(t, nil, bin, "-p", dir, "-c", cf, "-e", filepath.Join(dir, "error.log"))
	waitListening(t, port, "nginx", func() string { b, _ := os.ReadFile(filepath.Join(dir, "error.log")); return log.String() + string(b) })
}

// The parts of the nginx configuration docs/FRONT_ENDS.md shows.
const nginxLocations = `
    location = /_gatehouse/auth {
      internal;
      proxy_pass http://gatehouse/_gatehouse/auth;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URI $request_uri;
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Original-Proto $scheme;
      proxy_set_header X-Original-Host $http_host;
      proxy_set_header X-Forwarded-Uri "";
      proxy_set_header X-Forwarded-Method "";
      proxy_set_header X-Forwarded-Host "";
      proxy_set_header X-Forwarded-Proto "";
    }
`

const nginxAuthSet = `
      auth_request_set $gh_user $upstream_http_x_remote_user;
      auth_request_set $gh_name $upstream_http_x_remote_name;
      auth_request_set $gh_domain $upstream_http_x_remote_domain;
      auth_request_set $gh_groups $upstream_http_x_remote_groups;
      auth_request_set $gh_scheme $upstream_http_x_remote_scheme;
      auth_request_set $gh_jwt $upstream_http_x_gatehouse_jwt_assertion;
      auth_request_set $gh_ccache $upstream_http_x_remote_ccache;
      auth_request_set $gh_www $upstream_http_www_authenticate;
      auth_request_set $gh_cookie $upstream_http_set_cookie;
      add_header WWW-Authenticate $gh_www;
      add_header Set-Cookie $gh_cookie always;
      proxy_set_header Authorization "";
      proxy_set_header X-Remote-User $gh_user;
      proxy_set_header X-Remote-Name $gh_name;
      proxy_set_header X-Remote-Domain $gh_domain;
      proxy_set_header X-Remote-Groups $gh_groups;
      proxy_set_header X-Remote-Scheme $gh_scheme;
      proxy_set_header X-Gatehouse-Jwt-Assertion $gh_jwt;
      proxy_set_header X-Remote-Ccache $gh_ccache;
`

// caddyFront writes and starts the Caddy of docs/FRONT_ENDS.md.
func caddyFront(t *testing.T, port, gh, app int) {
	t.Helper()
	bin := testenv.LookPath(t, "caddy")
	dir := t.TempDir()
	conf := fmt.Sprintf(`{
	admin off
	auto_https off
	storage file_system %[1]s/storage
}

http://:%[2]d {
	bind 127.0.0.1
	route {
		request_header -X-Remote-User
		request_header -X-Remote-Name
		request_header -X-Remote-Domain
		request_header -X-Remote-Groups
		request_header -X-Remote-Scheme
		request_header -X-Gatehouse-Jwt-Assertion
		request_header -X-Remote-Ccache
		forward_auth 127.0.0.1:%[3]d {
			uri /_gatehouse/auth
			header_up -X-Original-URI
			header_up -X-Original-Method
			copy_headers X-Remote-User X-Remote-Name X-Remote-Domain X-Remote-Groups X-Remote-Scheme X-Gatehouse-Jwt-Assertion X-Remote-Ccache
		}
		reverse_proxy 127.0.0.1:%[4]d {
			header_up -Authorization
		}
	}
}
`, dir, port, gh, app)
	cf := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + dir, "XDG_CONFIG_HOME=" + dir, "XDG_DATA_HOME=" + dir}
	log := startDaemon(t, env, bin, "run", "--config", cf, "--adapter", "caddyfile")
	waitListening(t, port, "caddy", log.String)
}

type echoed struct {
	Method   string              `json:"method"`
	Path     string              `json:"path"`
	Headers  map[string][]string `json:"headers"`
	Claims   map[string]any      `json:"claims"`
	JWTError string              `json:"jwt_error"`
	Kvno     *struct {
		RC  int    `json:"rc"`
		Out string `json:"out"`
	} `json:"kvno"`
	Curl *struct {
		RC  int    `json:"rc"`
		Out string `json:"out"`
	} `json:"curl"`
}

func (e echoed) header(k string) string {
	v := e.Headers[strings.ToLower(k)]
	if len(v) == 0 {
		return ""
	}
	return strings.Join(v, "|")
}

// fetch runs curl and returns the status and what the app echoed (when it
// answered).
func fetch(t *testing.T, env []string, args ...string) (string, echoed, string) {
	t.Helper()
	hdrs := filepath.Join(t.TempDir(), "headers")
	out, _ := run(t, env, testenv.LookPath(t, "curl"), append([]string{"-s", "-D", hdrs, "-w", "\n%{http_code}"}, args...)...)
	body, code, _ := strings.Cut(out, "\n")
	if i := strings.LastIndex(out, "\n"); i >= 0 {
		body, code = out[:i], out[i+1:]
	}
	var e echoed
	if code == "200" && strings.HasPrefix(body, "{") {
		if err := json.Unmarshal([]byte(body), &e); err != nil {
			t.Fatalf("app answer: %v\n%q", err, body)
		}
	}
	h, _ := os.ReadFile(hdrs)
	// header names as sent (nginx and Caddy canonicalize them differently)
	return code, e, strings.ReplaceAll(string(h), "Www-Authenticate", "WWW-Authenticate")
}

func TestFrontEnds(t *testing.T) {
	k := testenv.NeedKDC(t)
	env := kinit(t, k)
	dir := t.TempDir()
	addAccount(t, dir, "alice", "alicepw")
	addAccount(t, dir, "bob", "bobpw")
	gh := serve(t, dir, fmt.Sprintf(frontendConfig, k.Keytab), 1)
	ghPort := gh.port(t)
	if l := gh.waitLog(func(l string) bool { return strings.Contains(l, "NTLM is not offered through forward auth") }); !strings.Contains(l, "site=/ntlm\n") || strings.Contains(l, "site=/ntlm-sessions") {
		t.Errorf("no startup warning for the NTLM site without sessions (and only for it):\n%s", l)
	}
	jwks := fmt.Sprintf("http://127.0.0.1:%d/.well-known/gatehouse/jwks.json", ghPort)

	for _, front := range []struct {
		name  string
		start func(t *testing.T, port, gh, app int)
		// the auth answer's headers reach the client on a 200 (the AP-REP,
		// the session cookie): nginx with add_header, Caddy 2.6 not at all
		aprep bool
	}{{"nginx", nginxFront, true}, {"caddy", caddyFront, false}} {
		t.Run(front.name, func(t *testing.T) {
			port := freePort(t)
			base := fmt.Sprintf("http://localhost:%d", port)
			app := echoApp(t, k, jwks, base)
			front.start(t, port, ghPort, app)

			// Kerberos
			code, e, hdrs := fetch(t, env, "--negotiate", "-u", ":", base+"/krb/page?q=1")
			if code != "200" || e.header("X-Remote-User") != "alice@EXAMPLE.TEST" || e.header("X-Remote-Scheme") != "Negotiate" || e.header("X-Remote-Domain") != "EXAMPLE.TEST" {
				t.Fatalf("Kerberos: %s %+v\n%s", code, e, gh.log)
			}
			if e.JWTError != "" || e.Claims["sub"] != "alice@EXAMPLE.TEST" || e.Claims["scheme"] != "Negotiate" || e.Claims["aud"] != base {
				t.Errorf("Kerberos: token %v %s", e.Claims, e.JWTError)
			}
			if e.header("Authorization") != "" || e.Path != "/krb/page?q=1" {
				t.Errorf("Kerberos: the app got Authorization %q, path %q", e.header("Authorization"), e.Path)
			}
			if front.aprep && !regexpNegotiateToken.MatchString(hdrs) {
				t.Errorf("no AP-REP with the 200:\n%s", hdrs)
			}
			if code, _, _ := fetch(t, env, "--negotiate", "-u", ":", base+"/krb/admin/x"); code != "403" {
				t.Errorf("Kerberos, rule refuses: %s", code)
			}
			if code, _, hdrs := fetch(t, nil, base+"/krb/page"); code != "401" || !strings.Contains(hdrs, "WWW-Authenticate: Negotiate") {
				t.Errorf("no credentials: %s\n%s", code, hdrs)
			}

			// Digest, against the original URI (with its query) and method
			for _, method := range []string{"GET", "POST"} {
				code, e, _ = fetch(t, nil, "--digest", "-u", "alice:alicepw", "-X", method, base+"/digest/a/b?c=d&e=f")
				if code != "200" || e.header("X-Remote-User") != "alice" || e.header("X-Remote-Scheme") != "Digest" || e.Method != method || e.Claims["sub"] != "alice" {
					t.Fatalf("Digest %s: %s %+v", method, code, e)
				}
			}
			if code, _, _ := fetch(t, nil, "--digest", "-u", "alice:wrong", base+"/digest/a"); code != "401" {
				t.Errorf("Digest, wrong password: %s", code)
			}
			if code, _, _ := fetch(t, nil, "--digest", "-u", "bob:bobpw", base+"/digest/admin/x"); code != "403" {
				t.Errorf("Digest, rule refuses bob: %s", code)
			}
			if code, e, _ := fetch(t, nil, "--digest", "-u", "alice:alicepw", base+"/digest/admin/x"); code != "200" || e.header("X-Remote-User") != "alice" {
				t.Errorf("Digest, rule admits alice: %s", code)
			}

			// a client's own identity headers never reach the app
			spoof := []string{"-H", "X-Remote-User: admin", "-H", "X-Remote-Groups: Admins", "-H", "X-Gatehouse-Jwt-Assertion: forged", "-H", "X-Remote-Ccache: /etc/passwd", "-H", "X-Remote-Scheme: Negotiate"}
			code, e, _ = fetch(t, nil, append(spoof, base+"/public")...)
			if code != "200" {
				t.Fatalf("anonymous: %s", code)
			}
			for _, h := range []string{"X-Remote-User", "X-Remote-Groups", "X-Gatehouse-Jwt-Assertion", "X-Remote-Ccache", "X-Remote-Scheme"} {
				if v := e.header(h); v != "" {
					t.Errorf("anonymous: the client's %s reached the app: %q", h, v)
				}
			}
			code, e, _ = fetch(t, nil, append(spoof, "--digest", "-u", "bob:bobpw", base+"/digest/x")...)
			if code != "200" || e.header("X-Remote-User") != "bob" || e.header("X-Remote-Groups") != "" || e.header("X-Remote-Ccache") != "" || e.Claims["sub"] != "bob" {
				t.Errorf("authenticated: the app got %v (claims %v)", e.Headers, e.Claims)
			}

			// delegation: the app uses the user's ccache for another service
			code, e, _ = fetch(t, env, "--negotiate", "-u", ":", "--delegation", "always", base+"/krb/page")
			cc := e.header("X-Remote-Ccache")
			if code != "200" || cc == "" || e.Kvno == nil {
				t.Fatalf("delegation: %s ccache %q\n%s", code, cc, gh.log)
			}
			if e.Kvno.RC != 0 || !strings.Contains(e.Kvno.Out, "HTTP/elsewhere@EXAMPLE.TEST: kvno") {
				t.Errorf("kvno as alice with %s: %+v", cc, e.Kvno)
			}
			if st, err := os.Stat(cc); err != nil || st.Mode().Perm() != 0o600 {
				t.Errorf("ccache %s: %v %v", cc, st, err)
			}
			if code, e, _ := fetch(t, env, "--negotiate", "-u", ":", base+"/krb/page"); code != "200" || e.header("X-Remote-Ccache") != "" {
				t.Errorf("no delegation this time: %s ccache %q", code, e.header("X-Remote-Ccache"))
			}

			// NTLM through forward auth: the handshake cookie ties the legs,
			// the session cookie carries the login
			jar := filepath.Join(t.TempDir(), "jar")
			code, e, _ = fetch(t, nil, "--ntlm", "-u", "alice:alicepw", "-c", jar, "-b", jar, base+"/ntlm-sessions/x")
			if code != "200" || e.header("X-Remote-User") != "alice" || e.header("X-Remote-Scheme") != "NTLM" {
				t.Errorf("NTLM with sessions: %s %+v", code, e)
			}
			if front.aprep {
				if code, e, _ := fetch(t, nil, "-b", jar, base+"/ntlm-sessions/y"); code != "200" || e.header("X-Remote-User") != "alice" {
					t.Errorf("NTLM session cookie: %s", code)
				}
			}
			// a site whose only scheme is NTLM, without sessions: nothing to offer
			if code, _, hdrs := fetch(t, nil, "--ntlm", "-u", "alice:alicepw", base+"/ntlm/x"); code != "403" || strings.Contains(hdrs, "NTLM") {
				t.Errorf("NTLM without sessions: %s\n%s", code, hdrs)
			}
		})
	}

	// a caller outside trusted_proxies
	auth := fmt.Sprintf("http://127.0.0.1:%d/_gatehouse/auth", ghPort)
	if code := curlCode(t, "--interface", "127.0.0.2", "-H", "X-Forwarded-Uri: /", "-H", "X-Forwarded-Method: GET", auth); code != "403" {
		t.Errorf("untrusted caller: %s", code)
	}
}

// port is the instance's HTTP port.
func (i *instance) port(t *testing.T) int {
	t.Helper()
	_, p, _ := net.SplitHostPort(strings.TrimPrefix(i.HTTP, "http://"))
	var n int
	fmt.Sscan(p, &n)
	return n
}

// TestForwardAuthTraefikShape: Traefik is not packaged for Debian; its
// ForwardAuth request is made by hand, with the headers Traefik sends
// (X-Forwarded-Method, -Proto, -Host, -Uri, -For) and the client's
// Authorization passed along.
func TestForwardAuthTraefikShape(t *testing.T) {
	k := testenv.NeedKDC(t)
	env := kinit(t, k)
	dir := t.TempDir()
	addAccount(t, dir, "alice", "alicepw")
	gh := serve(t, dir, fmt.Sprintf(frontendConfig, k.Keytab), 1)
	auth := gh.HTTP + "/_gatehouse/auth"
	traefik := func(uri string) []string {
		return []string{"-H", "X-Forwarded-Method: GET", "-H", "X-Forwarded-Proto: https", "-H", "X-Forwarded-Host: app.example.test",
			"-H", "X-Forwarded-Uri: " + uri, "-H", "X-Forwarded-For: 192.0.2.10"}
	}
	code, _, hdrs := fetch(t, env, append(traefik("/krb/x?y=1"), "--negotiate", "-u", ":", "-o", "/dev/null", auth)...)
	if code != "200" || !strings.Contains(hdrs, "X-Remote-User: alice@EXAMPLE.TEST") || !regexpNegotiateToken.MatchString(hdrs) {
		t.Fatalf("Kerberos: %s\n%s", code, hdrs)
	}
	for _, h := range []string{"X-Remote-Name: alice", "X-Remote-Domain: EXAMPLE.TEST", "X-Remote-Groups:", "X-Remote-Scheme: Negotiate", "X-Gatehouse-Jwt-Assertion: ey"} {
		if !strings.Contains(hdrs, h) {
			t.Errorf("no %q in\n%s", h, hdrs)
		}
	}
	// the token's audience is the original scheme://host; PyJWT checks it
	var tok string
	for _, l := range strings.Split(hdrs, "\r\n") {
		if v, ok := strings.CutPrefix(l, "X-Gatehouse-Jwt-Assertion: "); ok {
			tok = v
		}
	}
	py := testenv.File(t, "/usr/bin/python3", "Debian's python3")
	out, err := run(t, nil, py, "-c", `import jwt, sys
c = jwt.PyJWKClient(sys.argv[1])
t = sys.argv[2]
print(jwt.decode(t, c.get_signing_key_from_jwt(t).key, algorithms=["ES256"], audience="https://app.example.test", issuer="gatehouse")["sub"])`,
		gh.HTTP+"/.well-known/gatehouse/jwks.json", tok)
	if err != nil || strings.TrimSpace(out) != "alice@EXAMPLE.TEST" {
		t.Errorf("PyJWT: %v %q", err, out)
	}
	if code, _, _ := fetch(t, env, append(traefik("/krb/admin"), "--negotiate", "-u", ":", "-o", "/dev/null", auth)...); code != "403" {
		t.Errorf("rule: %s", code)
	}
	if code, _, hdrs := fetch(t, nil, append(traefik("/krb/x"), "-o", "/dev/null", auth)...); code != "401" || !strings.Contains(hdrs, "WWW-Authenticate: Negotiate") {
		t.Errorf("no credentials: %s\n%s", code, hdrs)
	}
	// curl computes Digest for the URL it fetched (the auth endpoint), not
	// for the original URI: refused
	if code, _, _ := fetch(t, nil, append(traefik("/digest/x"), "--digest", "-u", "alice:alicepw", "-o", "/dev/null", auth)...); code != "401" {
		t.Errorf("Digest for another URI than the original: %s", code)
	}
	// a client's X-Original-URI next to Traefik's headers: refused, not guessed
	if code, _, _ := fetch(t, nil, append(traefik("/"), "-H", "X-Original-URI: /krb", "-o", "/dev/null", auth)...); code != "400" {
		t.Errorf("both header families: %s", code)
	}
	_ = http.StatusOK
}

// TestProxyIdentityToken: a proxy site sends the application the signed
// identity and, for a user who delegated, the credential cache; the
// client's own copies of those headers never get through.
func TestProxyIdentityToken(t *testing.T) {
	k := testenv.NeedKDC(t)
	env := kinit(t, k)
	// a second service, HTTP/elsewhere, that the app reaches as the user
	other := serve(t, t.TempDir(), `
state_dir: ./state
accounts: ./gatehouse.db
listen: [{addr: 127.0.0.1:0}]
kerberos: {keytab: `+k.OtherKeytab+`}
sites: [{path: /, auth: [negotiate]}]
`, 1)
	otherURL := fmt.Sprintf("http://elsewhere:%d/", other.port(t))
	ghPort := freePort(t)
	base := fmt.Sprintf("http://localhost:%d", ghPort)
	app := echoApp(t, k, fmt.Sprintf("http://127.0.0.1:%d/.well-known/gatehouse/jwks.json", ghPort), base, "OTHER_URL="+otherURL)
	dir := t.TempDir()
	addAccount(t, dir, "alice", "alicepw")
	serve(t, dir, fmt.Sprintf(`
state_dir: ./state
accounts: ./gatehouse.db
listen: [{addr: 127.0.0.1:%d}]
kerberos: {keytab: %s}
identity_token: {lifetime: 1m}
delegation: {ccache_dir: ./ccaches}
sites:
  - {path: /, auth: [anonymous], handler: proxy, upstream: "http://127.0.0.1:%d"}
  - {path: /krb, auth: [negotiate], handler: proxy, upstream: "http://127.0.0.1:%d"}
`, ghPort, k.Keytab, app, app), 1)
	spoof := []string{"-H", "X-Remote-User: admin", "-H", "X-Gatehouse-Jwt-Assertion: forged", "-H", "X-Remote-Ccache: /etc/passwd"}
	code, e, _ := fetch(t, env, append(spoof, "--negotiate", "-u", ":", "--delegation", "always", base+"/krb/x")...)
	if code != "200" || e.header("X-Remote-User") != "alice@EXAMPLE.TEST" || e.JWTError != "" || e.Claims["sub"] != "alice@EXAMPLE.TEST" || e.Claims["aud"] != base {
		t.Fatalf("Kerberos through the proxy: %s %+v", code, e)
	}
	if exp, iat := e.Claims["exp"].(float64), e.Claims["iat"].(float64); exp-iat != 60 {
		t.Errorf("lifetime: exp-iat = %v", exp-iat)
	}
	if e.Kvno == nil || e.Kvno.RC != 0 || !strings.Contains(e.Kvno.Out, "HTTP/elsewhere@EXAMPLE.TEST: kvno") {
		t.Errorf("kvno with the delegated ccache %q: %+v", e.header("X-Remote-Ccache"), e.Kvno)
	}
	if e.Curl == nil || e.Curl.RC != 0 || !strings.Contains(e.Curl.Out, `"user": "alice@EXAMPLE.TEST"`) {
		t.Errorf("curl --negotiate to %s with the delegated ccache: %+v", otherURL, e.Curl)
	}
	code, e, _ = fetch(t, nil, append(spoof, base+"/public")...)
	if code != "200" || e.header("X-Remote-User") != "" || e.header("X-Gatehouse-Jwt-Assertion") != "" || e.header("X-Remote-Ccache") != "" {
		t.Errorf("anonymous through the proxy: %s %v", code, e.Headers)
	}
}

// TestIdentityKeyRotation: gatehouse identity-key rotate, then SIGHUP: the
// new key signs, the old one stays in the JWKS, and a token it signed
// before still verifies (PyJWT).
func TestIdentityKeyRotation(t *testing.T) {
	k := testenv.NeedKDC(t)
	env := kinit(t, k)
	dir := t.TempDir()
	gh := serve(t, dir, fmt.Sprintf(frontendConfig, k.Keytab), 1)
	auth := gh.HTTP + "/_gatehouse/auth"
	jwksURL := gh.HTTP + "/.well-known/gatehouse/jwks.json"
	token := func() string {
		_, _, hdrs := fetch(t, env, "-H", "X-Forwarded-Method: GET", "-H", "X-Forwarded-Uri: /krb/x", "-H", "X-Forwarded-Host: app.example.test",
			"-H", "X-Forwarded-Proto: https", "--negotiate", "-u", ":", "-o", "/dev/null", auth)
		for _, l := range strings.Split(hdrs, "\r\n") {
			if v, ok := strings.CutPrefix(l, "X-Gatehouse-Jwt-Assertion: "); ok && v != "" {
				return v
			}
		}
		t.Fatalf("no token:\n%s", hdrs)
		return ""
	}
	kids := func() []string {
		out, _ := run(t, nil, testenv.LookPath(t, "curl"), "-s", jwksURL)
		var set struct {
			Keys []struct {
				Kid string `json:"kid"`
			} `json:"keys"`
		}
		json.Unmarshal([]byte(out), &set)
		var ids []string
		for _, k := range set.Keys {
			ids = append(ids, k.Kid)
		}
		return ids
	}
	before := kids()
	old := token()
	out, err := gh2(t, dir, "identity-key", "rotate", "--config", filepath.Join(dir, "gatehouse.yaml"))
	if err != nil || len(before) != 1 {
		t.Fatalf("rotate: %v %s (kids before %v)", err, out, before)
	}
	newKid := strings.TrimSpace(out)
	gh.cmd.Process.Signal(syscall.SIGHUP)
	var after []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if after = kids(); len(after) == 2 {
			break
		}
	}
	if len(after) != 2 || after[0] != newKid || after[1] != before[0] {
		t.Fatalf("JWKS after rotation %v, want [%s %s]", after, newKid, before[0])
	}
	py := testenv.File(t, "/usr/bin/python3", "Debian's python3")
	verify := `import jwt, sys
c = jwt.PyJWKClient(sys.argv[1])
t = sys.argv[2]
print(jwt.get_unverified_header(t)["kid"], jwt.decode(t, c.get_signing_key_from_jwt(t).key, algorithms=["ES256"], audience="https://app.example.test", issuer="gatehouse")["sub"])`
	for _, c := range []struct{ tok, kid string }{{old, before[0]}, {token(), newKid}} {
		out, err := run(t, nil, py, "-c", verify, jwksURL, c.tok)
		if err != nil || strings.TrimSpace(out) != c.kid+" alice@EXAMPLE.TEST" {
			t.Errorf("PyJWT: %v %q, want kid %s", err, out, c.kid)
		}
	}
}

// gh2 runs a gatehouse command and returns its stdout only.
func gh2(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Logf("gatehouse %v: %s", args, stderr.String())
	}
	return string(out), err
}

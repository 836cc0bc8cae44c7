package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestDefault(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Listen) != 2 || c.Listen[0].Addr != "127.0.0.1:8080" || c.Listen[1].TLS == nil {
		t.Fatalf("listeners %+v", c.Listen)
	}
	if c.Accounts != "./gatehouse.db" || c.StateDir != "./gatehouse-state" {
		t.Fatal(c.Accounts, c.StateDir)
	}
	if c.Kerberos.ClockSkew.Minutes() != 5 || c.ExtendedProtection.Enforcement != "never" {
		t.Fatal("defaults not applied")
	}
	if c.Kerberos.ReplayCacheEntries != 1<<20 {
		t.Fatal("kerberos.replay_cache_entries default", c.Kerberos.ReplayCacheEntries)
	}
}

func TestContractExample(t *testing.T) {
	y := `
state_dir: ./gatehouse-state
accounts: ./gatehouse.db
listen:
  - addr: 127.0.0.1:8080
  - addr: 127.0.0.1:8443
    tls: {cert: server.crt, key: server.key}
    client_certs: optional
kerberos:
  keytab: ./http.keytab
  krb5_conf: ./krb5.conf
  service_principals: [HTTP/localhost]
  clock_skew: 5m
ntlm:
  verifier: local
  ntlm_auth: /usr/bin/ntlm_auth
  domain: EXAMPLE
  allow_ntlmv1: false
extended_protection:
  enforcement: never
  scenario: transport_selected
  service_names: [HTTP/localhost]
sites:
  - path: /
    auth: [anonymous]
  - path: /secure
    auth: [negotiate, ntlm, digest, basic]
    authorization:
      - allow: {users: [alice], roles: [Admins], verbs: [GET, POST]}
      - deny: {users: ["*"]}
    handler: whoami
    root: ./www
    upstream: http://127.0.0.1:9000
`
	c, err := Parse([]byte(y), "/etc/gatehouse", "test")
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Sites[1].Authorization[0].Rule()
	if err != nil || !r.Allow || r.Verbs[1] != "POST" {
		t.Fatal(r, err)
	}
	if c.Path(c.Kerberos.Keytab) != "/etc/gatehouse/http.keytab" {
		t.Fatal(c.Path(c.Kerberos.Keytab))
	}
}

func TestInvalid(t *testing.T) {
	base := "listen: [{addr: 127.0.0.1:1}]\nsites: [{path: /, auth: [anonymous]}]\n"
	cases := map[string]string{
		"unknown key":    base + "bogus: 1\n",
		"no listener":    "sites: [{path: /, auth: [anonymous]}]\n",
		"bad addr":       "listen: [{addr: nope}]\nsites: [{path: /, auth: [anonymous]}]\n",
		"bad scheme":     "listen: [{addr: 127.0.0.1:1}]\nsites: [{path: /, auth: [kerbros]}]\n",
		"no auth":        "listen: [{addr: 127.0.0.1:1}]\nsites: [{path: /}]\n",
		"relative path":  "listen: [{addr: 127.0.0.1:1}]\nsites: [{path: x, auth: [anonymous]}]\n",
		"dup path":       "listen: [{addr: 127.0.0.1:1}]\nsites: [{path: /a, auth: [anonymous]}, {path: /a/, auth: [basic]}]\n",
		"rule both":      "listen: [{addr: 127.0.0.1:1}]\nsites: [{path: /, auth: [basic], authorization: [{allow: {users: [a]}, deny: {users: [b]}}]}]\n",
		"rule empty":     "listen: [{addr: 127.0.0.1:1}]\nsites: [{path: /, auth: [basic], authorization: [{allow: {verbs: [GET]}}]}]\n",
		"static no root": "listen: [{addr: 127.0.0.1:1}]\nsites: [{path: /, auth: [anonymous], handler: static}]\n",
		"proxy no url":   "listen: [{addr: 127.0.0.1:1}]\nsites: [{path: /, auth: [anonymous], handler: proxy}]\n",
		"upstream auth":  "listen: [{addr: 127.0.0.1:1}]\nsites: [{path: /, auth: [negotiate], handler: proxy, upstream: http://u, upstream_auth: kerberos}]\n",
		"deleg no neg":   "listen: [{addr: 127.0.0.1:1}]\nsites: [{path: /, auth: [ntlm], handler: proxy, upstream: http://u, upstream_auth: negotiate}]\n",
		"deleg sessions": "listen: [{addr: 127.0.0.1:1}]\nsites: [{path: /, auth: [negotiate], handler: proxy, upstream: http://u, upstream_auth: negotiate, sessions: true}]\n",
		"spn no proxy":   "listen: [{addr: 127.0.0.1:1}]\nsites: [{path: /, auth: [negotiate], upstream_spn: HTTP/u}]\n",
		"enforcement":    base + "extended_protection: {enforcement: sometimes}\n",
		"digest alg":     base + "digest: {algorithms: [SHA-512]}\n",
		"replay cache":   base + "kerberos: {replay_cache_entries: 10}\n",
		"front end":      base + "extended_protection: {front_end_certificates: [fe.pem]}\n",
		"client certs":   "listen: [{addr: 127.0.0.1:1, client_certs: required}]\nsites: [{path: /, auth: [anonymous]}]\n",
		"half tls":       "listen: [{addr: 127.0.0.1:1, tls: {cert: a}}]\nsites: [{path: /, auth: [anonymous]}]\n",
		"cipher suite":   base + "tls_cipher_suites: [AES128-SHA]\n",
		"revalidate":     base + "session_revalidate: 10ms\n",
		"body timeout":   base + "limits: {request_body_timeout: -1s}\n",
		"body rate":      base + "limits: {request_body_min_rate: -5}\n",
		"not yaml":       "{{{",
		"wrong type":     "listen: 5\n",
	}
	for name, y := range cases {
		if _, err := Parse([]byte(y), "/", name); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		} else if !strings.Contains(err.Error(), name) {
			t.Errorf("%s: message does not name the file: %v", name, err)
		}
	}
}

func TestDirectory(t *testing.T) {
	base := "listen: [{addr: 127.0.0.1:0}]\nsites: [{path: /, auth: [basic]}]\nkerberos: {keytab: k, service_account: svc}\n"
	c, err := Parse([]byte(base+`
directory:
  url: ldaps://dc.example.test:636
  ca_file: /etc/gatehouse/dc-ca.pem
  bind: simple
  bind_dn: CN=svc-gatehouse,CN=Users,DC=example,DC=test
  password_file: /etc/gatehouse/ldap.pw
  base_dn: DC=example,DC=test
  cache: 10m
basic:
  verifier: kerberos
`), "/", "test")
	if err != nil || c.Directory.URL != "ldaps://dc.example.test:636" || c.Basic.Verifier != "kerberos" || c.Directory.Cache.Minutes() != 10 {
		t.Fatal(err, c)
	}
	c, err = Parse([]byte(base+"directory: {url: ldap://dc:389, start_tls: true, bind: kerberos}\n"), "/", "test")
	if err != nil || c.Directory.Cache.Minutes() != 10 || c.Basic.Verifier != "local" {
		t.Fatal(err)
	}
	for y, want := range map[string]string{
		"directory: {url: ldap://dc, bind_dn: x, password_file: p}":                    "directory.url",
		"directory: {url: ldaps://dc, start_tls: true, bind_dn: x, password_file: p}":  "directory.start_tls",
		"directory: {url: http://dc, bind_dn: x, password_file: p}":                    "directory.url",
		"directory: {bind_dn: x, password_file: p}":                                    "directory.url",
		"directory: {url: ldaps://dc, bind_dn: x}":                                     "password_file",
		"directory: {url: ldaps://dc, bind: ntlm}":                                     "directory.bind",
		"directory: {url: ldaps://dc, bind: kerberos, bind_dn: x}":                     "bind_dn",
		"directory: {url: ldaps://dc, bind_dn: x, password_file: p, cache: 1ms}":       "directory.cache",
		"directory: {url: ldaps://dc, bind_dn: x, password_file: p, password: secret}": "password",
		"basic: {verifier: ldap}":                                                      "basic.verifier",
	} {
		_, err := Parse([]byte(base+y+"\n"), "/", "test")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", y, err)
		}
	}
	_, err = Parse([]byte("listen: [{addr: 127.0.0.1:0}]\nsites: [{path: /, auth: [basic]}]\nbasic: {verifier: kerberos}\n"), "/", "test")
	if err == nil || !strings.Contains(err.Error(), "kerberos.keytab") {
		t.Error(err)
	}
	_, err = Parse([]byte("listen: [{addr: 127.0.0.1:0}]\nsites: [{path: /, auth: [basic]}]\ndirectory: {url: ldaps://dc, bind: kerberos}\n"), "/", "test")
	if err == nil || !strings.Contains(err.Error(), "service_account") {
		t.Error(err)
	}
}

func TestLimits(t *testing.T) {
	base := "listen: [{addr: 127.0.0.1:1}]\nsites: [{path: /, auth: [anonymous]}]\n"
	c, err := Parse([]byte(base), "/", "test")
	if err != nil || c.Limits.RequestBodyTimeout != 20*time.Second || c.Limits.RequestBodyMinRate != 500 {
		t.Fatalf("defaults: %+v %v", c.Limits, err)
	}
	c, err = Parse([]byte(base+"limits: {request_body_timeout: 5s, request_body_min_rate: 2000}\n"), "/", "test")
	if err != nil || c.Limits.RequestBodyTimeout != 5*time.Second || c.Limits.RequestBodyMinRate != 2000 {
		t.Fatalf("set: %+v %v", c.Limits, err)
	}
}

func TestNTLMPendingLimits(t *testing.T) {
	base := "listen: [{addr: 127.0.0.1:1}]\nsites: [{path: /, auth: [ntlm]}]\n"
	c, err := Parse([]byte(base), "/", "test")
	if err != nil || c.NTLM.MaxPending != 10000 || c.NTLM.MaxPendingPerClient != 64 || c.NTLM.HandshakeTimeout != 30*time.Second {
		t.Fatalf("defaults: %+v %v", c.NTLM, err)
	}
	c, err = Parse([]byte(base+"ntlm: {max_pending: 500, max_pending_per_client: 3, handshake_timeout: 2m}\n"), "/", "test")
	if err != nil || c.NTLM.MaxPending != 500 || c.NTLM.MaxPendingPerClient != 3 || c.NTLM.HandshakeTimeout != 2*time.Minute {
		t.Fatalf("set: %+v %v", c.NTLM, err)
	}
	for y, key := range map[string]string{
		"ntlm: {max_pending: -1}":               "ntlm.max_pending:",
		"ntlm: {max_pending: 1000000000}":       "ntlm.max_pending:",
		"ntlm: {max_pending: lots}":             "line 3: cannot unmarshal", // yaml.v3 names the line, not the key
		"ntlm: {max_pending_per_client: -5}":    "ntlm.max_pending_per_client:",
		"ntlm: {max_pending_per_client: 1e9}":   "max_pending_per_client",
		"ntlm: {handshake_timeout: -1s}":        "ntlm.handshake_timeout:",
		"ntlm: {handshake_timeout: 10ms}":       "ntlm.handshake_timeout:",
		"ntlm: {handshake_timeout: 2h}":         "ntlm.handshake_timeout:",
		"ntlm: {handshake_timeout: 30}":         "line 3: cannot unmarshal", // a unitless number is not a duration
		"ntlm: {handshake_timeout: forever}":    "line 3: cannot unmarshal",
		"ntlm: {max_pending_per_clients: 5}":    "max_pending_per_clients",
		"ntlm: {max_pending: 0, handshake: 1s}": "handshake",
	} {
		_, err := Parse([]byte(base+y+"\n"), "/", "test")
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: %v, want an error naming %s", y, err, key)
		}
	}
}

// Every independent problem is reported, one a line, each with the file
// and its key; the error still is ErrInvalid.
func TestAllProblemsReported(t *testing.T) {
	y := `
listen: [{addr: 127.0.0.1:1}, {addr: nope}]
kerberos: {replay_cache_entries: 5}
session_revalidate: 48h
ntlm: {verifier: magic, handshake_timeout: -1s}
sites:
  - {path: /, auth: [anonymous]}
  - {path: /x, auth: [kerbros], handler: static}
`
	_, err := Parse([]byte(y), "/", "gh.yaml")
	if !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{"listen[1].addr", "ntlm.verifier", "ntlm.handshake_timeout", "kerberos.replay_cache_entries", "session_revalidate", "sites[1] (/x).auth", "sites[1] (/x).root"}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], "config: invalid: gh.yaml: "+w+":") {
			t.Errorf("line %d: %q, want the problem of %s", i, lines[i], w)
		}
	}
	// the two of the task's example alone
	_, err = Parse([]byte("listen: [{addr: 127.0.0.1:1}]\nsites: [{path: /, auth: [anonymous]}]\nkerberos: {replay_cache_entries: 5}\nsession_revalidate: 48h\n"), "/", "gh.yaml")
	if err == nil || strings.Count(err.Error(), "\n") != 1 || !strings.Contains(err.Error(), "replay_cache_entries") || !strings.Contains(err.Error(), "session_revalidate") {
		t.Fatalf("%v", err)
	}
	// a single problem is one line, as before
	_, err = Parse([]byte("listen: [{addr: 127.0.0.1:1}]\nsites: [{path: /, auth: [anonymous]}]\nsession_revalidate: 48h\n"), "/", "gh.yaml")
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), "config: invalid: gh.yaml: session_revalidate: ") {
		t.Fatalf("%q", err)
	}
	// YAML type errors: one line each too
	_, err = Parse([]byte("listen: [{addr: 127.0.0.1:1}]\nsites: [{path: /, auth: [anonymous]}]\nbogus: 1\nntlm: {max_pending: lots}\n"), "/", "gh.yaml")
	if lines := strings.Split(fmt.Sprint(err), "\n"); len(lines) != 2 || !errors.Is(err, ErrInvalid) ||
		!strings.Contains(lines[0], "bogus") || !strings.Contains(lines[1], "lots") || !strings.HasPrefix(lines[1], "config: invalid: gh.yaml: line 4: ") {
		t.Fatalf("%q", err)
	}
	// a problem of the directory beside one elsewhere
	_, err = Parse([]byte("listen: [{addr: 127.0.0.1:1}]\nsites: [{path: /, auth: [anonymous]}]\ndirectory: {url: http://dc, cache: 1ms, bind_dn: x, password_file: p}\nlog: {level: loud}\n"), "/", "gh.yaml")
	if lines := strings.Split(fmt.Sprint(err), "\n"); len(lines) != 3 || !strings.Contains(lines[0], "directory.url") || !strings.Contains(lines[1], "directory.cache") || !strings.Contains(lines[2], "log.level") {
		t.Fatalf("%q", err)
	}
}

func TestClusterCAFile(t *testing.T) {
	base := "listen: [{addr: 127.0.0.1:1}]\nsites: [{path: /, auth: [anonymous]}]\n"
	c, err := Parse([]byte(base+"cluster: {redis: \"rediss://redis.example.test:6380/0\", ca_file: redis-ca.pem}\n"), "/etc/gatehouse", "test")
	if err != nil || c.Path(c.Cluster.CAFile) != "/etc/gatehouse/redis-ca.pem" {
		t.Fatal(c, err)
	}
	for _, y := range []string{
		"cluster: {redis: \"redis://127.0.0.1:6379/0\", ca_file: ca.pem}",
		"cluster: {ca_file: ca.pem}",
	} {
		if _, err := Parse([]byte(base+y+"\n"), "/", "test"); err == nil || !strings.Contains(err.Error(), "cluster.ca_file: only for a rediss://") {
			t.Errorf("%s: %v", y, err)
		}
	}
}

// The front ends' problems are listed with the others, not instead of them.
func TestFrontEndProblemsWithOthers(t *testing.T) {
	y := "listen: [{addr: 127.0.0.1:1}]\nsites: [{path: /, auth: [anonymous]}]\nsession_revalidate: 48h\nforward_auth: {path: auth}\nidentity_token: {lifetime: 1s}\nlog: {level: loud}\n"
	_, err := Parse([]byte(y), "/", "test")
	lines := strings.Split(fmt.Sprint(err), "\n")
	want := []string{"log.level", "session_revalidate", "forward_auth.path", "forward_auth.trusted_proxies", "identity_token.lifetime"}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%v", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], "config: invalid: test: "+w+":") {
			t.Errorf("line %d: %q, want %s", i, lines[i], w)
		}
	}
}

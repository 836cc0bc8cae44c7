package client

import (
	"net/url"
	"testing"
)

func TestNoProxyMatch(t *testing.T) {
	cases := []struct {
		list []string
		host string
		want bool
	}{
		{[]string{"*"}, "anything", true},
		{[]string{"example.test"}, "example.test", true},
		{[]string{"example.test"}, "a.example.test", true},
		{[]string{"example.test"}, "badexample.test", false},
		{[]string{".example.test"}, "a.example.test", true},
		{[]string{"*.example.test"}, "a.b.example.test", true},
		{[]string{"10.0.0.0/8"}, "10.1.2.3", true},
		{[]string{"10.0.0.0/8"}, "11.1.2.3", false},
		{[]string{"::1"}, "[::1]", true},
		{[]string{"host:8080"}, "host", true},
		{nil, "localhost", false},
		{[]string{"other"}, "localhost", false},
	}
	for _, c := range cases {
		if got := NoProxyMatch(c.list, c.host); got != c.want {
			t.Errorf("NoProxyMatch(%v, %q) = %v", c.list, c.host, got)
		}
	}
}

func TestProxyFunc(t *testing.T) {
	u := func(s string) *url.URL { v, _ := url.Parse(s); return v }
	// -x proxies loopback unless --noproxy names it; the environment never does
	c := &Config{ProxyURL: "proxy:3128", NoProxy: []string{"skip.test"}}
	f, any, err := c.proxyFunc()
	if err != nil || !any {
		t.Fatal(err)
	}
	if p, _ := f(u("http://localhost/")); p == nil || p.String() != "http://proxy:3128" {
		t.Errorf("-x localhost: %v", p)
	}
	if p, _ := f(u("https://a.skip.test/")); p != nil {
		t.Errorf("--noproxy: %v", p)
	}
	c = &Config{EnvProxy: &EnvProxy{HTTPS: "http://envproxy:3128", NoProxy: "skip.test"}}
	f, _, _ = c.proxyFunc()
	if p, _ := f(u("https://site.test/")); p == nil || p.Host != "envproxy:3128" {
		t.Errorf("HTTPS_PROXY: %v", p)
	}
	if p, _ := f(u("http://site.test/")); p != nil {
		t.Errorf("HTTPS_PROXY used for http://: %v", p)
	}
	for _, s := range []string{"https://localhost/", "https://127.0.0.1/", "https://skip.test/"} {
		if p, _ := f(u(s)); p != nil {
			t.Errorf("%s went through the environment's proxy", s)
		}
	}
	if _, _, err := (&Config{ProxyURL: "socks5://x:1"}).proxyFunc(); err == nil {
		t.Error("socks5 proxy accepted")
	}
}

func TestParsePolicy(t *testing.T) {
	p, err := ParsePolicy([]byte("implicit_allow: [a.test, \"*.corp.test\"]\nspn: {SVC.test: HTTP/real.test}\nproxy: http://p:3128\nno_proxy: [localhost]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.ImplicitAllow) != 2 || p.SPN["svc.test"] != "HTTP/real.test" || p.Proxy != "http://p:3128" || p.NoProxy[0] != "localhost" {
		t.Errorf("%+v", p)
	}
	if !allowedImplicit(p.ImplicitAllow, "x.corp.test") || allowedImplicit(p.ImplicitAllow, "corp.test.evil") {
		t.Error("*.domain pattern")
	}
	for _, bad := range []string{"implicit_alow: [x]", "spn: {a: nothost}", "proxy: ftp://x"} {
		if _, err := ParsePolicy([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestProxyUserInfo(t *testing.T) {
	c := &Config{EnvProxy: &EnvProxy{HTTPS: "http://bob:s3cret@envproxy:3128"}}
	f, _, _ := c.proxyFunc()
	u, _ := url.Parse("https://site.test/")
	if p, _ := f(u); p == nil || p.User != nil || p.Host != "envproxy:3128" {
		t.Errorf("user info left in the proxy URL: %v", p)
	}
	if cr := c.proxyUser(); cr == nil || cr.User != "bob" || cr.Password != "s3cret" {
		t.Errorf("proxy credentials from the URL: %+v", cr)
	}
	tr, err := c.NewTransport()
	if err != nil || tr.Proxy == nil || tr.Proxy.User != "bob" {
		t.Fatalf("%+v %v", tr, err)
	}
	c.Proxy = &Credentials{User: "flag"}
	if tr, _ := c.NewTransport(); tr.Proxy.User != "flag" {
		t.Error("-U did not win over the URL's user info")
	}
}

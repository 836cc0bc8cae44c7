package client

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/http/httpproxy"
)

// Where a Config's proxy comes from, strongest first:
//
//  1. ProxyURL (curl's -x, or client.yaml's proxy): one proxy for every
//     scheme, bypassed for the hosts in NoProxy (curl's --noproxy, or
//     client.yaml's no_proxy). Loopback hosts are proxied like any other
//     unless NoProxy names them, as curl does with -x.
//  2. EnvProxy: HTTP_PROXY, HTTPS_PROXY and NO_PROXY (or their lower-case
//     forms) as read when the settings were made, with Go's rules
//     (golang.org/x/net/http/httpproxy): "localhost" and loopback
//     addresses never go through a proxy taken from the environment.
//
// A job keeps what was decided when it was added, so that a worker started
// elsewhere (a service, another shell) uses the submitter's proxy.

// EnvProxy is the proxy settings read from the environment.
type EnvProxy struct {
	HTTP    string `json:"http,omitempty"`
	HTTPS   string `json:"https,omitempty"`
	NoProxy string `json:"no_proxy,omitempty"`
}

// ProxyFromEnvironment reads HTTP_PROXY, HTTPS_PROXY and NO_PROXY (and
// lower-case forms); nil when no proxy is set.
func ProxyFromEnvironment() *EnvProxy {
	c := httpproxy.FromEnvironment()
	if c.HTTPProxy == "" && c.HTTPSProxy == "" {
		return nil
	}
	return &EnvProxy{HTTP: c.HTTPProxy, HTTPS: c.HTTPSProxy, NoProxy: c.NoProxy}
}

// proxyFunc returns the function choosing a request URL's proxy (nil URL:
// direct, never with user info: see proxyUser), and whether any proxy is
// configured at all.
func (c *Config) proxyFunc() (func(*url.URL) (*url.URL, error), bool, error) {
	f, any, err := c.proxyFuncWithUser()
	if err != nil || !any {
		return f, any, err
	}
	return func(u *url.URL) (*url.URL, error) {
		pu, err := f(u)
		if pu != nil && pu.User != nil {
			cp := *pu
			cp.User = nil
			pu = &cp
		}
		return pu, err
	}, true, nil
}

// proxyUser is the user info of the configured proxy URLs
// (http://user:pass@proxy:3128, as curl takes it), as proxy credentials.
// It is taken out of the URL so that net/http does not send it as Basic
// on its own: Basic goes to a proxy only when asked for by name.
func (c *Config) proxyUser() *Credentials {
	for _, s := range []string{c.ProxyURL, envField(c.EnvProxy, true), envField(c.EnvProxy, false)} {
		if s == "" {
			continue
		}
		if pu, err := parseProxy(s); err == nil && pu.User != nil {
			pw, _ := pu.User.Password()
			return &Credentials{User: pu.User.Username(), Password: pw}
		}
	}
	return nil
}

func envField(e *EnvProxy, https bool) string {
	if e == nil {
		return ""
	}
	if https {
		return e.HTTPS
	}
	return e.HTTP
}

func (c *Config) proxyFuncWithUser() (func(*url.URL) (*url.URL, error), bool, error) {
	if c.ProxyURL != "" {
		pu, err := parseProxy(c.ProxyURL)
		if err != nil {
			return nil, false, err
		}
		bypass := c.NoProxy
		return func(u *url.URL) (*url.URL, error) {
			if NoProxyMatch(bypass, u.Hostname()) {
				return nil, nil
			}
			return pu, nil
		}, true, nil
	}
	if e := c.EnvProxy; e != nil && (e.HTTP != "" || e.HTTPS != "") {
		for _, p := range []string{e.HTTP, e.HTTPS} {
			if p != "" {
				if _, err := parseProxy(p); err != nil {
					return nil, false, err
				}
			}
		}
		f := (&httpproxy.Config{HTTPProxy: e.HTTP, HTTPSProxy: e.HTTPS, NoProxy: e.NoProxy}).ProxyFunc()
		return f, true, nil
	}
	return func(*url.URL) (*url.URL, error) { return nil, nil }, false, nil
}

// parseProxy reads a proxy URL; "host:port" is taken as http://host:port,
// as curl and Go do.
func parseProxy(s string) (*url.URL, error) {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	pu, err := url.Parse(s)
	if err != nil || pu.Host == "" {
		return nil, fmt.Errorf("client: %q is not a proxy URL", s)
	}
	if pu.Scheme != "http" {
		return nil, fmt.Errorf("client: proxy %q: only http:// proxies are supported", s)
	}
	return pu, nil
}

// NoProxyMatch reports whether host bypasses the proxy by list, curl's
// --noproxy rules: "*" matches everything; "example.test" matches it and
// its subdomains, ".example.test" and "*.example.test" its subdomains (and
// itself, as curl does); an IP address or CIDR block matches addresses.
func NoProxyMatch(list []string, host string) bool {
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	ip := net.ParseIP(host)
	for _, p := range list {
		p = strings.ToLower(strings.TrimSpace(p))
		if p == "" {
			continue
		}
		if p == "*" {
			return true
		}
		if ip != nil {
			if _, n, err := net.ParseCIDR(p); err == nil && n.Contains(ip) {
				return true
			}
			if pip := net.ParseIP(strings.Trim(p, "[]")); pip != nil && pip.Equal(ip) {
				return true
			}
			continue
		}
		p = strings.TrimPrefix(p, "*")
		p = strings.TrimPrefix(p, ".")
		if h, _, err := net.SplitHostPort(p); err == nil {
			p = h // a port in the list is ignored
		}
		if host == p || strings.HasSuffix(host, "."+p) {
			return true
		}
	}
	return false
}

// proxyForRequest is Transport.ProxyFunc for a proxy function over URLs.
func proxyForRequest(f func(*url.URL) (*url.URL, error)) func(*http.Request) (*url.URL, error) {
	return func(r *http.Request) (*url.URL, error) { return f(r.URL) }
}

package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
)

// Config is a client set up the way `gatehouse get` takes it from flags:
// TLS, proxy, schemes, implicit-credential policy. It marshals to JSON
// without the secrets (Server and Proxy), so that a background job can
// keep it in the clear and seal the credentials apart.
type Config struct {
	Schemes       []string          `json:"schemes,omitempty"`
	ProxySchemes  []string          `json:"proxy_schemes,omitempty"`
	SPN           string            `json:"spn,omitempty"`
	ImplicitAllow []string          `json:"implicit_allow,omitempty"`
	Delegation    string            `json:"delegation,omitempty"` // none | policy | always
	SPNs          map[string]string `json:"spns,omitempty"`       // host → SPN (client.yaml's spn)
	ProxyURL      string            `json:"proxy,omitempty"`      // every scheme; see proxy.go for the order
	NoProxy       []string          `json:"no_proxy,omitempty"`   // hosts that bypass ProxyURL
	EnvProxy      *EnvProxy         `json:"env_proxy,omitempty"`
	// ServerImplicit and ProxyImplicit name the schemes that may send
	// implicit credentials to the server or the proxy whatever
	// ImplicitAllow says (--cred server:negotiate:implicit).
	ServerImplicit []string `json:"server_implicit,omitempty"`
	ProxyImplicit  []string `json:"proxy_implicit,omitempty"`
	Insecure       bool     `json:"insecure,omitempty"`
	CACert         string   `json:"cacert,omitempty"` // PEM file
	Cert           string   `json:"cert,omitempty"`   // client certificate PEM file
	Key            string   `json:"key,omitempty"`

	Server         *Credentials            `json:"-"`
	Proxy          *Credentials            `json:"-"`
	ServerByScheme map[string]*Credentials `json:"-"`
	ProxyByScheme  map[string]*Credentials `json:"-"`
	// Identity, when set, is the implicit identity in place of the
	// process's own (a job's helper token); never marshalled in the clear.
	Identity *Identity                     `json:"-"`
	Trace    func(format string, a ...any) `json:"-"`
}

// NewTransport builds the Transport: its base http.Transport has the TLS
// settings and goes through ProxyURL (CONNECT with 407s answered on the
// tunnel's connection for https, the proxy in front for http).
func (c *Config) NewTransport() (*Transport, error) {
	d, err := ParseDelegation(c.Delegation)
	if err != nil {
		return nil, err
	}
	tr := &Transport{Schemes: c.Schemes, ProxySchemes: c.ProxySchemes, SPN: c.SPN, ImplicitAllow: c.ImplicitAllow,
		Delegation: d, Server: c.Server, Proxy: c.Proxy, Trace: c.Trace, SPNs: c.SPNs,
		ServerByScheme: c.ServerByScheme, ProxyByScheme: c.ProxyByScheme,
		ServerImplicit: c.ServerImplicit, ProxyImplicit: c.ProxyImplicit, Identity: c.Identity}
	base := http.DefaultTransport.(*http.Transport).Clone()
	tc := &tls.Config{InsecureSkipVerify: c.Insecure}
	if c.CACert != "" {
		pem, err := os.ReadFile(c.CACert)
		if err != nil {
			return nil, fmt.Errorf("cacert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("cacert: no PEM certificate in %s", c.CACert)
		}
		tc.RootCAs = pool
	}
	if (c.Cert == "") != (c.Key == "") {
		return nil, fmt.Errorf("--cert and --key go together")
	}
	if c.Cert != "" {
		pair, err := tls.LoadX509KeyPair(c.Cert, c.Key)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	base.TLSClientConfig = tc
	base.Proxy = nil
	pf, any, err := c.proxyFunc()
	if err != nil {
		return nil, err
	}
	tr.ProxyFunc = proxyForRequest(pf)
	if tr.Proxy == nil {
		tr.Proxy = c.proxyUser()
	}
	if any {
		// https: our own CONNECT, so that 407s are answered on the
		// tunnel's connection; http: the proxy in front.
		base.Proxy = func(r *http.Request) (*url.URL, error) {
			if r.URL.Scheme == "http" {
				return pf(r.URL)
			}
			return nil, nil
		}
		base.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			pu, err := pf(&url.URL{Scheme: "https", Host: addr})
			if err != nil {
				return nil, err
			}
			if pu == nil {
				return directTLS(ctx, network, addr, tc)
			}
			tr.tracef("CONNECT %s through %s", addr, pu.Redacted())
			cd := &ConnectDialer{Proxy: pu, Transport: tr, TLS: tc}
			return cd.DialTLSContext(ctx, network, addr)
		}
	}
	tr.Base = base
	return tr, nil
}

// directTLS is a TLS connection to addr without a proxy, HTTP/1.1 (the
// connection-bound schemes need one request at a time on it).
func directTLS(ctx context.Context, network, addr string, tc *tls.Config) (net.Conn, error) {
	cfg := tc.Clone()
	if cfg.ServerName == "" {
		host, _, _ := net.SplitHostPort(addr)
		cfg.ServerName = host
	}
	cfg.NextProtos = []string{"http/1.1"}
	d := &tls.Dialer{Config: cfg}
	return d.DialContext(ctx, network, addr)
}

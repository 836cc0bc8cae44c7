package client

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"os"
)

// Config is a client set up the way `gatehouse get` takes it from flags:
// TLS, proxy, schemes, implicit-credential policy. It marshals to JSON
// without the secrets (Server and Proxy), so that a background job can
// keep it in the clear and seal the credentials apart.
type Config struct {
	Schemes       []string `json:"schemes,omitempty"`
	ProxySchemes  []string `json:"proxy_schemes,omitempty"`
	SPN           string   `json:"spn,omitempty"`
	ImplicitAllow []string `json:"implicit_allow,omitempty"`
	Delegation    string   `json:"delegation,omitempty"` // none | policy | always
	ProxyURL      string   `json:"proxy,omitempty"`
	Insecure      bool     `json:"insecure,omitempty"`
	CACert        string   `json:"cacert,omitempty"` // PEM file
	Cert          string   `json:"cert,omitempty"`   // client certificate PEM file
	Key           string   `json:"key,omitempty"`

	Server *Credentials                  `json:"-"`
	Proxy  *Credentials                  `json:"-"`
	Trace  func(format string, a ...any) `json:"-"`
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
		Delegation: d, Server: c.Server, Proxy: c.Proxy, Trace: c.Trace}
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
	if c.ProxyURL != "" {
		pu, err := url.Parse(c.ProxyURL)
		if err != nil || pu.Host == "" {
			return nil, fmt.Errorf("%q is not a proxy URL", c.ProxyURL)
		}
		// https: our own CONNECT, so that 407s are answered on the
		// tunnel's connection; http: the proxy in front.
		cd := &ConnectDialer{Proxy: pu, Transport: tr, TLS: tc}
		base.DialTLSContext = cd.DialTLSContext
		base.Proxy = func(r *http.Request) (*url.URL, error) {
			if r.URL.Scheme == "http" {
				return pu, nil
			}
			return nil, nil
		}
	}
	tr.Base = base
	return tr, nil
}

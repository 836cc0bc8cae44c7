package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// ConnectDialer opens tunnels through an HTTP proxy with CONNECT,
// answering 407 challenges on the same connection, so that multi-leg
// schemes (NTLM, Negotiate) work for HTTPS through an authenticating
// proxy, which net/http's own CONNECT handling cannot do (it gives up on
// the first 407).
type ConnectDialer struct {
	Proxy     *url.URL
	Transport *Transport  // proxy credentials, schemes and trace
	TLS       *tls.Config // for https targets; nil: a default config
	Dialer    *net.Dialer // nil: a default dialer
}

// connectTimeout bounds the whole tunnel set-up.
const connectTimeout = 30 * time.Second

// ErrProxyRefused is returned when the proxy does not open the tunnel.
var ErrProxyRefused = errors.New("client: proxy refused CONNECT")

// DialTLSContext is for http.Transport.DialTLSContext: a tunnel to addr
// through the proxy, then TLS to the target.
func (d *ConnectDialer) DialTLSContext(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	cfg := d.TLS.Clone()
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		host, _, _ := net.SplitHostPort(addr)
		cfg.ServerName = host
	}
	cfg.NextProtos = []string{"http/1.1"}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return tc, nil
}

// DialContext returns a tunnel to addr through the proxy.
func (d *ConnectDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	dialer := d.Dialer
	if dialer == nil {
		dialer = &net.Dialer{}
	}
	proxyAddr := d.Proxy.Host
	if d.Proxy.Port() == "" {
		proxyAddr = net.JoinHostPort(d.Proxy.Hostname(), "80")
	}
	conn, err := dialer.DialContext(ctx, "tcp", proxyAddr)
	if err != nil {
		return nil, fmt.Errorf("client: proxy %s: %w", proxyAddr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	t := d.Transport
	tg := &target{header: "Proxy-Authorization", respHeader: "Proxy-Authenticate", creds: t.Proxy, byScheme: t.ProxyByScheme, allowed: t.ProxySchemes, key: "proxy", proxyHost: d.Proxy.Hostname(), implicit: t.ProxyImplicit}
	br := bufio.NewReader(conn)
	var auth string
	t.mu.Lock()
	if st := t.hosts["proxy"]; st != nil && st.basic != "" {
		auth = "Basic " + st.basic
	}
	t.mu.Unlock()
	for leg := 0; leg <= maxLegs; leg++ {
		req := &http.Request{Method: http.MethodConnect, URL: &url.URL{Opaque: addr}, Host: addr, Header: http.Header{}}
		if auth != "" {
			req.Header.Set("Proxy-Authorization", auth)
			t.tracef("> CONNECT %s Proxy-Authorization: %s", addr, mask(auth))
		}
		if err := req.Write(conn); err != nil {
			conn.Close()
			return nil, fmt.Errorf("client: CONNECT: %w", err)
		}
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("client: CONNECT: %w", err)
		}
		t.tracef("< CONNECT %s", resp.Status)
		if resp.StatusCode == http.StatusOK {
			if br.Buffered() > 0 {
				conn.Close()
				return nil, fmt.Errorf("%w: data after the 200", ErrProxyRefused)
			}
			conn.SetDeadline(time.Time{})
			return conn, nil
		}
		if resp.StatusCode != http.StatusProxyAuthRequired {
			resp.Body.Close()
			conn.Close()
			return nil, fmt.Errorf("%w: %s", ErrProxyRefused, resp.Status)
		}
		fake := &http.Request{Method: http.MethodConnect, URL: &url.URL{Scheme: "http", Host: addr, Path: addr}}
		value, _, err := t.answer(fake, resp, tg)
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("%w: 407: %v", ErrProxyRefused, err)
		}
		if resp.Close {
			// The proxy closes this connection; the next leg goes on a new
			// one (fine for single-leg schemes).
			conn.Close()
			if conn, err = dialer.DialContext(ctx, "tcp", proxyAddr); err != nil {
				return nil, fmt.Errorf("client: proxy %s: %w", proxyAddr, err)
			}
			if dl, ok := ctx.Deadline(); ok {
				conn.SetDeadline(dl)
			}
			br = bufio.NewReader(conn)
		}
		auth = value
	}
	conn.Close()
	return nil, fmt.Errorf("%w: too many 407s", ErrProxyRefused)
}

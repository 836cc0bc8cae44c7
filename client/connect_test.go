package client_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/basic"
	"github.com/gatehouse-auth/gatehouse/client"
)

// connectProxy is a minimal CONNECT proxy that wants Basic alice:pw.
func connectProxy(t *testing.T) (string, *int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	n407 := new(int)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					if req.Header.Get("Proxy-Authorization") != "Basic "+basic.Encode("alice", "pw") {
						*n407++
						io.WriteString(c, "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"p\"\r\nContent-Length: 0\r\n\r\n")
						continue
					}
					up, err := net.Dial("tcp", req.Host)
					if err != nil {
						io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
						return
					}
					io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
					go io.Copy(up, br)
					io.Copy(c, up)
					return
				}
			}(c)
		}
	}()
	return "http://" + ln.Addr().String(), n407
}

func TestConnectTunnelWithProxyAuth(t *testing.T) {
	ts, _ := gateServer(t, []string{"digest"}, true)
	purl, n407 := connectProxy(t)
	pu, _ := url.Parse(purl)
	tr := &client.Transport{Server: &client.Credentials{User: "alice", Password: "alicepw"},
		Proxy: &client.Credentials{User: "alice", Password: "pw"}, ProxySchemes: []string{client.Basic}}
	base := ts.Client().Transport.(*http.Transport).Clone()
	cd := &client.ConnectDialer{Proxy: pu, Transport: tr, TLS: base.TLSClientConfig}
	base.DialTLSContext = cd.DialTLSContext
	tr.Base = base
	resp, err := (&http.Client{Transport: tr}).Get(ts.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(string(b), "alice") || *n407 != 1 {
		t.Fatalf("%d %q 407s=%d", resp.StatusCode, b, *n407)
	}
	// wrong proxy password: a clear error
	tr2 := &client.Transport{Proxy: &client.Credentials{User: "alice", Password: "bad"}, ProxySchemes: []string{client.Basic}}
	cd2 := &client.ConnectDialer{Proxy: pu, Transport: tr2, TLS: base.TLSClientConfig}
	b2 := base.Clone()
	b2.DialTLSContext = cd2.DialTLSContext
	tr2.Base = b2
	if _, err := (&http.Client{Transport: tr2}).Get(ts.URL); err == nil || !strings.Contains(err.Error(), "proxy") {
		t.Fatalf("bad proxy password: %v", err)
	}
}

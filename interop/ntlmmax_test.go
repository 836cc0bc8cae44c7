package interop

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/ntlm"
)

// ntlmLogin opens a connection and logs in on it with NTLM as user; the
// connection stays authenticated (ntlm.connection_auth) for get.
type ntlmConn struct {
	c net.Conn
	r *bufio.Reader
}

func (n *ntlmConn) get(t *testing.T, auth string) (*http.Response, error) {
	t.Helper()
	req := "GET /whoami HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n"
	if auth != "" {
		req += "Authorization: " + auth + "\r\n"
	}
	if _, err := fmt.Fprint(n.c, req+"\r\n"); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(n.r, nil)
	if err != nil {
		return nil, err
	}
	var body strings.Builder
	bufio.NewReader(resp.Body).WriteTo(&body)
	resp.Body.Close()
	resp.Header.Set("X-Test-Body", body.String())
	return resp, nil
}

func ntlmLogin(t *testing.T, base, user, pw string) *ntlmConn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	n := &ntlmConn{c: c, r: bufio.NewReader(c)}
	in := ntlm.NewInitiator(ntlm.ClientConfig{User: user, Password: pw})
	neg, _, err := in.Step(nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := n.get(t, "NTLM "+base64.StdEncoding.EncodeToString(neg))
	if err != nil || resp.StatusCode != 401 {
		t.Fatalf("NEGOTIATE: %v %v", resp, err)
	}
	ch, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(resp.Header.Get("WWW-Authenticate"), "NTLM "))
	if err != nil {
		t.Fatalf("CHALLENGE: %v", err)
	}
	au, _, err := in.Step(ch)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err = n.get(t, "NTLM "+base64.StdEncoding.EncodeToString(au)); err != nil || resp.StatusCode != 200 {
		t.Fatalf("AUTHENTICATE: %v %v", resp, err)
	}
	return n
}

// ntlm.max_pending caps half-finished handshakes of all clients together:
// filled from two addresses (each under its own cap), a third address's
// NEGOTIATE gets 503, while a connection that logged in before keeps
// being served; when the handshakes expire (ntlm.handshake_timeout) the
// slots are free again.
func TestNTLMMaxPending(t *testing.T) {
	dir := t.TempDir()
	addAccount(t, dir, "alice", "alicepw")
	const timeout = 8 * time.Second
	s := serve(t, dir, fmt.Sprintf(`
state_dir: ./state
accounts: ./gatehouse.db
ntlm: {domain: EXAMPLE, max_pending: 6, max_pending_per_client: 4, handshake_timeout: %s}
listen:
  - addr: 127.0.0.1:0
sites:
  - path: /whoami
    auth: [ntlm]
`, timeout), 1)
	alice := ntlmLogin(t, s.HTTP, "alice", "alicepw")
	start := time.Now()
	var held []net.Conn
	for i, from := range []string{"127.0.0.2", "127.0.0.2", "127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.3"} {
		code, c := pendingNTLM(t, from, s.HTTP)
		if code != 401 {
			t.Fatalf("NEGOTIATE %d from %s (under both caps): %d", i, from, code)
		}
		held = append(held, c)
	}
	for _, from := range []string{"127.0.0.4", "127.0.0.3", "127.0.0.5"} {
		if code, _ := pendingNTLM(t, from, s.HTTP); code != 503 {
			t.Errorf("NEGOTIATE from %s beyond max_pending: %d, want 503", from, code)
		}
	}
	if time.Since(start) >= timeout {
		t.Fatalf("filling took %v, longer than handshake_timeout: the machine is too slow for this test", time.Since(start))
	}
	// the logged-in connection needs no new handshake: still served
	for i := 0; i < 3; i++ {
		resp, err := alice.get(t, "")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("authenticated connection while handshakes are full: %v %v", resp, err)
		}
		if w := parseWhoami(t, resp.Header.Get("X-Test-Body")); w.User != "alice" || w.Scheme != "NTLM" {
			t.Fatalf("%+v", w)
		}
	}
	// the unfinished handshakes expire: their connections are closed and
	// new handshakes are taken again
	for _, c := range held {
		c.SetReadDeadline(time.Now().Add(timeout + 20*time.Second))
		if n, err := c.Read(make([]byte, 1)); err == nil || n != 0 {
			t.Fatalf("connection still open after its handshake expired (%v)", err)
		}
	}
	for i, from := range []string{"127.0.0.4", "127.0.0.4", "127.0.0.5"} {
		deadline := time.Now().Add(20 * time.Second)
		for {
			code, _ := pendingNTLM(t, from, s.HTTP)
			if code == 401 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("NEGOTIATE %d after expiry: %d, slots never freed", i, code)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// and a full login from another address works
	if resp, err := ntlmLogin(t, s.HTTP, "alice", "alicepw").get(t, ""); err != nil || resp.StatusCode != 200 {
		t.Fatalf("a new login after expiry: %v %v", resp, err)
	}
}

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

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
	"github.com/gatehouse-auth/gatehouse/ntlm"
)

// pendingNTLM opens a connection from the loopback address from and sends
// an NTLM NEGOTIATE on it without ever answering; it returns the status
// and the connection (left open).
func pendingNTLM(t *testing.T, from, base string) (int, net.Conn) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	neg, _, _ := ntlm.NewInitiator(ntlm.ClientConfig{User: "x", Password: "y"}).Step(nil)
	fmt.Fprintf(c, "GET /whoami HTTP/1.1\r\nHost: x\r\nAuthorization: NTLM %s\r\n\r\n", base64.StdEncoding.EncodeToString(neg))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, c
}

const ntlmLimitsConfig = `
state_dir: ./state
accounts: ./gatehouse.db
ntlm: {domain: EXAMPLE, max_pending_per_client: %d, handshake_timeout: %s}
listen:
  - addr: 127.0.0.1:0
sites:
  - path: /whoami
    auth: [ntlm]
`

// One client address holding more unfinished NEGOTIATEs than its cap gets
// 503 for the extra ones, and only it: a real user (curl --ntlm) from
// another address logs in.
func TestNTLMPendingPerClient(t *testing.T) {
	curl := testenv.LookPath(t, "curl")
	dir := t.TempDir()
	addAccount(t, dir, "alice", "alicepw")
	s := serve(t, dir, fmt.Sprintf(ntlmLimitsConfig, 64, "30s"), 1)
	codes := map[int]int{}
	for i := 0; i < 70; i++ {
		code, _ := pendingNTLM(t, "127.0.0.2", s.HTTP)
		codes[code]++
	}
	if codes[401] != 64 || codes[503] != 6 {
		t.Fatalf("one client's NEGOTIATEs: %v, want 64×401 and 6×503", codes)
	}
	out, err := run(t, nil, curl, "-sf", "--interface", "127.0.0.3", "--ntlm", "-u", "alice:alicepw", "-H", "Accept: application/json", s.HTTP+"/whoami")
	if err != nil {
		t.Fatalf("a user from another address: %v", err)
	}
	if w := parseWhoami(t, out); w.User != "alice" {
		t.Fatalf("%+v", w)
	}
}

// An unfinished handshake frees its slot after ntlm.handshake_timeout
// although its connection stays open, and the server closes that
// connection.
func TestNTLMPendingExpires(t *testing.T) {
	dir := t.TempDir()
	addAccount(t, dir, "alice", "alicepw")
	s := serve(t, dir, fmt.Sprintf(ntlmLimitsConfig, 2, "1s"), 1)
	var held []net.Conn
	for i := 0; i < 2; i++ {
		code, c := pendingNTLM(t, "127.0.0.2", s.HTTP)
		if code != 401 {
			t.Fatalf("NEGOTIATE %d: %d", i, code)
		}
		held = append(held, c)
	}
	if code, _ := pendingNTLM(t, "127.0.0.2", s.HTTP); code != 503 {
		t.Fatalf("over the cap: %d", code)
	}
	// the held connections are closed by the server once their handshakes
	// expire; then the client has its slots back
	for _, c := range held {
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		if n, err := c.Read(make([]byte, 1)); err == nil || n != 0 {
			t.Fatalf("connection still open after its handshake expired (%v)", err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, _ := pendingNTLM(t, "127.0.0.2", s.HTTP)
		if code == 401 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot never freed: %d", code)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// negotiate: {mechanisms: [kerberos]}: NTLM is not taken inside Negotiate
// (gss-ntlmssp through MIT's SPNEGO is refused), Kerberos still is.
func TestNegotiateKerberosOnly(t *testing.T) {
	k := testenv.NeedKDC(t)
	py := testenv.File(t, "/usr/bin/python3", "Debian's python3")
	testenv.File(t, "/usr/lib/x86_64-linux-gnu/gssntlmssp/gssntlmssp.so", "gss-ntlmssp (Debian package)")
	dir := t.TempDir()
	addAccount(t, dir, "alice", "alicepw")
	s := serve(t, dir, `
state_dir: ./state
accounts: ./gatehouse.db
ntlm: {domain: EXAMPLE}
negotiate: {mechanisms: [kerberos]}
kerberos:
  keytab: `+k.Keytab+`
listen:
  - addr: 127.0.0.1:0
sites:
  - path: /whoami
    auth: [negotiate]
`, 1)
	host, port, _ := strings.Cut(strings.TrimPrefix(s.HTTP, "http://"), ":")
	out, err := run(t, nil, py, "-c", pythonGSSNTLM, host, port, "http", "spnego", "none", "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `"status": 401`) {
		t.Errorf("NTLM inside Negotiate with mechanisms [kerberos]: %s", out)
	}
	env := kinit(t, k)
	out, err = run(t, env, testenv.LookPath(t, "curl"), "-sf", "--negotiate", "-u", ":", "-H", "Accept: application/json", s.HTTP+"/whoami")
	if err != nil {
		t.Fatal(err)
	}
	if w := parseWhoami(t, out); w.Mechanism != "kerberos" || w.User != "alice@EXAMPLE.TEST" {
		t.Fatalf("%+v", w)
	}
}

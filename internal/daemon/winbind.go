package daemon

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-auth/gatehouse/ntlm"
)

// winbind verifies NTLM responses against a domain controller the way
// Linux servers do: Samba's ntlm_auth helper in its ntlm-server-1
// protocol gets the server challenge and the client's response, winbindd
// passes them to the DC (NetrLogonSamLogon), and the answer carries the
// user session key. One helper process is kept and reused; it is restarted
// when it dies.
type winbind struct {
	argv []string // ntlm_auth and extra arguments
	mu   sync.Mutex
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
}

// winbindTimeout bounds one verification (the DC's answer included).
const winbindTimeout = 15 * time.Second

func newWinbind(cmdline string) (*winbind, error) {
	argv := strings.Fields(cmdline)
	if len(argv) == 0 {
		return nil, errors.New("daemon: ntlm.ntlm_auth is empty")
	}
	if _, err := exec.LookPath(argv[0]); err != nil {
		return nil, fmt.Errorf("daemon: ntlm.ntlm_auth: %w", err)
	}
	return &winbind{argv: argv}, nil
}

func (w *winbind) start() error {
	args := append(append([]string{}, w.argv[1:]...), "--helper-protocol=ntlm-server-1")
	cmd := exec.Command(w.argv[0], args...)
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("daemon: starting ntlm_auth: %w", err)
	}
	w.cmd, w.in, w.out = cmd, in, bufio.NewReader(out)
	return nil
}

// Close stops the helper; a later Verify would start another.
func (w *winbind) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stop()
}

func (w *winbind) stop() {
	if w.cmd != nil {
		w.in.Close()
		w.cmd.Process.Kill()
		w.cmd.Wait()
		w.cmd = nil
	}
}

// Verify implements ntlm.ServerConfig.Verify.
func (w *winbind) Verify(user, domain string, challenge [8]byte, nt, lm []byte) ([]byte, error) {
	for _, s := range []string{user, domain} {
		if strings.ContainsAny(s, "\r\n") {
			return nil, fmt.Errorf("%w: line break in user or domain", ntlm.ErrAuthFailed)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cmd == nil {
		if err := w.start(); err != nil {
			return nil, err
		}
	}
	var req strings.Builder
	fmt.Fprintf(&req, "Username: %s\nNT-Domain: %s\nLANMAN-Challenge: %x\nNT-Response: %x\n", user, domain, challenge[:], nt)
	if len(lm) > 0 && !allZero(lm) { // Z(24) means "no LM response" (MS-NLMP §3.3.2)
		fmt.Fprintf(&req, "LANMAN-Response: %x\n", lm)
	}
	req.WriteString("Request-User-Session-Key: Yes\n.\n")
	done := make(chan struct{})
	timer := time.AfterFunc(winbindTimeout, func() { w.stop(); close(done) })
	defer timer.Stop()
	if _, err := io.WriteString(w.in, req.String()); err != nil {
		w.stop()
		return nil, fmt.Errorf("daemon: ntlm_auth: %w", err)
	}
	fields := map[string]string{}
	for {
		line, err := w.out.ReadString('\n')
		if err != nil {
			w.stop()
			return nil, fmt.Errorf("daemon: ntlm_auth: %w", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "." {
			break
		}
		if k, v, ok := strings.Cut(line, ": "); ok {
			fields[k] = v
		}
	}
	if fields["Authenticated"] != "Yes" {
		// ntlm_auth 4.17 writes more after a refusal than its "."; a fresh
		// helper keeps requests and answers aligned.
		w.stop()
		reason := fields["Authentication-Error"]
		if reason == "" {
			reason = fields["Authenticated"]
		}
		if reason == "" {
			reason = "refused by the domain controller"
		}
		return nil, fmt.Errorf("%w: %s", ntlm.ErrAuthFailed, reason)
	}
	key, err := hex.DecodeString(fields["User-Session-Key"])
	if err != nil || len(key) != 16 {
		return nil, errors.New("daemon: ntlm_auth returned no user session key")
	}
	return key, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

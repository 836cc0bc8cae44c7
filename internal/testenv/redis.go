package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// Redis is a throwaway redis-server on loopback (Debian's redis-server),
// stopped when the test ends.
type Redis struct {
	Addr string // 127.0.0.1:port
	// CAFile is the PEM file of the CA of a TLS server (StartRedisTLS);
	// "" for plain TCP.
	CAFile string
	t      testing.TB
	dir    string
	args   []string
	cmd    *exec.Cmd
}

// StartRedis starts redis-server on a free loopback port with no
// persistence; extra arguments are added to its command line (e.g.
// "--requirepass", "pw"). It calls Missing when redis-server is absent.
func StartRedis(t testing.TB, extra ...string) *Redis {
	t.Helper()
	bin := LookPath(t, "redis-server")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	r := &Redis{Addr: "127.0.0.1:" + strconv.Itoa(port), t: t, dir: t.TempDir()}
	r.args = append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", r.dir}, extra...)
	_ = bin
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// Start starts (or restarts, after Stop) the server on the same port.
func (r *Redis) Start() {
	r.t.Helper()
	r.cmd = exec.Command("redis-server", r.args...)
	r.cmd.Stdout, r.cmd.Stderr = nil, nil
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", r.Addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.t.Fatalf("redis-server did not start on %s", r.Addr)
}

// Stop kills the server (as a crash would) and waits for it.
func (r *Redis) Stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		r.cmd.Process.Signal(os.Kill)
		r.cmd.Wait()
		r.cmd = nil
	}
}

// CLI runs redis-cli against the server and returns its output.
func (r *Redis) CLI(args ...string) (string, error) {
	host, port, _ := net.SplitHostPort(r.Addr)
	conn := []string{"-h", host, "-p", port}
	if r.CAFile != "" {
		conn = append(conn, "--tls", "--cacert", r.CAFile)
	}
	out, err := exec.Command("redis-cli", append(conn, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("redis-cli %v: %w", args, err)
	}
	return string(out), nil
}

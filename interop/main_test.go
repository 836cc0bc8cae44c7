package interop

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// bin is the gatehouse binary built once for all tests.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gatehouse-interop-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "gatehouse")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/gatehouse").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building gatehouse: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// gh runs a gatehouse command in dir with stdin and returns its output.
func gh(t *testing.T, dir, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// addAccount adds an account to dir/gatehouse.db.
func addAccount(t *testing.T, dir, name, pw string, groups ...string) {
	t.Helper()
	args := []string{"accounts", "add", name, "--password-stdin", "--db", filepath.Join(dir, "gatehouse.db")}
	for _, g := range groups {
		args = append(args, "--group", g)
	}
	if out, err := gh(t, dir, pw+"\n", args...); err != nil {
		t.Fatalf("accounts add %s: %v\n%s", name, err, out)
	}
}

// instance is a running `gatehouse serve`.
type instance struct {
	cmd   *exec.Cmd
	HTTP  string // http://127.0.0.1:port
	HTTPS string
	log   *syncBuffer
}

type syncBuffer struct {
	mu  chan struct{}
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.String()
}

var listenRE = regexp.MustCompile(`(?:msg=listening url=|"msg":"listening","url":")(https?)://([0-9.:\[\]]+)/`)

var adminRE = regexp.MustCompile(`msg="admin listening" url=(http://[0-9.:\[\]]+)/`)

// serve starts `gatehouse serve` in dir (with --config cfg when cfg is not
// empty) and waits until every listener is up. It is stopped with SIGTERM
// at the end of the test, and must exit 0 (graceful shutdown).
func serve(t *testing.T, dir, cfg string, listeners int) *instance {
	t.Helper()
	return serveEnv(t, nil, dir, cfg, listeners)
}

// serveEnv is serve with env added to the server's environment.
func serveEnv(t *testing.T, env []string, dir, cfg string, listeners int) *instance {
	t.Helper()
	args := []string{"serve"}
	if cfg != "" {
		p := filepath.Join(dir, "gatehouse.yaml")
		if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config", p)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	inst := &instance{cmd: cmd, log: &syncBuffer{mu: make(chan struct{}, 1)}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan string, 4)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			inst.log.Write([]byte(line + "\n"))
			if m := listenRE.FindStringSubmatch(line); m != nil {
				found <- m[1] + "://" + m[2]
			}

		}
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); pw.Close() }()
	deadline := time.After(15 * time.Second)
	for n := 0; n < listeners; n++ {
		select {
		case u := <-found:
			if strings.HasPrefix(u, "https") {
				inst.HTTPS = strings.Replace(u, "127.0.0.1", "localhost", 1)
			} else {
				inst.HTTP = strings.Replace(u, "127.0.0.1", "localhost", 1)
			}
		case err := <-exited:
			t.Fatalf("gatehouse serve exited: %v\n%s", err, inst.log)
		case <-deadline:
			cmd.Process.Kill()
			t.Fatalf("gatehouse serve did not start\n%s", inst.log)
		}
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("gatehouse serve did not exit cleanly on SIGTERM: %v\n%s", err, inst.log)
			}
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			t.Errorf("gatehouse serve ignored SIGTERM")
		}
		if t.Failed() {
			t.Logf("server log:\n%s", inst.log)
		}
	})
	return inst
}

// admin waits until the admin listener has been logged and returns its
// URL (http://127.0.0.1:port).
func (i *instance) admin(t *testing.T) string {
	t.Helper()
	l := i.waitLog(func(l string) bool { return adminRE.MatchString(l) })
	m := adminRE.FindStringSubmatch(l)
	if m == nil {
		t.Fatalf("no admin listener in the log:\n%s", l)
	}
	return m[1]
}

// run runs a command and returns stdout; stderr goes to the test log on
// failure.
func run(t *testing.T, env []string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Logf("%s %s: %v\nstderr: %s", name, strings.Join(args, " "), err, stderr.String())
	}
	return string(out), err
}

type whoami struct {
	User           string   `json:"user"`
	Name           string   `json:"name"`
	Domain         string   `json:"domain"`
	Scheme         string   `json:"scheme"`
	Mechanism      string   `json:"mechanism"`
	Groups         []string `json:"groups"`
	SIDs           []string `json:"sids"`
	ServiceName    *string  `json:"service_name"`
	ChannelBinding string   `json:"channel_binding"`
	Delegated      bool     `json:"delegated"`
	Session        bool     `json:"session"`
}

func parseWhoami(t *testing.T, s string) whoami {
	t.Helper()
	var w whoami
	if err := json.Unmarshal([]byte(s), &w); err != nil {
		t.Fatalf("whoami JSON: %v\n%q", err, s)
	}
	return w
}

// waitLog waits (up to 15 s) until ok holds for the server's log, and
// returns the log: a server logs a failure after it has answered it.
func (i *instance) waitLog(ok func(log string) bool) string {
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if l := i.log.String(); ok(l) || time.Now().After(deadline) {
			return l
		}
	}
}

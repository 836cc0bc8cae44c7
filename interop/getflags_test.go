package interop

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestGetCurlFlags: curl's -i -I -L -s -S -f -w --max-time --retry and a
// URL without a scheme, against in-process servers; with -L the
// credentials go to the first origin only.
func TestGetCurlFlags(t *testing.T) {
	var mu sync.Mutex
	var otherAuth []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		otherAuth = append(otherAuth, r.Header.Get("Authorization"))
		mu.Unlock()
		fmt.Fprintln(w, "other origin")
	}))
	defer other.Close()
	fails := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "alice" || p != "pw" {
			w.Header().Set("WWW-Authenticate", `Basic realm="t"`)
			http.Error(w, "401", 401)
			return
		}
		switch r.URL.Path {
		case "/ok":
			w.Header().Set("X-Test", "yes")
			fmt.Fprintln(w, "hello")
		case "/same":
			http.Redirect(w, r, "/ok", http.StatusFound)
		case "/away":
			http.Redirect(w, r, other.URL+"/x", http.StatusFound)
		case "/missing":
			http.Error(w, "nope", 404)
		case "/slow":
			time.Sleep(3 * time.Second)
		case "/flaky":
			mu.Lock()
			fails++
			n := fails
			mu.Unlock()
			if n < 3 {
				http.Error(w, "busy", 503)
				return
			}
			fmt.Fprintln(w, "third time")
		}
	}))
	defer srv.Close()
	hostport := strings.TrimPrefix(srv.URL, "http://")
	auth := []string{"--basic", "-u", "alice:pw"}
	check := func(name string, wantOK bool, wantOut string, args ...string) string {
		t.Helper()
		out, e, ok := get(t, nil, append(append([]string{}, auth...), args...)...)
		if ok != wantOK || !strings.Contains(out, wantOut) {
			t.Errorf("%s: ok=%v out=%q stderr=%q", name, ok, out, e)
		}
		return e
	}
	check("scheme-less URL", true, "hello", hostport+"/ok")
	check("-i", true, "X-Test: yes", "-i", srv.URL+"/ok")
	if out, _, _ := get(t, nil, append(auth, "-I", srv.URL+"/ok")...); !strings.HasPrefix(out, "HTTP/1.1 200 OK") || strings.Contains(out, "hello") {
		t.Errorf("-I: %q", out)
	}
	check("-w", true, "hello\n200|6", "-w", `%{http_code}|%{size_download}`, srv.URL+"/ok")
	check("-L same origin", true, "hello", "-L", srv.URL+"/same")
	check("no -L", false, "", srv.URL+"/same")
	check("-L other origin", true, "other origin", "-L", "-w", "%{num_redirects}", srv.URL+"/away")
	mu.Lock()
	if len(otherAuth) != 1 || otherAuth[0] != "" {
		t.Errorf("credentials followed the redirect to another origin: %q", otherAuth)
	}
	mu.Unlock()
	out, e, ok := get(t, nil, append(auth, "-f", "-w", "%{http_code}", srv.URL+"/missing")...)
	if ok || out != "404" || !strings.Contains(e, "returned error") {
		t.Errorf("-f: ok=%v %q %q", ok, out, e)
	}
	if out, e, _ := get(t, nil, append(auth, "-f", "-s", srv.URL+"/missing")...); out != "" || e != "" {
		t.Errorf("-f -s: %q %q", out, e)
	}
	if _, e, _ := get(t, nil, append(auth, "-f", "-s", "-S", srv.URL+"/missing")...); !strings.Contains(e, "404") {
		t.Errorf("-s -S: %q", e)
	}
	cmd := gatehouseCmd(append(append([]string{"get"}, auth...), "--max-time", "0.5", srv.URL+"/slow")...)
	if err := cmd.Run(); err == nil || cmd.ProcessState.ExitCode() != 28 {
		t.Errorf("--max-time: %v", err)
	}
	check("--retry", true, "third time", "--retry", "3", srv.URL+"/flaky")
}

// TestHelpExitsZero: --help on get and on every jobs command prints the
// usage and exits 0.
func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{{"get", "--help"}, {"get", "-h"}, {"jobs", "--help"}, {"jobs", "help"},
		{"jobs", "add", "--help"}, {"jobs", "list", "--help"}, {"jobs", "run", "--help"}, {"jobs", "set-credentials", "--help"},
		{"jobs", "show", "--help"}, {"jobs", "resume", "--help"}, {"jobs", "complete", "--help"}, {"jobs", "cancel", "--help"}, {"jobs", "remove", "--help"}} {
		out, e, ok := gatehouse(t, nil, args...)
		if !ok || !strings.Contains(out, "usage: gatehouse") {
			t.Errorf("%v: ok=%v %q %q", args, ok, out, e)
		}
	}
}

func gatehouseCmd(args ...string) *exec.Cmd {
	return exec.Command(bin, args...)
}

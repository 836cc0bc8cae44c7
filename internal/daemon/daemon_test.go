package daemon

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/config"
)

func testConfig(t *testing.T, dir, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func get(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestReloadGenerations: a reload swaps the Gate on the same listener; the
// old generation stays open while a request holds it and closes (its
// account store with it) when the last one ends; a failed reload changes
// nothing.
func TestReloadGenerations(t *testing.T) {
	dir := t.TempDir()
	const base = "state_dir: ./state\naccounts: ./a.db\nlisten: [{addr: 127.0.0.1:0}]\nsites:\n  - {path: /, auth: [anonymous]}\n"
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r, err := Start(testConfig(t, dir, base), log, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Shutdown()
	url := "http://" + r.listeners[0].ln.Addr().String()
	if c := get(t, url+"/secret"); c != 200 {
		t.Fatalf("before: %d", c)
	}
	old := r.acquire() // a request in flight on the old generation
	next := testConfig(t, dir, base+"  - {path: /secret, auth: [digest]}\n")
	if err := r.Reload(next); err != nil {
		t.Fatal(err)
	}
	if c := get(t, url+"/secret"); c != 401 {
		t.Errorf("after: %d", c)
	}
	if old.closed.Load() || old.store != r.cur.Load().store {
		t.Errorf("the old generation closed under a request in flight, or the store was not shared")
	}
	old.release()
	if _, err := old.store.List(); err != nil {
		t.Errorf("the store both generations use was closed with the old one: %v", err)
	}
	// a generation with another store closes the old one
	moved := testConfig(t, dir, strings.Replace(base, "./a.db", "./b.db", 1)+"  - {path: /secret, auth: [digest]}\n")
	prev := r.acquire()
	prev.release()
	if err := r.Reload(moved); err != nil {
		t.Fatal(err)
	}
	if _, err := prev.store.List(); err == nil {
		t.Error("a.db is still open after the last generation using it closed")
	}
	// a configuration that cannot be built leaves the running one
	bad := testConfig(t, dir, strings.Replace(base, "./a.db", "./b.db", 1)+"  - {path: /www, auth: [anonymous], handler: static, root: ./missing}\n")
	if err := r.Reload(bad); err == nil || !strings.Contains(err.Error(), "sites[1] (/www).root") {
		t.Fatalf("bad reload: %v", err)
	}
	if c := get(t, url+"/secret"); c != 401 {
		t.Errorf("after the failed reload: %d", c)
	}
	if len(r.listeners) != 1 {
		t.Errorf("listeners: %d", len(r.listeners))
	}
}

// TestCheckCreatesNothing: Check reports each missing file on its own
// line and leaves the directory as it was.
func TestCheckCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir, `
state_dir: ./state
accounts: ./a.db
listen: [{addr: 127.0.0.1:0, tls: {}}]
sites: [{path: /, auth: [anonymous, digest], sessions: true}]
`)
	if p := Check(cfg); len(p) != 0 {
		t.Fatalf("good config: %v", p)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("Check created %v", entries)
	}
	cfg = testConfig(t, dir, `
listen: [{addr: 127.0.0.1:0, tls: {cert: ./c.pem, key: ./k.pem}}]
kerberos: {keytab: ./none.keytab}
sites: [{path: /, auth: [anonymous], handler: static, root: ./www}]
`)
	p := Check(cfg)
	if len(p) != 3 {
		t.Fatalf("problems: %q", p)
	}
	if !strings.Contains(p[0], filepath.Join(dir, "c.pem")) {
		t.Errorf("the TLS problem does not name the file: %q", p[0])
	}
}

// TestMetricsSurviveReload: the Gate's counters go on across a reload
// (one registry for the process; a new Gate adopts the counters).
func TestMetricsSurviveReload(t *testing.T) {
	dir := t.TempDir()
	const cfg = "state_dir: ./state\naccounts: ./a.db\nlisten: [{addr: 127.0.0.1:0}]\nsites:\n  - {path: /, auth: [basic], basic_over_http: true}\n"
	r, err := Start(testConfig(t, dir, cfg), slog.New(slog.NewTextHandler(io.Discard, nil)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Shutdown()
	url := "http://" + r.listeners[0].ln.Addr().String() + "/"
	fail := func() {
		req, _ := http.NewRequest("GET", url, nil)
		req.SetBasicAuth("nobody", "x")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	count := func() float64 {
		mfs, err := r.shared.registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "gatehouse_auth_attempts_total" {
				for _, m := range mf.GetMetric() {
					return m.GetCounter().GetValue()
				}
			}
		}
		return 0
	}
	fail()
	if err := r.Reload(testConfig(t, dir, cfg+"  - {path: /new, auth: [anonymous]}\n")); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(testConfig(t, dir, cfg)); err != nil {
		t.Fatal(err)
	}
	fail()
	if got := count(); got != 2 {
		t.Errorf("gatehouse_auth_attempts_total after two reloads: %v, want 2", got)
	}
}

// TestReloadTurnsTLSOn: the same address, plain then TLS after a reload
// (the new listener takes the socket over); a reload that cannot open
// another listener gives nothing up.
func TestReloadTurnsTLSOn(t *testing.T) {
	dir := t.TempDir()
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := probe.Addr().String()
	probe.Close()
	const sites = "sites: [{path: /, auth: [anonymous]}]\n"
	plain := "state_dir: ./state\naccounts: ./a.db\nlisten: [{addr: " + addr + "}]\n" + sites
	withTLS := "state_dir: ./state\naccounts: ./a.db\nlisten: [{addr: " + addr + ", tls: {}}]\n" + sites
	r, err := Start(testConfig(t, dir, plain), slog.New(slog.NewTextHandler(io.Discard, nil)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Shutdown()
	if c := get(t, "http://"+addr+"/"); c != 200 {
		t.Fatalf("plain: %d", c)
	}
	// a second listener on a busy port: the reload fails before giving
	// the first address up
	busy, _ := net.Listen("tcp", "127.0.0.1:0")
	defer busy.Close()
	failing := "state_dir: ./state\naccounts: ./a.db\nlisten: [{addr: " + addr + ", tls: {}}, {addr: " + busy.Addr().String() + "}]\n" + sites
	if err := r.Reload(testConfig(t, dir, failing)); err == nil {
		t.Fatal("reload with a busy port succeeded")
	}
	if c := get(t, "http://"+addr+"/"); c != 200 {
		t.Fatalf("plain after the failed reload: %d", c)
	}
	if err := r.Reload(testConfig(t, dir, withTLS)); err != nil {
		t.Fatal(err)
	}
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := cl.Get("https://" + addr + "/")
	if err != nil {
		t.Fatalf("TLS after the reload: %v", err)
	}
	resp.Body.Close()
	select {
	case err := <-r.done:
		t.Fatalf("the daemon took the handed-over socket for a failure: %v", err)
	default:
	}
}

package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/gatehouse-auth/gatehouse/authz"
	"github.com/gatehouse-auth/gatehouse/directory"
)

// offlineDirectory is a real directory that listens nowhere: only what
// Remember put in its cache is answered.
func offlineDirectory(t testing.TB) *directory.Directory {
	d, err := directory.New(directory.Config{URL: "ldaps://127.0.0.1:1", Bind: directory.BindSimple, BindDN: "cn=x", Password: "p", CacheTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func domainGate(t testing.TB, dir GroupDirectory, log io.Writer) (http.Handler, func(string) *http.Request) {
	rules := func(role string) authz.Rules {
		return authz.Rules{{Allow: true, Roles: []string{role}}, {Allow: false, Users: []string{"*"}}}
	}
	g, err := New(Options{Secret: make([]byte, 32), Directory: dir, Logger: slog.New(slog.NewTextHandler(log, nil)),
		NTLMVerify: func(string, string, [8]byte, []byte, []byte) ([]byte, error) { return nil, nil }},
		[]Site{{Path: "/", Schemes: []string{"ntlm"}}, {Path: "/finance", Schemes: []string{"ntlm"}, Rules: rules("finance")},
			{Path: "/sid", Schemes: []string{"ntlm"}, Rules: rules("S-1-5-21-1-2-3-1105")},
			// no rules of its own: it inherits /finance's
			{Path: "/finance/reports", Schemes: []string{"ntlm"}}})
	if err != nil {
		t.Fatal(err)
	}
	h := g.Wrap(WhoAmI())
	// a connection NTLM authenticated through the DC
	ci := &connInfo{id: &Identity{User: `SAMBA\carol`, Name: "carol", Domain: "SAMBA", Scheme: "NTLM", Mechanism: "ntlm", dirAccount: "carol"}}
	req := func(path string) *http.Request {
		r := httptest.NewRequest("GET", path, nil).WithContext(context.WithValue(context.Background(), connKey{}, ci))
		r.Header.Set("Accept", "application/json")
		return r
	}
	return h, req
}

func TestDirectoryGroups(t *testing.T) {
	d := offlineDirectory(t)
	d.Remember("carol", &directory.Membership{SIDs: []string{"S-1-5-21-1-2-3-1103", "S-1-5-21-1-2-3-1105"}, Names: []string{`SAMBA\Finance`}})
	h, req := domainGate(t, d, io.Discard)
	for path, want := range map[string]int{"/": 200, "/finance": 200, "/sid": 200, "/finance/reports": 200} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req(path))
		if w.Code != want {
			t.Errorf("%s: %d", path, w.Code)
		}
		if path == "/" {
			var id Identity
			json.Unmarshal(w.Body.Bytes(), &id)
			if !slices.Equal(id.Groups, []string{`SAMBA\Finance`}) || len(id.SIDs) != 2 || !id.IsInRole("FINANCE") || !id.IsInRole(`samba\finance`) || !id.IsInRole("S-1-5-21-1-2-3-1105") || id.IsInRole("Staff") {
				t.Errorf("whoami %+v", id)
			}
		}
	}
}

// TestDirectoryDown: without an answer from the directory, sites whose
// rules name roles refuse (503), others serve; one log line each names
// the directory.
func TestDirectoryDown(t *testing.T) {
	var log strings.Builder
	h, req := domainGate(t, offlineDirectory(t), &log)
	for path, want := range map[string]int{"/": 200, "/finance": 503, "/sid": 503, "/finance/reports": 503} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req(path))
		if w.Code != want {
			t.Errorf("%s: %d, want %d", path, w.Code, want)
		}
	}
	if n := strings.Count(log.String(), "directory lookup failed"); n != 4 || !strings.Contains(log.String(), "directory=ldaps://127.0.0.1:1") {
		t.Errorf("%d lines:\n%s", n, log.String())
	}
}

// BenchmarkDirectoryGroups: what a request whose groups are cached costs
// more than one without a directory (an NTLM connection authenticated
// through the DC; the whoami handler replaced by a plain answer).
func BenchmarkDirectoryGroups(b *testing.B) {
	for _, c := range []struct {
		name, path string
		dir        bool
	}{{"none", "/", false}, {"cached", "/", true}, {"cached-rule", "/finance", true}} {
		b.Run(c.name, func(b *testing.B) {
			var dir GroupDirectory
			if c.dir {
				d := offlineDirectory(b)
				d.Remember("carol", &directory.Membership{SIDs: []string{"S-1-5-21-1-2-3-1103", "S-1-5-21-1-2-3-1105"}, Names: []string{`SAMBA\Finance`, `SAMBA\Staff`}})
				dir = d
			}
			g, err := New(Options{Secret: make([]byte, 32), Directory: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
				NTLMVerify: func(string, string, [8]byte, []byte, []byte) ([]byte, error) { return nil, nil }},
				[]Site{{Path: "/", Schemes: []string{"ntlm"}}, {Path: "/finance", Schemes: []string{"ntlm"},
					Rules: authz.Rules{{Allow: true, Roles: []string{"finance"}}, {Allow: true, Users: []string{"*"}}}}})
			if err != nil {
				b.Fatal(err)
			}
			h := g.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) }))
			ci := &connInfo{id: &Identity{User: `SAMBA\carol`, Name: "carol", Domain: "SAMBA", Scheme: "NTLM", Mechanism: "ntlm", dirAccount: "carol"}}
			r := httptest.NewRequest("GET", c.path, nil).WithContext(context.WithValue(context.Background(), connKey{}, ci))
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != 200 {
					b.Fatal(w.Code, fmt.Sprint(w.Body))
				}
			}
		})
	}
}

// BenchmarkWithGroups: the directory step alone, for an NTLM identity
// whose groups are cached: what a request pays for its groups (the
// Kerberos case, PAC SIDs named from the cache, is directory's
// BenchmarkCachedResolveSIDs plus the same copy).
func BenchmarkWithGroups(b *testing.B) {
	d := offlineDirectory(b)
	d.Remember("carol", &directory.Membership{SIDs: []string{"S-1-5-21-1-2-3-1103", "S-1-5-21-1-2-3-1105"}, Names: []string{`SAMBA\Finance`, `SAMBA\Staff`}})
	g := &Gate{dir: d, log: slog.New(slog.NewTextHandler(io.Discard, nil)), metrics: newMetrics(nil)}
	st := &site{needsGroups: true}
	r := httptest.NewRequest("GET", "/", nil)
	id := &Identity{User: `SAMBA\carol`, Name: "carol", Domain: "SAMBA", Scheme: "NTLM", Mechanism: "ntlm", dirAccount: "carol"}
	b.ReportAllocs()
	for b.Loop() {
		if g.withGroups(nil, r, st, id) == nil {
			b.Fatal("refused")
		}
	}
}

// TestDirectoryDownKerberosSIDs: with the directory down, a Kerberos
// user's PAC SIDs still decide rules that name only SIDs; rules naming
// groups by name refuse (503).
func TestDirectoryDownKerberosSIDs(t *testing.T) {
	rules := func(role string) authz.Rules {
		return authz.Rules{{Allow: true, Roles: []string{role}}, {Allow: false, Users: []string{"*"}}}
	}
	g, err := New(Options{Secret: make([]byte, 32), Directory: offlineDirectory(t), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
		[]Site{{Path: "/finance", Schemes: []string{"anonymous"}, Rules: rules("finance")}, {Path: "/sid", Schemes: []string{"anonymous"}, Rules: rules("S-1-5-21-1-2-3-1105")}})
	if err != nil {
		t.Fatal(err)
	}
	id := &Identity{User: "carol@SAMBA.TEST", Name: "carol", Scheme: "Negotiate", Mechanism: "kerberos",
		SIDs: []string{"S-1-5-21-1-2-3-1103", "S-1-5-21-1-2-3-1105"}, pacSIDs: true}
	w := httptest.NewRecorder()
	if got := g.withGroups(w, httptest.NewRequest("GET", "/sid", nil), g.match("/sid"), id); got == nil || !got.IsInRole("S-1-5-21-1-2-3-1105") {
		t.Errorf("/sid: %v %d", got, w.Code)
	}
	w = httptest.NewRecorder()
	if got := g.withGroups(w, httptest.NewRequest("GET", "/finance", nil), g.match("/finance"), id); got != nil || w.Code != 503 {
		t.Errorf("/finance: %v %d", got, w.Code)
	}
	var m dto.Metric
	g.metrics.directory[dirUnavailable].Write(&m)
	if n := m.GetCounter().GetValue(); n != 2 {
		t.Errorf("gatehouse_directory_lookups_total{outcome=\"unavailable\"} %v", n)
	}
}

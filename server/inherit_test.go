package server

import (
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/gatehouse-auth/gatehouse/authz"
)

// TestAuthorizationInheritance: a child site without rules is as closed as
// its parent; its own rules come first; the top-level rules come last.
func TestAuthorizationInheritance(t *testing.T) {
	sites := []Site{
		{Path: "/", Schemes: []string{"anonymous", "basic"}, Handler: WhoAmI()},
		{Path: "/admin", Schemes: []string{"basic"}, Handler: WhoAmI(),
			Rules: authz.Rules{{Allow: true, Roles: []string{"Admins"}}, {Users: []string{"*"}}}},
		{Path: "/admin/reports", Schemes: []string{"basic"}, Handler: WhoAmI()},
		{Path: "/admin/bob", Schemes: []string{"basic"}, Handler: WhoAmI(),
			Rules: authz.Rules{{Allow: true, Users: []string{"bob"}}}},
		{Path: "/open", Schemes: []string{"anonymous", "basic"}, Handler: WhoAmI(),
			Rules: authz.Rules{{Allow: true, Users: []string{"?"}}}},
	}
	g, err := New(Options{Store: testStore(t), Domain: "HOST", Secret: make([]byte, 32),
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		Authorization: authz.Rules{{Users: []string{"?"}}}}, sites)
	if err != nil {
		t.Fatal(err)
	}
	h := g.Wrap(http.NotFoundHandler())
	for _, c := range []struct {
		path, user string
		want       int
	}{
		{"/", "", 401},                     // top-level: deny anonymous
		{"/", "bob", 200},                  // nothing else denies
		{"/admin", "bob", 403},             // the site's own rule
		{"/admin", "alice", 200},           // Admins
		{"/admin/reports/x", "bob", 403},   // inherited from /admin
		{"/admin/reports/x", "alice", 200}, // inherited allow
		{"/admin/bob", "bob", 200},         // own rule first
		{"/admin/bob", "alice", 200},       // then /admin's
		{"/open/page", "", 200},            // own allow before the top-level deny
	} {
		hdr := map[string]string{}
		if c.user != "" {
			hdr = basicHdr(c.user, c.user+"pw")
		}
		if w := do(t, h, "GET", c.path, hdr, true); w.Code != c.want {
			t.Errorf("%s as %q: %d, want %d", c.path, c.user, w.Code, c.want)
		}
	}
}

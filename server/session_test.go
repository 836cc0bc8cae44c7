package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/accounts"
	"github.com/gatehouse-auth/gatehouse/authz"
)

// sessionGate: /s needs the Admins group, /open any user; sessions on both,
// revalidated on every request (1ns) unless said otherwise.
func sessionGate(t *testing.T, st *accounts.Store, sources map[string]AccountSource) http.Handler {
	t.Helper()
	g, err := New(Options{Store: st, Secret: make([]byte, 32), SessionKeys: [][]byte{make([]byte, 32)},
		SessionRevalidate: time.Nanosecond, AccountSources: sources,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
		[]Site{
			{Path: "/s", Schemes: []string{"basic"}, Sessions: true, Handler: WhoAmI(),
				Rules: authz.Rules{{Allow: true, Roles: []string{"Admins"}}, {Allow: false, Users: []string{"*"}}}},
			{Path: "/open", Schemes: []string{"basic"}, Sessions: true, Handler: WhoAmI()},
		})
	if err != nil {
		t.Fatal(err)
	}
	return g.Wrap(nil)
}

func login(t *testing.T, h http.Handler, path string) map[string]string {
	t.Helper()
	w := do(t, h, "GET", path, basicHdr("alice", "alicepw"), true)
	cs := w.Result().Cookies()
	if w.Code != 200 || len(cs) != 1 {
		t.Fatalf("login to %s: %d %v", path, w.Code, cs)
	}
	return map[string]string{"Cookie": SessionCookie + "=" + cs[0].Value}
}

func cleared(w interface{ Result() *http.Response }) bool {
	for _, c := range w.Result().Cookies() {
		if c.Name == SessionCookie && c.MaxAge < 0 {
			return true
		}
	}
	return false
}

// A 403 sets no session cookie: the session would otherwise outlive the
// refusal on another verb or after a rules change.
func TestForbiddenSetsNoSessionCookie(t *testing.T) {
	h := sessionGate(t, testStore(t), nil)
	w := do(t, h, "GET", "/s", basicHdr("bob", "bobpw"), true)
	if w.Code != 403 || len(w.Result().Cookies()) != 0 {
		t.Fatalf("bob on /s: %d, cookies %v", w.Code, w.Result().Cookies())
	}
}

func TestSessionRevalidation(t *testing.T) {
	st := testStore(t)
	h := sessionGate(t, st, nil)

	// revalidated and still fine: 200, the cookie re-sealed
	c := login(t, h, "/s")
	w := do(t, h, "GET", "/s", c, true)
	if m := whoami(t, w); w.Code != 200 || m["session"] != true {
		t.Fatalf("session: %d %v", w.Code, m)
	}
	if cs := w.Result().Cookies(); len(cs) != 1 || cs[0].MaxAge <= 0 {
		t.Fatalf("refreshed cookie: %v", cs)
	}

	// a group the rules need is removed: the session ends
	if err := st.RemoveFromGroup("Admins", "alice"); err != nil {
		t.Fatal(err)
	}
	w = do(t, h, "GET", "/s", c, true)
	if w.Code != 401 || w.Header().Get("WWW-Authenticate") == "" || !cleared(w) {
		t.Fatalf("group removed: %d %q", w.Code, w.Header())
	}
	// logging in again: an authenticated refusal, and no cookie
	if w := do(t, h, "GET", "/s", basicHdr("alice", "alicepw"), true); w.Code != 403 || len(w.Result().Cookies()) != 0 {
		t.Fatalf("login without the group: %d %v", w.Code, w.Result().Cookies())
	}

	// where no rule needs the group, the session goes on with the new groups
	st.AddToGroup("Admins", "alice")
	c = login(t, h, "/open")
	st.RemoveFromGroup("Admins", "alice")
	w = do(t, h, "GET", "/open", c, true)
	if m := whoami(t, w); w.Code != 200 || len(m["groups"].([]any)) != 0 {
		t.Fatalf("groups re-read: %d %v", w.Code, m)
	}

	// the account is deleted: the session ends
	if err := st.Delete("alice"); err != nil {
		t.Fatal(err)
	}
	w = do(t, h, "GET", "/open", c, true)
	if w.Code != 401 || w.Header().Get("WWW-Authenticate") == "" || !cleared(w) {
		t.Fatalf("account deleted: %d %q", w.Code, w.Header())
	}
}

// Not due yet: the sealed groups are believed without a lookup.
func TestSessionRevalidateInterval(t *testing.T) {
	st := testStore(t)
	g, err := New(Options{Store: st, Secret: make([]byte, 32), SessionKeys: [][]byte{make([]byte, 32)},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
		[]Site{{Path: "/open", Schemes: []string{"basic"}, Sessions: true, Handler: WhoAmI()}})
	if err != nil {
		t.Fatal(err)
	}
	h := g.Wrap(nil)
	c := login(t, h, "/open")
	st.Delete("alice")
	if w := do(t, h, "GET", "/open", c, true); w.Code != 200 || len(w.Result().Cookies()) != 0 {
		t.Fatalf("within session_revalidate: %d %v", w.Code, w.Result().Cookies())
	}
}

// sourceFunc is an AccountSource made of a function (a directory, say).
type sourceFunc func(ctx context.Context, name string) ([]string, error)

func (f sourceFunc) Revalidate(ctx context.Context, name string) ([]string, error) {
	return f(ctx, name)
}

// Revalidation goes through the AccountSource interface: a directory plugs
// in there. One that cannot answer fails closed (503); one that says the
// account is disabled ends the session.
func TestSessionAccountSource(t *testing.T) {
	var answer error
	var asked string
	src := sourceFunc(func(_ context.Context, name string) ([]string, error) {
		asked = name
		return []string{"Admins"}, answer
	})
	h := sessionGate(t, testStore(t), map[string]AccountSource{"local": src})
	c := login(t, h, "/s")
	if w := do(t, h, "GET", "/s", c, true); w.Code != 200 || asked != "alice" {
		t.Fatalf("source asked %q: %d", asked, w.Code)
	}
	answer = errors.New("directory unreachable")
	if w := do(t, h, "GET", "/s", c, true); w.Code != 503 || len(w.Result().Cookies()) != 0 {
		t.Fatalf("source down: %d", w.Code)
	}
	answer = errors.Join(ErrAccountGone, errors.New("disabled"))
	if w := do(t, h, "GET", "/s", c, true); w.Code != 401 || !cleared(w) {
		t.Fatalf("account disabled: %d", w.Code)
	}
}

// A refresh re-seals the check time, never the session's end.
func TestSessionRefreshKeepsExpiry(t *testing.T) {
	st := testStore(t)
	g, err := New(Options{Store: st, Secret: make([]byte, 32), SessionKeys: [][]byte{make([]byte, 32)},
		SessionRevalidate: time.Nanosecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
		[]Site{{Path: "/open", Schemes: []string{"basic"}, Sessions: true, Handler: WhoAmI()}})
	if err != nil {
		t.Fatal(err)
	}
	// a session sealed an hour ago, checked then
	then := time.Now().Add(-time.Hour)
	id := &Identity{User: "alice", Name: "alice", Scheme: "Basic", Mechanism: "password", account: "local"}
	v, err := g.sessions.seal(id, "/open", then)
	if err != nil {
		t.Fatal(err)
	}
	_, old := g.sessions.openTimes(v, "/open", time.Now())
	w := do(t, g.Wrap(nil), "GET", "/open", map[string]string{"Cookie": SessionCookie + "=" + v}, true)
	cs := w.Result().Cookies()
	if w.Code != 200 || len(cs) != 1 {
		t.Fatalf("refresh: %d %v", w.Code, cs)
	}
	_, fresh := g.sessions.openTimes(cs[0].Value, "/open", time.Now())
	if fresh.expires != old.expires || fresh.checked <= old.checked {
		t.Fatalf("refreshed times %+v, were %+v", fresh, old)
	}
	if max := time.Until(time.Unix(old.expires, 0)); time.Duration(cs[0].MaxAge)*time.Second > max+time.Second {
		t.Fatalf("Max-Age %d beyond the session's end", cs[0].MaxAge)
	}
}

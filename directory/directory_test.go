package directory

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func offline(t testing.TB) *Directory {
	d, err := New(Config{URL: "ldaps://127.0.0.1:1", Bind: BindSimple, BindDN: "cn=x", Password: "p", CacheTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestNewRefuses(t *testing.T) {
	for _, c := range []Config{
		{URL: "ldap://dc", Bind: BindSimple, BindDN: "x", Password: "p"},
		{URL: "ldaps://dc", StartTLS: true, Bind: BindSimple, BindDN: "x", Password: "p"},
		{URL: "http://dc", Bind: BindSimple, BindDN: "x", Password: "p"},
		{URL: "ldaps://dc/dc=x", Bind: BindSimple, BindDN: "x", Password: "p"},
		{URL: "ldaps://dc", Bind: BindSimple, BindDN: "x"},
		{URL: "ldaps://dc", Bind: BindKerberos},
		{URL: "ldaps://dc", Bind: "anonymous"},
	} {
		if _, err := New(c); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

// TestCachedAnswers: cached answers are served without the directory (this
// one listens nowhere), and expire.
func TestCachedAnswers(t *testing.T) {
	d := offline(t)
	clock := time.Now()
	d.now = func() time.Time { return clock }
	m := &Membership{SIDs: []string{"S-1-5-21-1-2-3-1103", "S-1-5-21-1-2-3-1105"}, Names: []string{`SAMBA\Finance`}}
	d.users.put(`samba\carol`, m, clock.Add(time.Minute), clock)
	d.sidNames.put("S-1-5-21-1-2-3-1105", `SAMBA\Finance`, clock.Add(time.Minute), clock)
	d.sidNames.put("S-1-5-21-1-2-3-1103", "", clock.Add(time.Minute), clock)
	if got, err := d.UserGroups(`SAMBA\Carol`); err != nil || got != m {
		t.Fatalf("%v %v", got, err)
	}
	if got, err := d.ResolveSIDs(m.SIDs); err != nil || len(got.Names) != 1 || got.Names[0] != `SAMBA\Finance` {
		t.Fatalf("%v %v", got, err)
	}
	clock = clock.Add(time.Minute)
	_, err := d.UserGroups(`SAMBA\carol`)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "ldaps://127.0.0.1:1") {
		t.Fatalf("after expiry: %v", err)
	}
	// within retryAfter the failure is answered at once, with the same error
	if _, err2 := d.ResolveSIDs(m.SIDs); err2 == nil || err2.Error() != err.Error() {
		t.Fatalf("%v", err2)
	}
}

func TestCacheBound(t *testing.T) {
	c := newCache[string](100)
	now := time.Now()
	for i := 0; i < 1000; i++ {
		c.put(fmt.Sprint(i), "v", now.Add(time.Minute), now)
		if c.len() > 100 {
			t.Fatalf("%d entries", c.len())
		}
	}
	if _, ok := c.get("999", now); !ok {
		t.Error("the newest entry was evicted")
	}
}

func TestFlights(t *testing.T) {
	var f flights
	c, leader := f.join("carol")
	c2, leader2 := f.join("carol")
	if !leader || leader2 || c != c2 {
		t.Fatal("the second lookup does not follow the first")
	}
	go func() {
		c.m = &Membership{Names: []string{"x"}}
		f.leave("carol", c)
	}()
	<-c2.done
	if c2.m == nil || c2.m.Names[0] != "x" {
		t.Fatal("the follower did not get the answer")
	}
	if _, leader := f.join("carol"); !leader {
		t.Fatal("a finished flight is still joined")
	}
}

func TestSplitAccount(t *testing.T) {
	for in, want := range map[string][2]string{`SAMBA\carol`: {"carol", "SAMBA"}, "carol@SAMBA.TEST": {"carol", "SAMBA.TEST"}, "carol": {"carol", ""}, `A\b@c`: {"b@c", "A"}} {
		if n, d := splitAccount(in); n != want[0] || d != want[1] {
			t.Errorf("%s: %s %s", in, n, d)
		}
	}
}

// BenchmarkCachedUserGroups: the cost of a cached answer (NTLM and Basic
// users).
func BenchmarkCachedUserGroups(b *testing.B) {
	d := offline(b)
	now := time.Now()
	d.users.put(`samba\carol`, &Membership{Names: []string{`SAMBA\Finance`}}, now.Add(time.Hour), now)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.UserGroups(`SAMBA\carol`); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCachedResolveSIDs: the cost of naming a PAC's SIDs from the
// cache (Kerberos users; 6 SIDs, as a small domain's PAC carries).
func BenchmarkCachedResolveSIDs(b *testing.B) {
	d := offline(b)
	now := time.Now()
	var sids []string
	for i := 0; i < 6; i++ {
		s := fmt.Sprintf("S-1-5-21-1-2-3-%d", 1100+i)
		sids = append(sids, s)
		d.sidNames.put(s, fmt.Sprintf(`SAMBA\g%d`, i), now.Add(time.Hour), now)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.ResolveSIDs(sids); err != nil {
			b.Fatal(err)
		}
	}
}

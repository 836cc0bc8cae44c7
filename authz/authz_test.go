package authz

import "testing"

func TestDecide(t *testing.T) {
	rules := Rules{
		{Allow: true, Users: []string{"alice"}, Roles: []string{"Admins"}, Verbs: []string{"GET", "POST"}},
		{Allow: false, Users: []string{"?"}},
		{Allow: true, Roles: []string{"Readers"}, Verbs: []string{"GET"}},
		{Allow: false, Users: []string{"*"}},
	}
	alice := Subject{Names: []string{"alice", "HOST\\alice"}}
	bob := Subject{Names: []string{"bob"}, Groups: []string{"admins"}}
	carol := Subject{Names: []string{"carol"}, Groups: []string{"Readers"}}
	anon := Subject{Anonymous: true}
	tests := []struct {
		s    Subject
		verb string
		want bool
		rule int
	}{
		{alice, "GET", true, 0},
		{Subject{Names: []string{"ALICE"}}, "post", true, 0},
		{alice, "DELETE", false, 3},
		{bob, "POST", true, 0},
		{anon, "GET", false, 1},
		{carol, "GET", true, 2},
		{carol, "PUT", false, 3},
	}
	for i, tt := range tests {
		got, rule := rules.Decide(tt.s, tt.verb)
		if got != tt.want || rule != tt.rule {
			t.Errorf("%d: got %v rule %d, want %v rule %d", i, got, rule, tt.want, tt.rule)
		}
	}
	if ok, rule := (Rules{}).Decide(anon, "GET"); !ok || rule != -1 {
		t.Error("empty rules must allow")
	}
	// "?" never matches an authenticated user, a named user never matches anonymous
	if (Rule{Users: []string{"?"}}).Matches(alice, "GET") || (Rule{Users: []string{""}, Roles: []string{""}}).Matches(anon, "GET") {
		t.Error("bad match")
	}
}

func TestValidate(t *testing.T) {
	if (Rule{}).Validate() == nil || (Rule{Users: []string{" "}}).Validate() == nil || (Rule{Users: []string{"*"}, Verbs: []string{"GET POST"}}).Validate() == nil {
		t.Error("invalid rule accepted")
	}
	if err := (Rule{Users: []string{"*"}}).Validate(); err != nil {
		t.Error(err)
	}
}

func TestInRole(t *testing.T) {
	carol := Subject{Names: []string{`SAMBA\carol`}, Groups: []string{`SAMBA\Finance`, `BUILTIN\Users`, "web"},
		SIDs: []string{"S-1-5-21-1-2-3-1103", "S-1-5-21-1-2-3-1105"}}
	for _, role := range []string{"Finance", "finance", `SAMBA\Finance`, `samba\FINANCE`, "S-1-5-21-1-2-3-1105", "s-1-5-21-1-2-3-1105", "WEB", "Users"} {
		if !carol.InRole(role) {
			t.Errorf("%s: not in role", role)
		}
	}
	for _, role := range []string{"Fin", `OTHER\Finance`, `SAMBA\web`, "S-1-5-21-1-2-3-110", "S-1-5-21-1-2-3-1105-1", `\Finance`, "SAMBA", ""} {
		if carol.InRole(role) {
			t.Errorf("%s: in role", role)
		}
	}
	if (Subject{Anonymous: true, Groups: []string{"web"}}).InRole("web") {
		t.Error("anonymous in a role")
	}
	r := Rules{{Allow: false, Roles: []string{"S-1-5-21-1-2-3-1105"}}, {Allow: true, Users: []string{"*"}}}
	if ok, i := r.Decide(carol, "GET"); ok || i != 0 {
		t.Errorf("a deny rule naming a SID: %v %d", ok, i)
	}
}

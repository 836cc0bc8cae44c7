package directory

import (
	"errors"
	"slices"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// TestOpenLDAP: a directory that is not Active Directory (OpenLDAP's
// slapd, started by the test on a loopback port, LDAPS): ann's groups come
// from memberOf (kept by the memberof overlay for groupOfNames), ben's —
// who is in no groupOfNames — from the posixGroup whose memberUid names
// him. Names are the groups' cn, without a domain; there are no SIDs. A
// name qualified with a DNS domain other than the base DN's is not looked
// up.
func TestOpenLDAP(t *testing.T) {
	s := testenv.StartSlapd(t)
	ann := s.AddUser(t, "ann")
	s.AddUser(t, "ben")
	s.AddUser(t, "reader")
	s.Add(t, "cn=Engineers,ou=groups,"+s.Base, map[string][]string{"objectClass": {"groupOfNames"}, "cn": {"Engineers"}, "member": {ann}})
	s.Add(t, "cn=Payroll,ou=groups,"+s.Base, map[string][]string{"objectClass": {"groupOfNames"}, "cn": {"Payroll"}, "member": {ann}})
	s.Add(t, "cn=ops,ou=groups,"+s.Base, map[string][]string{"objectClass": {"posixGroup"}, "cn": {"ops"}, "gidNumber": {"5000"}, "memberUid": {"ben"}})
	// the overlay keeps memberOf, so ann's groups come from it
	res, err := s.Admin().Search(ldap.NewSearchRequest(ann, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false, "(objectClass=*)", []string{"memberOf"}, nil))
	if err != nil || len(res.Entries) != 1 || len(res.Entries[0].GetAttributeValues("memberOf")) != 2 {
		t.Fatalf("memberOf of ann: %v", err)
	}

	d, err := New(Config{URL: s.URL, RootCAs: s.CAs, Bind: BindSimple, BindDN: "uid=reader,ou=people," + s.Base, Password: "reader-pw"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	m, err := d.UserGroups("ann")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(m.Names)
	if !slices.Equal(m.Names, []string{"Engineers", "Payroll"}) || len(m.SIDs) != 0 || d.Domain() != "" {
		t.Errorf("ann (memberOf): %+v, domain %q", m, d.Domain())
	}
	if m, err := d.UserGroups("ben@EXAMPLE.TEST"); err != nil || !slices.Equal(m.Names, []string{"ops"}) {
		t.Errorf("ben (memberUid): %v %+v", err, m)
	}
	if _, err := d.UserGroups("ann@OTHER.TEST"); !errors.Is(err, ErrNoUser) {
		t.Errorf("ann of another realm: %v", err)
	}
	if _, err := d.UserGroups("nobody"); !errors.Is(err, ErrNoUser) {
		t.Errorf("unknown user: %v", err)
	}
	if m, err := d.ResolveSIDs([]string{"S-1-5-21-1-2-3-1105"}); err != nil || len(m.Names) != 0 {
		t.Errorf("SIDs on a directory without them: %v %+v", err, m)
	}
	bad, _ := New(Config{URL: s.URL, RootCAs: s.CAs, Bind: BindSimple, BindDN: "uid=reader,ou=people," + s.Base, Password: "wrong"})
	if err := bad.Check(); !errors.Is(err, ErrUnavailable) {
		t.Errorf("wrong password: %v", err)
	}
}

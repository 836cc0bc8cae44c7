package directory

import (
	"bytes"
	"encoding/base64"
	"testing"
	"unicode/utf8"
)

// carol's tokenGroups from a Samba AD DC (ldapsearch output).
var sidVectors = []struct{ b64, str string }{
	{"AQUAAAAAAAUVAAAAqjDpYUOlhA/f7o7VUAQAAA==", "S-1-5-21-1642672298-260351299-3582914271-1104"},
	{"AQUAAAAAAAUVAAAAqjDpYUOlhA/f7o7VAQIAAA==", "S-1-5-21-1642672298-260351299-3582914271-513"},
	{"AQIAAAAAAAUgAAAAIQIAAA==", "S-1-5-32-545"},
	{"AQEAAAAAAAEAAAAA", "S-1-1-0"},
}

func TestSIDVectors(t *testing.T) {
	for _, v := range sidVectors {
		b, _ := base64.StdEncoding.DecodeString(v.b64)
		s, err := DecodeSID(b)
		if err != nil || s.String() != v.str {
			t.Errorf("%s: %v %s", v.b64, err, s)
		}
		p, err := ParseSID(v.str)
		if err != nil || !bytes.Equal(p.Bytes(), b) {
			t.Errorf("%s: %v %x", v.str, err, p.Bytes())
		}
		for i := 0; i < len(b); i++ {
			if _, err := DecodeSID(b[:i]); err == nil {
				t.Errorf("%s: prefix of %d bytes parsed", v.str, i)
			}
		}
		if _, err := DecodeSID(append(b, 0)); err == nil {
			t.Errorf("%s: trailing byte accepted", v.str)
		}
	}
}

func TestParseSIDRefuses(t *testing.T) {
	for _, s := range []string{"", "S", "S-1", "S-2-5", "S-1-5-", "S-1--5", "S-1-5-+3", "S-1-5-03", "S-1-5-4294967296",
		"S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16", "S-1-0x5-1", "Finance", `SAMBA\Finance`} {
		if _, err := ParseSID(s); err == nil {
			t.Errorf("%q parsed", s)
		}
	}
	if s, err := ParseSID("s-1-5-32-544"); err != nil || s.String() != "S-1-5-32-544" {
		t.Errorf("lower-case s: %v %s", err, s)
	}
}

func TestLDAPEscapeBytes(t *testing.T) {
	if got := ldapEscapeBytes([]byte{0, '*', 0xff}); got != `\00\2a\ff` {
		t.Error(got)
	}
}

func FuzzDecodeSID(f *testing.F) {
	for _, v := range sidVectors {
		b, _ := base64.StdEncoding.DecodeString(v.b64)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeSID(b)
		if err != nil {
			return
		}
		if !bytes.Equal(s.Bytes(), b) {
			t.Fatalf("round trip %x -> %x", b, s.Bytes())
		}
		p, err := ParseSID(s.String())
		if err != nil || !bytes.Equal(p.Bytes(), b) {
			t.Fatalf("string round trip %s: %v", s, err)
		}
	})
}

func FuzzParseSID(f *testing.F) {
	for _, v := range sidVectors {
		f.Add(v.str)
	}
	f.Add("S-1-5-00")
	f.Fuzz(func(t *testing.T, str string) {
		s, err := ParseSID(str)
		if err != nil {
			return
		}
		d, err := DecodeSID(s.Bytes())
		if err != nil || d.String() != s.String() {
			t.Fatalf("%q: binary round trip: %v", str, err)
		}
		if !equalFoldASCII(s.String(), str) {
			t.Fatalf("%q parsed as %s", str, s)
		}
	})
}

func equalFoldASCII(a, b string) bool { return len(a) == len(b) && (a == b || "s"+a[1:] == b) }

// FuzzFirstRDNValue: memberOf values are DNs from the directory.
func FuzzFirstRDNValue(f *testing.F) {
	for _, s := range []string{"cn=Staff,ou=groups,dc=example,dc=test", `CN=Smith\, John,CN=Users,DC=x`, "cn=#04024869,dc=x", "", "=", "cn="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dn string) {
		v := firstRDNValue(dn)
		// (go-ldap replaces invalid UTF-8 with U+FFFD, which is longer)
		if utf8.ValidString(dn) && len(v) > len(dn) {
			t.Fatalf("%q: value %q longer than the DN", dn, v)
		}
	})
}

package accounts

import (
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/gatehouse-auth/gatehouse/digest"
)

func TestStoreLifecycle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	s, err := Open(path, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", st.Mode().Perm())
	}
	if s.Realm() != DefaultRealm {
		t.Fatalf("realm %q", s.Realm())
	}
	if err := s.Add("alice", "pässword", []string{"Admins"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Add("ALICE", "x", nil); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate (case-insensitive) add: %v", err)
	}
	for _, bad := range []string{"", "a:b", "a\\b", " a", "a\x00", "a@b"} {
		if err := s.Add(bad, "x", nil); !errors.Is(err, ErrBadName) {
			t.Errorf("Add(%q): %v, want ErrBadName", bad, err)
		}
	}
	c, ok, err := s.CheckPassword("Alice", "pässword")
	if err != nil || !ok || c.Name != "alice" || len(c.Groups) != 1 || c.Groups[0] != "Admins" {
		t.Fatalf("CheckPassword: %+v %v %v", c, ok, err)
	}
	if _, ok, err := s.CheckPassword("alice", "wrong"); ok || err != nil {
		t.Fatalf("wrong password accepted: %v %v", ok, err)
	}
	if _, _, err := s.CheckPassword("nobody", "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
	if got := c.HA1(digest.MD5); got != digest.MD5.HA1("alice", DefaultRealm, "pässword") {
		t.Fatal("HA1 MD5 mismatch")
	}
	u, err := s.LookupUserHash(digest.SHA256, digest.SHA256.UserHash("alice", DefaultRealm))
	if err != nil || u.Name != "alice" {
		t.Fatalf("userhash lookup: %v", err)
	}
	if err := s.SetPassword("alice", "new"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.CheckPassword("alice", "new"); !ok {
		t.Fatal("new password refused")
	}
	if err := s.AddToGroup("Users", "alice"); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveFromGroup("Admins", "alice"); err != nil {
		t.Fatal(err)
	}
	l, err := s.List()
	if err != nil || len(l) != 1 || len(l[0].Groups) != 1 || l[0].Groups[0] != "Users" {
		t.Fatalf("List: %+v %v", l, err)
	}
	if err := s.Delete("alice"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("alice"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(path, "other"); err == nil {
		t.Fatal("realm mismatch accepted")
	}
}

func TestWorldReadableRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	s, err := Open(path, "")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	os.Chmod(path, 0o644)
	if _, err := Open(path, ""); !errors.Is(err, ErrWorldReadable) {
		t.Fatalf("got %v", err)
	}
}

func TestNTHash(t *testing.T) {
	// MS-NLMP §4.2.1: NTOWFv1("Password") = a4f49c406510bdcab6824ee7c30fd852.
	if got := hex.EncodeToString(NTHash("Password")); got != "a4f49c406510bdcab6824ee7c30fd852" {
		t.Fatal(got)
	}
}

func TestVerifyPasswordMalformed(t *testing.T) {
	for _, phc := range []string{"", "$argon2id$", "$argon2i$v=19$m=1,t=1,p=1$AA$AA", "$argon2id$v=19$m=99999999,t=1,p=1$AA$AA"} {
		if _, err := VerifyPassword(phc, "x"); err == nil {
			t.Errorf("%q accepted", phc)
		}
	}
}

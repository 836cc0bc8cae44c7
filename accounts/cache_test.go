package accounts

import (
	"bytes"
	"path/filepath"
	"testing"
)

// TestLookupCacheSeesOtherWriters: a store opened twice on one file (two
// processes: the server and gatehouse accounts): what one writes, the
// other's next Lookup returns, though its answers are cached; a caller
// changing what Lookup returned does not change the cache.
func TestLookupCacheSeesOtherWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	srv, err := Open(path, "")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	admin, err := Open(path, "")
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.Add("Alice", "one", []string{"staff"}); err != nil {
		t.Fatal(err)
	}
	c1, err := srv.Lookup("alice")
	if err != nil || !bytes.Equal(c1.NTHash, NTHash("one")) || len(c1.Groups) != 1 {
		t.Fatalf("%v %+v", err, c1)
	}
	c1.NTHash[0] ^= 1
	c1.Groups[0] = "admins"
	c2, err := srv.Lookup("ALICE")
	if err != nil || !bytes.Equal(c2.NTHash, NTHash("one")) || c2.Groups[0] != "staff" || c2.Name != "Alice" {
		t.Fatalf("cached copy changed: %v %+v", err, c2)
	}
	if srv.cache.m[foldName("alice")] == nil {
		t.Fatal("the answer was not cached")
	}

	steps := []struct {
		name  string
		write func() error
		check func(*Credentials, error) bool
	}{
		{"passwd", func() error { return admin.SetPassword("alice", "two") },
			func(c *Credentials, err error) bool { return err == nil && bytes.Equal(c.NTHash, NTHash("two")) }},
		{"group add", func() error { return admin.AddToGroup("web", "alice") },
			func(c *Credentials, err error) bool { return err == nil && len(c.Groups) == 2 }},
		{"group del", func() error { return admin.RemoveFromGroup("staff", "alice") },
			func(c *Credentials, err error) bool { return err == nil && len(c.Groups) == 1 && c.Groups[0] == "web" }},
		{"delete", func() error { return admin.Delete("alice") },
			func(c *Credentials, err error) bool { return err != nil }},
	}
	for _, s := range steps {
		if _, err := srv.Lookup("alice"); err != nil && s.name != "delete" { // cached before the write
			t.Fatal(err)
		}
		if err := s.write(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if c, err := srv.Lookup("alice"); !s.check(c, err) {
			t.Fatalf("after %s by another store: %v %+v", s.name, err, c)
		}
	}
}

// TestLookupCacheConcurrent (run with -race): lookups from many goroutines
// while the password changes; after the change every lookup sees it.
func TestLookupCacheConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	s, err := Open(path, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Add("bob", "one", nil); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 4)
	for range 4 {
		go func() {
			for range 50 {
				if _, err := s.Lookup("bob"); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	if err := s.SetPassword("bob", "two"); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if c, err := s.Lookup("BOB"); err != nil || !bytes.Equal(c.NTHash, NTHash("two")) {
		t.Fatalf("after the change: %v %+v", err, c)
	}
}

// TestLookupAfterClose: a lookup still in flight when the store closes
// (a reload) fails and does not open the file again.
func TestLookupAfterClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	s, err := Open(path, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Add("carol", "pw", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lookup("carol"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := s.Lookup("carol"); err == nil {
		t.Fatal("lookup in a closed store succeeded")
	}
	if s.cache.f != nil {
		t.Fatal("the closed store's file was opened again")
	}
}

package seal

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestLoadKeysCreatesAndRereads(t *testing.T) {
	p := filepath.Join(t.TempDir(), "k")
	a, err := LoadKeys(p)
	if err != nil || len(a) != 1 || len(a[0]) != KeySize {
		t.Fatalf("LoadKeys: %v %v", a, err)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode().Perm())
	}
	b, err := LoadKeys(p)
	if err != nil || !bytes.Equal(a[0], b[0]) {
		t.Fatalf("reread: %v", err)
	}
}

func TestParseKeysEncodings(t *testing.T) {
	k := bytes.Repeat([]byte{0xab}, KeySize)
	for name, file := range map[string][]byte{
		"hex":     []byte(hex.EncodeToString(k) + "\n"),
		"raw":     k,
		"base64":  []byte("# comment\n\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n"),
		"rawtext": []byte("0123456789abcdef0123456789ABCDEF"),
	} {
		keys, err := ParseKeys(file, name)
		if err != nil || len(keys) != 1 {
			t.Fatalf("%s: %v", name, err)
		}
		if name != "rawtext" && !bytes.Equal(keys[0], k) {
			t.Errorf("%s: got %x", name, keys[0])
		}
	}
	for _, bad := range []string{"", "# only\n", "short\nlines\n", "\xff\xfe"} {
		if _, err := ParseKeys([]byte(bad), "bad"); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestSealOpen(t *testing.T) {
	k1, k2 := bytes.Repeat([]byte{1}, KeySize), bytes.Repeat([]byte{2}, KeySize)
	old, _ := New([][]byte{k1})
	ct, err := old.Seal([]byte("hello"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	rotated, _ := New([][]byte{k2, k1})
	if pt, err := rotated.Open(ct, []byte("ad")); err != nil || string(pt) != "hello" {
		t.Fatalf("open after rotation: %q %v", pt, err)
	}
	if _, err := rotated.Open(ct, []byte("other")); !errors.Is(err, ErrOpen) {
		t.Errorf("other ad: %v", err)
	}
	for i := range ct {
		if _, err := rotated.Open(ct[:i], []byte("ad")); err == nil {
			t.Fatalf("prefix %d opened", i)
		}
	}
	if _, err := New([][]byte{k1[:16]}); err == nil {
		t.Error("short key accepted")
	}
}

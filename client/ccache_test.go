package client

import (
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// testdata/mit.ccache is a ccache MIT kinit wrote (alice@EXAMPLE.TEST,
// krb5 1.20): a TGT and the cache configuration entries.

func TestLoadCCache(t *testing.T) {
	cc, err := loadCCache("testdata/mit.ccache")
	if err != nil {
		t.Fatal(err)
	}
	if cc.DefaultPrincipal.Realm != "EXAMPLE.TEST" || len(cc.GetEntries()) == 0 {
		t.Fatalf("%+v", cc.DefaultPrincipal)
	}
	b, _ := os.ReadFile("testdata/mit.ccache")
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"truncated", b[:len(b)-3]},
		{"empty", nil},
		{"version 2", append([]byte{5, 2}, b[2:]...)},
		{"huge address count", hugeCount(b)},
	} {
		p := filepath.Join(dir, c.name)
		os.WriteFile(p, c.b, 0o600)
		if _, err := loadCCache(p); err == nil {
			t.Errorf("%s: loaded", c.name)
		}
	}
}

// hugeCount sets the address count of the first credential to 2^32-1,
// which made gokrb5 allocate until the process died.
func hugeCount(b []byte) []byte {
	b = append([]byte(nil), b...)
	norm, err := checkCCache(b)
	if err != nil {
		panic(err)
	}
	s := norm[4:] // after version and empty header
	// skip the default principal, then the first credential's client and
	// server principals, keyblock, times, is_skey and flags
	p := 0
	principal := func() {
		n := int(be32(s[p+4:]))
		p += 8
		for i := 0; i <= n; i++ {
			p += 4 + int(be32(s[p:]))
		}
	}
	principal()
	principal()
	principal()
	p += 2
	p += 4 + int(be32(s[p:]))
	p += 16 + 1 + 4
	s[p], s[p+1], s[p+2], s[p+3] = 0xff, 0xff, 0xff, 0xff
	return norm
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// FuzzCheckCCache: our walk of the ccache never panics, and what it passes
// it passes again unchanged. gokrb5's parser of what passes is exercised
// by TestParseCCacheMutations.
func FuzzCheckCCache(f *testing.F) {
	b, err := os.ReadFile("testdata/mit.ccache")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		norm, err := checkCCache(b)
		if err != nil {
			return
		}
		again, err := checkCCache(norm)
		if err != nil || string(again) != string(norm) {
			t.Fatalf("normalised ccache does not pass again: %v", err)
		}
	})
}

// TestParseCCacheMutations: random edits of a real ccache (bytes changed,
// cut, inserted) load or fail, without a panic or a large allocation.
func TestParseCCacheMutations(t *testing.T) {
	b, err := os.ReadFile("testdata/mit.ccache")
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewSource(2))
	var ms runtime.MemStats
	for i := 0; i < 20000; i++ {
		m := append([]byte(nil), b...)
		for j := 0; j < 1+r.Intn(3); j++ {
			k := r.Intn(len(m))
			switch r.Intn(3) {
			case 0:
				m[k] = byte(r.Intn(256))
			case 1:
				m = append(m[:k], m[min(len(m), k+1+r.Intn(4)):]...)
			case 2:
				m = append(m[:k], append([]byte{byte(r.Intn(256)), 0xff}, m[k:]...)...)
			}
			if len(m) < 8 {
				m = append(m, make([]byte, 8)...)
			}
		}
		runtime.ReadMemStats(&ms)
		before := ms.TotalAlloc
		parseCCache(m)
		runtime.ReadMemStats(&ms)
		if ms.TotalAlloc-before > 10<<20 {
			t.Fatalf("mutation %d allocated %d MB", i, (ms.TotalAlloc-before)>>20)
		}
	}
}

// TestAppendCCacheOtherPrincipal: a ccache that changed hands since it
// was loaded is left alone.
func TestAppendCCacheOtherPrincipal(t *testing.T) {
	b, _ := os.ReadFile("testdata/mit.ccache")
	p := filepath.Join(t.TempDir(), "cc")
	os.WriteFile(p, b, 0o600)
	cc, err := loadCCache(p)
	if err != nil {
		t.Fatal(err)
	}
	bob := cc.DefaultPrincipal.PrincipalName
	bob.NameString = []string{"bob"}
	var rep messages.TGSRep
	rep.Ticket = messages.Ticket{TktVNO: 5, Realm: "EXAMPLE.TEST", SName: bob, EncPart: types.EncryptedData{EType: 18, Cipher: []byte{1}}}
	if err := appendCCache(p, cc.DefaultPrincipal.Realm, bob, rep); err == nil {
		t.Fatal("appended to another principal's ccache")
	}
	if err := appendCCache(p, cc.DefaultPrincipal.Realm, cc.DefaultPrincipal.PrincipalName, rep); err != nil {
		t.Fatal(err)
	}
	cc2, err := loadCCache(p)
	if err != nil || len(cc2.Credentials) != len(cc.Credentials)+1 {
		t.Fatalf("after append: %v", err)
	}
}

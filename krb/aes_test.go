package krb

import (
	"bytes"
	"crypto/aes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"runtime"
	"testing"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/crypto/common"
	"github.com/jcmturner/gokrb5/v8/crypto/rfc3961"
	"github.com/jcmturner/gokrb5/v8/types"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var allProfiles = []*aesProfile{aes128SHA1, aes256SHA1, aes128SHA256, aes256SHA384}

func TestNfoldConstants(t *testing.T) {
	for u, tab := range nfoldUsage {
		for i, kind := range []byte{kindKc, kindKe, kindKi} {
			if want := rfc3961.Nfold(usageConstant(u, kind), 128); !bytes.Equal(tab[i][:], want) {
				t.Errorf("n-fold(%d|%#x) = %x, want %x", u, kind, tab[i], want)
			}
		}
	}
	// RFC 3961 Appendix A.1: 128-fold("kerberos").
	if got := rfc3961.Nfold([]byte("kerberos"), 128); hex.EncodeToString(got) != "6b65726265726f737b9b5b2b93132b93" {
		t.Errorf("128-fold(kerberos) = %x", got)
	}
}

// TestDeriveRFC3962 checks DK against RFC 3962 Appendix B: the AES key of
// string-to-key is DK(PBKDF2 output, "kerberos").
func TestDeriveRFC3962(t *testing.T) {
	for _, c := range []struct{ tkey, key string }{
		{"cdedb5281bb2f801565a1122b2563515", "42263c6e89f4fc28b8df68ee09799f15"},
		{"5c08eb61fdf71e4e4ec3cf6ba1f5512b", "4c01cd46d632d01e6dbe230a01ed642a"},
		{"cdedb5281bb2f801565a1122b25635150ad1f7a04bb9f3a333ecc0e2e1f70837", "fe697b52bc0d3ce14432ba036a92e65bbb52280990a2fa27883998d72af30161"},
		{"5c08eb61fdf71e4e4ec3cf6ba1f5512ba7e52ddbc5e5142f708a31e2e62b1e13", "55a6ac740ad17b4846941051e1e8b0a7548d93b0ab30a8bc3ff16280382b8c2a"},
		{"6b9cf26d45455a43a5b8bb276a403b39e7fe37a0c41e02c281ff3069e1e94f52", "4b6d9839f84406df1f09cc166db4b83c571848b784a3d6bdc346589a3e393f9e"},
	} {
		tkey := unhex(t, c.tkey)
		got, err := deriveRandom(tkey, rfc3961.Nfold([]byte("kerberos"), 128), len(tkey))
		if err != nil || hex.EncodeToString(got) != c.key {
			t.Errorf("DK(%s, kerberos) = %x %v, want %s", c.tkey, got, err, c.key)
		}
	}
}

// rfc8009Vectors are RFC 8009 Appendix A (usage 2).
var rfc8009Vectors = []struct {
	p                       *aesProfile
	base, kc, ke, ki, cksum string
	enc                     []struct{ plain, conf, ct string }
}{
	{aes128SHA256, "3705d96080c17728a0e800eab6e0d23c",
		"b31a018a48f54776f403e9a396325dc3", "9b197dd1e8c5609d6e67c3e37c62c72e", "9fda0e56ab2d85e1569a688696c26a6c",
		"d78367186643d67b411cba9139fc1dee",
		[]struct{ plain, conf, ct string }{
			{"", "7e5895eaf2672435bad817f545a37148", "ef85fb890bb8472f4dab20394dca781dad877eda39d50c870c0d5a0a8e48c718"},
			{"000102030405", "7bca285e2fd4130fb55b1a5c83bc5b24", "84d7f30754ed987bab0bf3506beb09cfb55402cef7e6877ce99e247e52d16ed4421dfdf8976c"},
			{"000102030405060708090a0b0c0d0e0f", "56ab21713ff62c0a1457200f6fa9948f", "3517d640f50ddc8ad3628722b3569d2ae07493fa8263254080ea65c1008e8fc295fb4852e7d83e1e7c48c37eebe6b0d3"},
			{"000102030405060708090a0b0c0d0e0f1011121314", "a7a4e29a4728ce10664fb64e49ad3fac", "720f73b18d9859cd6ccb4346115cd336c70f58edc0c4437c5573544c31c813bce1e6d072c186b39a413c2f92ca9b8334a287ffcbfc"},
		}},
	{aes256SHA384, "6d404d37faf79f9df0d33568d320669800eb4836472ea8a026d16b7182460c52",
		"ef5718be86cc84963d8bbb5031e9f5c4ba41f28faf69e73d", "56ab22bee63d82d7bc5227f6773f8ea7a5eb1c825160c38312980c442e5c7e49", "69b16514e3cd8e56b82010d5c73012b622c4d00ffc23ed1f",
		"45ee791567eefca37f4ac1e0222de80d43c3bfa06699672a",
		[]struct{ plain, conf, ct string }{
			{"", "f764e9fa15c276478b2c7d0c4e5f58e4", "41f53fa5bfe7026d91faf9be959195a058707273a96a40f0a01960621ac612748b9bbfbe7eb4ce3c"},
			{"000102030405", "b80d3251c1f6471494256ffe712d0b9a", "4ed7b37c2bcac8f74f23c1cf07e62bc7b75fb3f637b9f559c7f664f69eab7b6092237526ea0d1f61cb20d69d10f2"},
			{"000102030405060708090a0b0c0d0e0f", "53bf8a0d105265d4e276428624ce5e63", "bc47ffec7998eb91e8115cf8d19dac4bbbe2e163e87dd37f49beca92027764f68cf51f14d798c2273f35df574d1f932e40c4ff255b36a266"},
			{"000102030405060708090a0b0c0d0e0f1011121314", "763e65367e864f02f55153c7e3b58af1", "40013e2df58e8751957d2878bcd2d6fe101ccfd556cb1eae79db3c3ee86429f2b2a602ac86fef6ecb647d6295fae077a1feb517508d2c16b4192e01f62"},
		}},
}

func TestRFC8009Vectors(t *testing.T) {
	for _, v := range rfc8009Vectors {
		base := unhex(t, v.base)
		for kind, want := range map[byte]string{kindKc: v.kc, kindKe: v.ke, kindKi: v.ki} {
			if got, err := v.p.deriveKey(base, 2, kind); err != nil || hex.EncodeToString(got) != want {
				t.Errorf("etype %d kind %#x: %x %v, want %s", v.p.etype, kind, got, err, want)
			}
		}
		kc, err := v.p.checksumKey(base, 2)
		if err != nil {
			t.Fatal(err)
		}
		if got := v.p.checksum(kc, unhex(t, "000102030405060708090a0b0c0d0e0f1011121314")); hex.EncodeToString(got) != v.cksum {
			t.Errorf("etype %d checksum %x, want %s", v.p.etype, got, v.cksum)
		}
		uk, err := v.p.usageKeys(base, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range v.enc {
			ct := uk.encryptWith(unhex(t, e.conf), unhex(t, e.plain))
			if hex.EncodeToString(ct) != e.ct {
				t.Errorf("etype %d encrypt(%s) = %x, want %s", v.p.etype, e.plain, ct, e.ct)
			}
			pt, err := uk.decrypt(unhex(t, e.ct))
			if err != nil || hex.EncodeToString(pt) != e.plain {
				t.Errorf("etype %d decrypt: %x %v, want %s", v.p.etype, pt, err, e.plain)
			}
		}
	}
}

// TestCTSVectors: RFC 3962 Appendix B, AES-128 key "chicken teriyaki",
// zero IV.
func TestCTSVectors(t *testing.T) {
	b, err := aes.NewCipher([]byte("chicken teriyaki"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ in, out string }{
		{"4920776f756c64206c696b652074686520", "c6353568f2bf8cb4d8a580362da7ff7f97"},
		{"4920776f756c64206c696b65207468652047656e6572616c20476175277320", "fc00783e0efdb2c1d445d4c8eff7ed2297687268d6ecccc0c07b25e25ecfe5"},
		{"4920776f756c64206c696b65207468652047656e6572616c2047617527732043", "39312523a78662d5be7fcbcc98ebf5a897687268d6ecccc0c07b25e25ecfe584"},
		{"4920776f756c64206c696b65207468652047656e6572616c20476175277320436869636b656e2c20706c656173652c", "97687268d6ecccc0c07b25e25ecfe584b3fffd940c16a18c1b5549d2f838029e39312523a78662d5be7fcbcc98ebf5"},
		{"4920776f756c64206c696b65207468652047656e6572616c20476175277320436869636b656e2c20706c656173652c20", "97687268d6ecccc0c07b25e25ecfe5849dad8bbb96c4cdc03bc103e1a194bbd839312523a78662d5be7fcbcc98ebf5a8"},
		{"4920776f756c64206c696b65207468652047656e6572616c20476175277320436869636b656e2c20706c656173652c20616e6420776f6e746f6e20736f75702e", "97687268d6ecccc0c07b25e25ecfe58439312523a78662d5be7fcbcc98ebf5a84807efe836ee89a526730dbc2f7bc8409dad8bbb96c4cdc03bc103e1a194bbd8"},
	} {
		in, want := unhex(t, c.in), unhex(t, c.out)
		got := make([]byte, len(in))
		ctsEncrypt(b, got, in, make([]byte, 32))
		if !bytes.Equal(got, want) {
			t.Errorf("CTS(%d bytes) = %x, want %x", len(in), got, want)
		}
		back := make([]byte, len(in))
		ctsDecrypt(b, back, want, make([]byte, 32))
		if !bytes.Equal(back, in) {
			t.Errorf("CTS decrypt(%d bytes) = %x, want %x", len(in), back, in)
		}
	}
}

// TestAgainstGokrb5 cross-checks derivation, encryption, decryption and
// checksums with gokrb5 for every AES etype, several usages and every
// plaintext length up to three blocks.
func TestAgainstGokrb5(t *testing.T) {
	for _, p := range allProfiles {
		et, err := crypto.GetEtype(p.etype)
		if err != nil {
			t.Fatal(err)
		}
		for _, usage := range []uint32{usageTicket, usageAuthenticator, usageAPRepEncPart, usagePACServerSig, 3, 1023} {
			key := make([]byte, p.keyLen)
			rand.Read(key)
			for kind, f := range map[byte]func(uint32) []byte{kindKc: common.GetUsageKc, kindKe: common.GetUsageKe, kindKi: common.GetUsageKi} {
				want, _ := et.DeriveKey(key, f(usage))
				if got, err := p.deriveKey(key, usage, kind); err != nil || !bytes.Equal(got, want) {
					t.Fatalf("etype %d usage %d kind %#x: %x %v, gokrb5 %x", p.etype, usage, kind, got, err, want)
				}
			}
			uk, err := p.usageKeys(key, usage)
			if err != nil {
				t.Fatal(err)
			}
			kc, _ := p.checksumKey(key, usage)
			ek := types.EncryptionKey{KeyType: p.etype, KeyValue: key}
			for n := 0; n <= 48; n++ {
				msg := make([]byte, n)
				rand.Read(msg)
				ct, err := uk.encrypt(msg)
				if err != nil {
					t.Fatal(err)
				}
				if pt, err := crypto.DecryptMessage(ct, ek, usage); err != nil || !bytes.Equal(pt, msg) {
					t.Fatalf("etype %d usage %d len %d: gokrb5 decrypts ours to %x %v", p.etype, usage, n, pt, err)
				}
				if n > 0 { // gokrb5 cannot encrypt an empty message
					ed, err := crypto.GetEncryptedData(msg, ek, usage, 0)
					if err != nil {
						t.Fatal(err)
					}
					if pt, err := uk.decrypt(ed.Cipher); err != nil || !bytes.Equal(pt, msg) {
						t.Fatalf("etype %d usage %d len %d: ours decrypts gokrb5's to %x %v", p.etype, usage, n, pt, err)
					}
				}
				for i := range ct { // any flipped byte fails
					bad := bytes.Clone(ct)
					bad[i] ^= 0x80
					if _, err := uk.decrypt(bad); err == nil {
						t.Fatalf("etype %d len %d: flipped byte %d decrypts", p.etype, n, i)
					}
				}
				want, _ := et.GetChecksumHash(key, msg, usage)
				if got := p.checksum(kc, msg); !bytes.Equal(got, want[:p.macLen]) {
					t.Fatalf("etype %d usage %d checksum %x, gokrb5 %x", p.etype, usage, got, want)
				}
			}
			if _, err := uk.decrypt(make([]byte, 16+p.macLen-1)); err == nil {
				t.Fatal("short ciphertext decrypts")
			}
		}
	}
}

func TestDerivedKeyCache(t *testing.T) {
	var c derivedKeyCache
	key := make([]byte, 32)
	k1, err := c.keys(aes256SHA1, key, usageAuthenticator)
	if err != nil {
		t.Fatal(err)
	}
	if k2, _ := c.keys(aes256SHA1, key, usageAuthenticator); k2 != k1 {
		t.Fatal("second lookup derived again")
	}
	if k3, _ := c.keys(aes256SHA384, key, usageAuthenticator); k3 == k1 {
		t.Fatal("etype not in the cache key")
	}
	if k4, _ := c.keys(aes256SHA1, key, usageAPRepEncPart); k4 == k1 {
		t.Fatal("usage not in the cache key")
	}
	if _, err := c.keys(aes256SHA1, key[:16], usageAuthenticator); err == nil {
		t.Fatal("16-byte key for aes256 accepted")
	}
	// Bounded, and a key in steady use survives the churn.
	for i := 0; i < 4*derivedKeyCacheEntries; i++ {
		k := make([]byte, 16)
		rand.Read(k)
		if _, err := c.keys(aes128SHA1, k, usageAuthenticator); err != nil {
			t.Fatal(err)
		}
		if i%(derivedKeyGeneration/2) == 0 {
			c.keys(aes256SHA1, key, usageAuthenticator)
		}
		if n := c.len(); n > derivedKeyCacheEntries {
			t.Fatalf("%d entries, bound %d", n, derivedKeyCacheEntries)
		}
	}
	if k5, _ := c.keys(aes256SHA1, key, usageAuthenticator); k5 != k1 {
		t.Fatal("a key in use was evicted")
	}
}

// TestDerivedKeyCacheMemory measures the bytes per entry stated in the
// derivedKeyCacheEntries comment (the larger SHA-384 states).
func TestDerivedKeyCacheMemory(t *testing.T) {
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	c := new(derivedKeyCache)
	// A fixed number of insertions: the generations of a shard roll over
	// at different times, so the count held never settles at the bound.
	for range derivedKeyCacheEntries / 2 {
		k := make([]byte, 32)
		rand.Read(k)
		if _, err := c.keys(aes256SHA384, k, usageAuthenticator); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	per := float64(m1.HeapAlloc-m0.HeapAlloc) / float64(c.len())
	t.Logf("%d entries: %.0f bytes/entry", c.len(), per)
	if per > 2500 {
		t.Errorf("%.0f bytes per entry, the derivedKeyCacheEntries doc says about 1.8 KB", per)
	}
	runtime.KeepAlive(c)
}

func BenchmarkDecrypt(b *testing.B) {
	for _, p := range allProfiles {
		key := make([]byte, p.keyLen)
		uk, _ := p.usageKeys(key, usageAuthenticator)
		ct, _ := uk.encrypt(make([]byte, 200))
		ek := types.EncryptionKey{KeyType: p.etype, KeyValue: key}
		b.Run(fmt.Sprintf("etype%d/derived", p.etype), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := uk.decrypt(ct); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("etype%d/gokrb5", p.etype), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := crypto.DecryptMessage(ct, ek, usageAuthenticator); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

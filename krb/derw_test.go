package krb

import (
	"bytes"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/types"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// TestKerberosTime: the fast path agrees with cryptobyte's
// ReadASN1GeneralizedTime on what it takes, and leaves the rest to it.
func TestKerberosTime(t *testing.T) {
	for _, s := range []string{
		"20261130120000Z", "19700101000000Z", "99991231235959Z", "00010101000000Z",
		"20240229000000Z", "20230229000000Z", "20260431000000Z", "20261301000000Z", "20261200000000Z",
		"20261130240000Z", "20261130126000Z", "20261130120060Z", "2026113012000Z", "20261130120000",
		"20261130120000.5Z", "2026113012000+Z", "20261130120000+0100", "-0261130120000Z", "2026113012 000Z",
	} {
		var fast, slow time.Time
		okFast := kerberosTime([]byte(s), &fast)
		var b cryptobyte.Builder
		b.AddASN1(asn1.GeneralizedTime, func(b *cryptobyte.Builder) { b.AddBytes([]byte(s)) })
		der := cryptobyte.String(b.BytesOrPanic())
		okSlow := der.ReadASN1GeneralizedTime(&slow)
		if okFast && (!okSlow || !fast.Equal(slow)) {
			t.Errorf("%s: fast %v %v, cryptobyte %v %v", s, okFast, fast, okSlow, slow)
		}
		if !okFast && okSlow && len(s) == 15 && s[14] == 'Z' {
			t.Errorf("%s: fast path refuses what cryptobyte takes (%v)", s, slow)
		}
	}
}

// TestDERWriter: the messages derWriter builds are byte for byte what
// cryptobyte builds, for lengths in the short and long forms.
func TestDERWriter(t *testing.T) {
	for _, n := range []int{0, 1, 100, 127, 128, 255, 256, 70000} {
		cipher := make([]byte, n)
		for i := range cipher {
			cipher[i] = byte(i)
		}
		rep := APRep{EncPart: types.EncryptedData{EType: 18, KVNO: 3, Cipher: cipher}}
		got, _ := rep.Marshal()
		var b cryptobyte.Builder
		b.AddASN1(appTag(tagAPRep), func(b *cryptobyte.Builder) {
			b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
				addInt(b, 0, pvno)
				addInt(b, 1, msgTypeAPRep)
				addEncryptedData(b, 2, rep.EncPart)
			})
		})
		if want := b.BytesOrPanic(); !bytes.Equal(got, want) {
			t.Fatalf("AP-REP, cipher of %d bytes:\n got %x\nwant %x", n, got, want)
		}
		var w derWriter
		w.gssBegin(oidKerberos, TokIDAPRep)
		rep.marshal(&w)
		w.end()
		if want, _ := wrapGSS(oidKerberos, TokIDAPRep, got); !bytes.Equal(w.b, want) {
			t.Fatalf("framed AP-REP, cipher of %d bytes differs", n)
		}
	}
	for _, v := range []int64{0, 1, 127, 128, 255, 256, -1, -128, -129, 1<<31 - 1, -1 << 31, 1<<32 - 1, 1 << 62} {
		var w derWriter
		w.ctxInt(3, v)
		var b cryptobyte.Builder
		addInt(&b, 3, v)
		if want := b.BytesOrPanic(); !bytes.Equal(w.b, want) {
			t.Errorf("INTEGER %d: got %x want %x", v, w.b, want)
		}
	}
	ct := time.Date(2026, 11, 30, 17, 4, 5, 999, time.FixedZone("x", 3600))
	for _, sub := range []*types.EncryptionKey{nil, {KeyType: 18, KeyValue: make([]byte, 32)}} {
		p := EncAPRepPart{CTime: ct, Cusec: 123456, Subkey: sub, HasSeq: true, SeqNumber: 0x3fffffff}
		got, _ := p.Marshal()
		var b cryptobyte.Builder
		b.AddASN1(appTag(tagEncAPRepPart), func(b *cryptobyte.Builder) {
			b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
				addTime(b, 0, p.CTime)
				addInt(b, 1, int64(p.Cusec))
				if p.Subkey != nil {
					addKey(b, 2, *p.Subkey)
				}
				addInt(b, 3, int64(p.SeqNumber))
			})
		})
		if want := b.BytesOrPanic(); !bytes.Equal(got, want) {
			t.Errorf("EncAPRepPart:\n got %x\nwant %x", got, want)
		}
		back, err := ParseEncAPRepPart(got)
		if err != nil || !back.CTime.Equal(ct.Truncate(time.Second)) || back.Cusec != 123456 {
			t.Errorf("EncAPRepPart round trip: %v %+v", err, back)
		}
	}
}

// TestDERWriterAuthenticator: the Authenticator the initiator writes is
// what cryptobyte writes, small and with a checksum long enough for the
// long length forms.
func TestDERWriterAuthenticator(t *testing.T) {
	for _, n := range []int{24, 200, 300} {
		a := authenticator{
			CRealm: "EXAMPLE.TEST", CName: types.PrincipalName{NameType: 1, NameString: []string{"alice", "admin"}},
			HasCksum: true, Cksum: types.Checksum{CksumType: ChecksumTypeGSS, Checksum: bytes.Repeat([]byte{7}, n)},
			Cusec: 999999, CTime: time.Date(2026, 11, 30, 1, 2, 3, 0, time.UTC),
			SubKey: &types.EncryptionKey{KeyType: 17, KeyValue: make([]byte, 16)}, HasSeq: true, SeqNumber: 12345,
			AuthzData: types.AuthorizationData{{ADType: 1, ADData: []byte{1, 2, 3}}},
		}
		got, _ := a.marshal()
		var b cryptobyte.Builder
		b.AddASN1(appTag(tagAuthenticatr), func(b *cryptobyte.Builder) {
			b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
				addInt(b, 0, pvno)
				addString(b, 1, a.CRealm)
				addPrincipal(b, 2, a.CName)
				b.AddASN1(ctx(3), func(b *cryptobyte.Builder) {
					b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
						addInt(b, 0, int64(a.Cksum.CksumType))
						b.AddASN1(ctx(1), func(b *cryptobyte.Builder) { b.AddASN1OctetString(a.Cksum.Checksum) })
					})
				})
				addInt(b, 4, int64(a.Cusec))
				addTime(b, 5, a.CTime)
				addKey(b, 6, *a.SubKey)
				addInt(b, 7, int64(a.SeqNumber))
				b.AddASN1(ctx(8), func(b *cryptobyte.Builder) {
					b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
							addInt(b, 0, 1)
							b.AddASN1(ctx(1), func(b *cryptobyte.Builder) { b.AddASN1OctetString([]byte{1, 2, 3}) })
						})
					})
				})
			})
		})
		if want := b.BytesOrPanic(); !bytes.Equal(got, want) {
			t.Fatalf("checksum of %d bytes:\n got %x\nwant %x", n, got, want)
		}
	}
}

// FuzzKerberosTime: whatever the fast path accepts, cryptobyte accepts
// as the same instant (the authenticator's ctime is a ticket holder's to
// choose).
func FuzzKerberosTime(f *testing.F) {
	f.Add([]byte("20261130120000Z"))
	f.Add([]byte("20240229235959Z"))
	f.Fuzz(func(t *testing.T, v []byte) {
		var fast, slow time.Time
		if !kerberosTime(v, &fast) {
			return
		}
		var b cryptobyte.Builder
		b.AddASN1(asn1.GeneralizedTime, func(b *cryptobyte.Builder) { b.AddBytes(v) })
		der := cryptobyte.String(b.BytesOrPanic())
		if !der.ReadASN1GeneralizedTime(&slow) || !fast.Equal(slow) {
			t.Fatalf("%q: fast %v, cryptobyte %v", v, fast, slow)
		}
	})
}

package spnego

import (
	"bytes"
	"testing"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// TestNegTokenRespDER: Marshal writes what cryptobyte writes, for tokens
// whose lengths take the short and each long form.
func TestNegTokenRespDER(t *testing.T) {
	for _, n := range []int{-1, 0, 1, 100, 127, 128, 200, 255, 256, 5000, 70000} {
		var tok []byte
		if n >= 0 {
			tok = bytes.Repeat([]byte{0xab}, n)
		}
		for _, r := range []NegTokenResp{
			{NegState: NegStateAcceptCompleted, SupportedMech: OIDKerberos, ResponseToken: tok},
			{NegState: NegStateAcceptCompleted, ResponseToken: tok, MechListMIC: []byte("mic-mic-mic-mic-mic-mic-mic-mic")},
			{NegState: NegStateAbsent, ResponseToken: tok},
			{NegState: NegStateRequestMIC, SupportedMech: OIDNTLM, ResponseToken: tok, MechListMIC: tok},
		} {
			got, err := r.Marshal()
			var b cryptobyte.Builder
			b.AddASN1(tagNegTokenResp, func(b *cryptobyte.Builder) {
				b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
					if r.NegState != NegStateAbsent {
						b.AddASN1(field(0), func(b *cryptobyte.Builder) { b.AddASN1Enum(int64(r.NegState)) })
					}
					if r.SupportedMech != "" {
						b.AddASN1(field(1), func(b *cryptobyte.Builder) { addOID(b, r.SupportedMech) })
					}
					addOctets(b, 2, r.ResponseToken)
					addOctets(b, 3, r.MechListMIC)
				})
			})
			want, _ := finish(&b)
			if want == nil {
				if err == nil {
					t.Fatalf("token of %d: no error for an oversized token", n)
				}
				continue
			}
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("token of %d, %+v: %v\n got %x\nwant %x", n, r.NegState, err, got, want)
			}
			if _, err := ParseNegTokenResp(got); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestNegTokenInitDER: likewise for NegTokenInit.
func TestNegTokenInitDER(t *testing.T) {
	for _, n := range []int{-1, 0, 100, 200, 300, 70000} {
		var tok []byte
		if n >= 0 {
			tok = bytes.Repeat([]byte{0xcd}, n)
		}
		for _, in := range []NegTokenInit{
			{MechTypes: []OID{OIDKerberos}, MechToken: tok},
			{MechTypes: []OID{OIDMSKerberos, OIDKerberos, OIDNTLM}, HasReqFlags: true, ReqFlags: 0x22, MechToken: tok, MechListMIC: []byte("0123456789abcdef")},
			{MechTypes: []OID{OIDNTLM}, HasReqFlags: true},
		} {
			got, err := in.Marshal()
			mechs, _ := MarshalMechTypes(in.MechTypes)
			var b cryptobyte.Builder
			b.AddASN1(tagInitialContext, func(b *cryptobyte.Builder) {
				addOID(b, OIDSPNEGO)
				b.AddASN1(tagNegTokenInit, func(b *cryptobyte.Builder) {
					b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1(field(0), func(b *cryptobyte.Builder) {
							b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
								for _, m := range in.MechTypes {
									addOID(b, m)
								}
							})
						})
						if in.HasReqFlags {
							b.AddASN1(field(1), func(b *cryptobyte.Builder) { addContextFlags(b, in.ReqFlags) })
						}
						addOctets(b, 2, in.MechToken)
						addOctets(b, 3, in.MechListMIC)
					})
				})
			})
			want, _ := finish(&b)
			if want == nil {
				if err == nil {
					t.Fatalf("token of %d: no error for an oversized token", n)
				}
				continue
			}
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("token of %d: %v\n got %x\nwant %x", n, err, got, want)
			}
			back, err := ParseNegTokenInit(got)
			if err != nil || string(back.RawMechTypes) != string(mechs) {
				t.Fatalf("round trip: %v", err)
			}
		}
	}
}

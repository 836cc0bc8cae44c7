package spnego

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	var out []byte
	for _, f := range strings.Fields(s) {
		var b byte
		for _, c := range f {
			b <<= 4
			switch {
			case c >= '0' && c <= '9':
				b |= byte(c - '0')
			case c >= 'a' && c <= 'f':
				b |= byte(c - 'a' + 10)
			default:
				t.Fatalf("bad hex %q", f)
			}
		}
		out = append(out, b)
	}
	return out
}

func TestOIDs(t *testing.T) {
	for _, c := range []struct {
		oid    OID
		dotted string
	}{
		{OIDSPNEGO, "1.3.6.1.5.5.2"},
		{OIDKerberos, "1.2.840.113554.1.2.2"},
		{OIDMSKerberos, "1.2.840.48018.1.2.2"},
		{OIDNTLM, "1.3.6.1.4.1.311.2.2.10"},
	} {
		if got := c.oid.String(); got != c.dotted {
			t.Errorf("String() = %q, want %q", got, c.dotted)
		}
		p, ok := ParseOID(c.dotted)
		if !ok || p != c.oid {
			t.Errorf("ParseOID(%q) = %x, %v", c.dotted, p, ok)
		}
	}
	for _, bad := range []string{"", "1", "1..2", "1.02", "a.b", "-1.2"} {
		if _, ok := ParseOID(bad); ok {
			t.Errorf("ParseOID(%q) accepted", bad)
		}
	}
	if !OIDMSKerberos.IsKerberos() || !OIDKerberos.IsKerberos() || OIDNTLM.IsKerberos() {
		t.Error("IsKerberos")
	}
}

func roundTripInit(t *testing.T, in *NegTokenInit) {
	t.Helper()
	b, err := in.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := Parse(b)
	if err != nil {
		t.Fatalf("Parse(Marshal()) = %v\n% x", err, b)
	}
	out, ok := tok.(*NegTokenInit)
	if !ok {
		t.Fatalf("Parse returned %T", tok)
	}
	raw, _ := MarshalMechTypes(in.MechTypes)
	if !bytes.Equal(out.RawMechTypes, raw) {
		t.Errorf("RawMechTypes % x, want % x", out.RawMechTypes, raw)
	}
	out.RawMechTypes = nil
	if !reflect.DeepEqual(in, out) {
		t.Errorf("round trip:\n in %+v\nout %+v", in, out)
	}
	b2, _ := out.Marshal()
	if !bytes.Equal(b, b2) {
		t.Error("re-marshal differs")
	}
	checkPrefixes(t, b)
}

func roundTripResp(t *testing.T, in *NegTokenResp) {
	t.Helper()
	b, err := in.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := Parse(b)
	if err != nil {
		t.Fatalf("Parse(Marshal()) = %v\n% x", err, b)
	}
	out, ok := tok.(*NegTokenResp)
	if !ok {
		t.Fatalf("Parse returned %T", tok)
	}
	if !reflect.DeepEqual(in, out) {
		t.Errorf("round trip:\n in %+v\nout %+v", in, out)
	}
	checkPrefixes(t, b)
}

// checkPrefixes: no strict prefix of a valid token parses, and one extra
// byte at the end is refused too.
func checkPrefixes(t *testing.T, b []byte) {
	t.Helper()
	for i := 0; i < len(b); i++ {
		if _, err := Parse(b[:i]); err == nil {
			t.Fatalf("prefix of %d/%d bytes parsed", i, len(b))
		} else if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("prefix error does not wrap ErrMalformed: %v", err)
		}
	}
	if _, err := Parse(append(bytes.Clone(b), 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
}

func TestRoundTripInit(t *testing.T) {
	for _, in := range []*NegTokenInit{
		{MechTypes: []OID{OIDKerberos}},
		{MechTypes: []OID{OIDMSKerberos, OIDKerberos, OIDNTLM}, MechToken: []byte("ap-req")},
		{MechTypes: []OID{OIDNTLM}, HasReqFlags: true, ReqFlags: FlagMutual | FlagInteg, MechToken: []byte{}, MechListMIC: []byte{1, 2}},
		{MechTypes: []OID{OIDKerberos}, HasReqFlags: true},
		{MechTypes: []OID{OIDKerberos}, HasReqFlags: true, ReqFlags: FlagDeleg},
		{MechTypes: []OID{OIDKerberos}, MechToken: bytes.Repeat([]byte{7}, 40000)},
	} {
		roundTripInit(t, in)
	}
}

func TestRoundTripResp(t *testing.T) {
	for _, in := range []*NegTokenResp{
		{NegState: NegStateAbsent},
		AcceptCompleted(OIDKerberos, []byte("ap-rep"), nil),
		AcceptCompleted(OIDMSKerberos, []byte("ap-rep"), []byte("mic")),
		AcceptCompleted("", nil, nil),
		AcceptIncomplete(OIDNTLM, []byte("challenge")),
		RequestMIC(OIDKerberos, []byte{}),
		Reject(nil),
		{NegState: NegStateAbsent, ResponseToken: []byte("x"), MechListMIC: []byte("y")},
	} {
		roundTripResp(t, in)
	}
}

// Known encodings, written out by hand from RFC 4178 §4.2.
func TestKnownBytes(t *testing.T) {
	// The 9-byte accept-completed every acceptor sends without a token.
	b, err := AcceptCompleted("", nil, nil).Marshal()
	if err != nil || !bytes.Equal(b, mustHex(t, "a1 07 30 05 a0 03 0a 01 00")) {
		t.Errorf("accept-completed = % x, %v", b, err)
	}
	b, _ = Reject(nil).Marshal()
	if !bytes.Equal(b, mustHex(t, "a1 07 30 05 a0 03 0a 01 02")) {
		t.Errorf("reject = % x", b)
	}
	// reqFlags mutual|integ: bits 1 and 6 -> 0x42, 1 unused bit.
	in := &NegTokenInit{MechTypes: []OID{OIDKerberos}, HasReqFlags: true, ReqFlags: FlagMutual | FlagInteg}
	b, _ = in.Marshal()
	if !bytes.Contains(b, mustHex(t, "a1 04 03 02 01 42")) {
		t.Errorf("reqFlags encoding: % x", b)
	}
}

func TestRejects(t *testing.T) {
	good, _ := (&NegTokenInit{MechTypes: []OID{OIDKerberos}, MechToken: []byte{1}}).Marshal()
	cases := map[string][]byte{
		"empty":   nil,
		"garbage": []byte("YII"),
		// [APPLICATION 0] with the Kerberos OID: a raw krb5 token.
		"not spnego": mustHex(t, "60 0d 06 09 2a 86 48 86 f7 12 01 02 02 01 00"),
		// mechTypes [0] missing
		"no mechTypes": mustHex(t, "60 0c 06 06 2b 06 01 05 05 02 a0 02 30 00"),
		// empty MechTypeList
		"empty list": mustHex(t, "60 10 06 06 2b 06 01 05 05 02 a0 06 30 04 a0 02 30 00"),
		// the same OID twice
		"duplicate mech": mustHex(t, "60 24 06 06 2b 06 01 05 05 02 a0 1a 30 18 a0 16 30 14 06 09 2a 86 48 86 f7 12 01 02 02 06 09 2a 86 48 86 f7 12 01 02 02"),
		// mechToken [2] twice
		"duplicate field": mustHex(t, "60 1f 06 06 2b 06 01 05 05 02 a0 15 30 13 a0 0b 30 09 06 07 2a 86 48 86 f7 12 01 a2 02 04 00 a2 02 04 00"),
		// mechListMIC [3] before mechToken [2]
		"out of order": mustHex(t, "60 1f 06 06 2b 06 01 05 05 02 a0 15 30 13 a0 0b 30 09 06 07 2a 86 48 86 f7 12 01 a3 02 04 00 a2 02 04 00"),
		// negState 4 is not in the ENUMERATED
		"bad negState": mustHex(t, "a1 07 30 05 a0 03 0a 01 04"),
		// negTokenResp inside [APPLICATION 0] framing
		"framed resp": mustHex(t, "60 11 06 06 2b 06 01 05 05 02 a1 07 30 05 a0 03 0a 01 00"),
		// indefinite length (BER, not DER)
		"indefinite": mustHex(t, "a1 80 30 05 a0 03 0a 01 00 00 00"),
		// non-minimal length
		"long length":         mustHex(t, "a1 81 07 30 05 a0 03 0a 01 00"),
		"trailing":            append(bytes.Clone(good), 0),
		"universal extension": mustHex(t, "a1 0b 30 09 a0 03 0a 01 00 04 02 00 00"),
	}
	for name, b := range cases {
		if _, err := Parse(b); err == nil {
			t.Errorf("%s: accepted % x", name, b)
		} else if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v does not wrap ErrMalformed", name, err)
		}
	}
	if _, err := Parse(cases["not spnego"]); !errors.Is(err, ErrNotSPNEGO) {
		t.Errorf("raw krb5 token: %v, want ErrNotSPNEGO", err)
	}
	if m, inner, err := ThisMech(cases["not spnego"]); err != nil || m != OIDKerberos || !bytes.Equal(inner, []byte{1, 0}) {
		t.Errorf("ThisMech = %v %x %v", m, inner, err)
	}
}

func TestExtensionsSkipped(t *testing.T) {
	// accept-completed plus an unknown [5] field: parses, field ignored.
	b := mustHex(t, "a1 0b 30 09 a0 03 0a 01 00 a5 02 05 00")
	r, err := ParseNegTokenResp(b)
	if err != nil || r.NegState != NegStateAcceptCompleted {
		t.Fatalf("%v %+v", err, r)
	}
	// more than MaxExtensions unknown fields
	body := mustHex(t, "a0 03 0a 01 00")
	for i := 0; i <= MaxExtensions; i++ {
		body = append(body, 0xa4+byte(i), 0)
	}
	b = append([]byte{0xa1, byte(len(body) + 2), 0x30, byte(len(body))}, body...)
	if _, err := ParseNegTokenResp(b); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("too many extensions: %v", err)
	}
}

func TestLimits(t *testing.T) {
	var mechs []OID
	for i := 0; i <= MaxMechTypes; i++ {
		o, _ := ParseOID("1.2.3." + string(rune('0'+i%10)) + "." + string(rune('0'+i/10)))
		mechs = append(mechs, o)
	}
	if _, err := (&NegTokenInit{MechTypes: mechs}).Marshal(); err == nil {
		t.Error("Marshal accepted more than MaxMechTypes")
	}
	if _, err := (&NegTokenInit{MechTypes: []OID{OIDKerberos}, MechToken: make([]byte, MaxTokenSize)}).Marshal(); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized Marshal: %v", err)
	}
	if _, err := Parse(make([]byte, MaxTokenSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized Parse: %v", err)
	}
	if _, err := (&NegTokenResp{NegState: 9}).Marshal(); err == nil {
		t.Error("bad NegState marshalled")
	}
	if _, err := (&NegTokenInit{MechTypes: []OID{"\x80"}}).Marshal(); err == nil {
		t.Error("invalid OID marshalled")
	}
}

// TestRealCurlToken parses the first Negotiate token curl 7.88.1 (MIT krb5
// 1.20 GSS-API) sent to a listener, captured with scripts/kdc-up.sh's realm.
func TestRealCurlToken(t *testing.T) {
	b64, err := os.ReadFile("testdata/curl-7.88.1-mit-1.20.negtokeninit.b64")
	if err != nil {
		t.Fatal(err)
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b64)))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	init, ok := tok.(*NegTokenInit)
	if !ok {
		t.Fatalf("%T", tok)
	}
	if len(init.MechTypes) == 0 || init.MechTypes[0] != OIDKerberos {
		t.Errorf("mechTypes = %v", init.MechTypes)
	}
	if m, _, err := ThisMech(init.MechToken); err != nil || m != OIDKerberos {
		t.Errorf("mechToken is not a krb5 GSS token: %v %v", m, err)
	}
	if !bytes.Contains(b, init.RawMechTypes) || init.RawMechTypes[0] != 0x30 {
		t.Error("RawMechTypes is not the received DER")
	}
	again, err := init.Marshal()
	if err != nil || !bytes.Equal(again, b) {
		t.Errorf("re-encoding curl's token differs (%v)", err)
	}
	checkPrefixes(t, b)
}

func FuzzParseNegTokenInit(f *testing.F) {
	f.Add(mustHex(f, "60 0d 06 09 2a 86 48 86 f7 12 01 02 02 01 00"))
	for _, in := range []*NegTokenInit{
		{MechTypes: []OID{OIDMSKerberos, OIDKerberos, OIDNTLM}, MechToken: []byte("ap-req"), MechListMIC: []byte{1}},
		{MechTypes: []OID{OIDNTLM}, HasReqFlags: true, ReqFlags: FlagMutual},
	} {
		b, _ := in.Marshal()
		f.Add(b)
	}
	if b64, err := os.ReadFile("testdata/curl-7.88.1-mit-1.20.negtokeninit.b64"); err == nil {
		if b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b64))); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		init, err := ParseNegTokenInit(b)
		if err != nil {
			if init != nil {
				t.Fatal("token and error")
			}
			return
		}
		// Anything accepted must re-encode to the same bytes up to
		// skipped extensions, and parse again identically.
		out, err := init.Marshal()
		if err != nil {
			t.Fatalf("accepted token does not re-encode: %v", err)
		}
		again, err := ParseNegTokenInit(out)
		if err != nil {
			t.Fatalf("re-encoded token does not parse: %v", err)
		}
		again.RawMechTypes, init.RawMechTypes = nil, nil
		if !reflect.DeepEqual(init, again) {
			t.Fatalf("round trip differs:\n%+v\n%+v", init, again)
		}
	})
}

func FuzzParseNegTokenResp(f *testing.F) {
	for _, in := range []*NegTokenResp{
		AcceptCompleted(OIDKerberos, []byte("ap-rep"), []byte("mic")),
		Reject(nil),
		{NegState: NegStateAbsent},
	} {
		b, _ := in.Marshal()
		f.Add(b)
	}
	f.Add(mustHex(f, "a1 0b 30 09 a0 03 0a 01 00 a5 02 05 00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseNegTokenResp(b)
		if err != nil {
			return
		}
		out, err := r.Marshal()
		if err != nil {
			t.Fatalf("accepted token does not re-encode: %v", err)
		}
		again, err := ParseNegTokenResp(out)
		if err != nil || !reflect.DeepEqual(r, again) {
			t.Fatalf("round trip differs: %v\n%+v\n%+v", err, r, again)
		}
	})
}

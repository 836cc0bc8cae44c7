package krb

import (
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

// testdata/logon-info-ms.hex is the KERB_VALIDATION_INFO test vector of
// gokrb5 v8.4.4 (test/testdata, MarshaledPAC_Kerb_Validation_Info_MS,
// Apache-2.0), a LOGON_INFO buffer from a Windows DC.
func TestDecodeLogonInfo(t *testing.T) {
	h, err := os.ReadFile("testdata/logon-info-ms.hex")
	if err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(h)))
	if err != nil {
		t.Fatal(err)
	}
	li, err := decodeLogonInfo(b)
	if err != nil {
		t.Fatal(err)
	}
	const dom = "S-1-5-21-397955417-626881126-188441444"
	if li.EffectiveName != "lzhu" || li.FullName != "Liqiang(Larry) Zhu" || li.LogonDomainName != "NTDEV" ||
		li.UserSID != dom+"-2914711" || li.UserAccountControl != 16 {
		t.Errorf("%+v", li)
	}
	want := []string{dom + "-3392609", dom + "-2999049"} // first GroupIds
	if len(li.GroupSIDs) != 26+13 || li.GroupSIDs[0] != want[0] || li.GroupSIDs[1] != want[1] ||
		li.GroupSIDs[26] != "S-1-5-21-773533881-1816936887-355810188-513" ||
		li.GroupSIDs[27] != dom+"-3101812" {
		t.Errorf("%d group SIDs: %v", len(li.GroupSIDs), li.GroupSIDs)
	}
	// Every truncation fails cleanly.
	for i := 0; i < len(b); i++ {
		if _, err := decodeLogonInfo(b[:i]); err == nil {
			t.Fatalf("truncated to %d bytes: accepted", i)
		}
	}
}

func FuzzDecodeLogonInfo(f *testing.F) {
	h, _ := os.ReadFile("testdata/logon-info-ms.hex")
	b, _ := hex.DecodeString(strings.TrimSpace(string(h)))
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeLogonInfo(b) //nolint:errcheck // must not panic
	})
}

package ccache

import (
	"bytes"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gatehouse-auth/gatehouse/krb"
)

// TestMarshalGokrb5Reads: what Marshal writes, gokrb5's ccache reader
// reads back with the same principal, key, times and flags.
func TestMarshalGokrb5Reads(t *testing.T) {
	cname := types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, "alice")
	tgt := types.NewPrincipalName(nametype.KRB_NT_SRV_INST, "krbtgt/EXAMPLE.TEST")
	now := time.Unix(1_800_000_000, 0)
	c := krb.Credential{
		Ticket:   krb.Ticket{Realm: "EXAMPLE.TEST", SName: tgt, EncPart: types.EncryptedData{EType: 18, KVNO: 1, Cipher: []byte("sealed ticket")}},
		Key:      types.EncryptionKey{KeyType: 18, KeyValue: bytes.Repeat([]byte{7}, 32)},
		Flags:    krb.KerberosFlags(0x40800000), // forwardable, initial… as the KDC set them
		AuthTime: now, EndTime: now.Add(10 * time.Hour), RenewTill: now.Add(24 * time.Hour),
		SRealm: "EXAMPLE.TEST", SName: tgt,
	}
	b, err := Marshal("EXAMPLE.TEST", cname, []krb.Credential{c})
	if err != nil {
		t.Fatal(err)
	}
	cc := new(credentials.CCache)
	if err := cc.Unmarshal(b); err != nil {
		t.Fatalf("gokrb5: %v", err)
	}
	if cc.DefaultPrincipal.Realm != "EXAMPLE.TEST" || cc.DefaultPrincipal.PrincipalName.PrincipalNameString() != "alice" {
		t.Errorf("default principal %+v", cc.DefaultPrincipal)
	}
	got, ok := cc.GetEntry(tgt)
	if !ok {
		t.Fatal("no TGT entry")
	}
	if !bytes.Equal(got.Key.KeyValue, c.Key.KeyValue) || got.Key.KeyType != 18 || !got.EndTime.Equal(c.EndTime) || !got.StartTime.Equal(now) {
		t.Errorf("entry %+v", got)
	}
	if got.TicketFlags.Bytes[1] != 0x80 || got.TicketFlags.Bytes[0] != 0x40 {
		t.Errorf("flags %x", got.TicketFlags.Bytes)
	}
	if _, err := Marshal("", cname, nil); err == nil {
		t.Error("no realm accepted")
	}
}

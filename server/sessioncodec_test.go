package server

import (
	"reflect"
	"testing"
)

func TestSessionRecordRoundTrip(t *testing.T) {
	empty, spn := "", "HTTP/www.example.test"
	for _, id := range []*Identity{
		{User: "alice", Name: "alice", Scheme: "Basic", Mechanism: "password", ChannelBinding: "not_applicable"},
		{User: "alice@EXAMPLE.TEST", Name: "alice", Domain: "EXAMPLE.TEST", Scheme: "Negotiate", Mechanism: "kerberos",
			Groups: []string{"staff", "web"}, SIDs: []string{"S-1-5-21-1-2-3-1104"}, ServiceName: &spn, ChannelBinding: "verified", Delegated: true},
		{User: "bob", Scheme: "NTLM", Mechanism: "ntlm", ServiceName: &empty, ChannelBinding: "absent", account: "local"},
	} {
		times := sessionTimes{expires: 1700000000, checked: 1699999000}
		b, err := marshalSession(id, "/app/", times)
		if err != nil {
			t.Fatal(err)
		}
		got, site, gotTimes, err := unmarshalSession(b)
		if err != nil || site != "/app/" || gotTimes != times || !reflect.DeepEqual(got, id) {
			t.Fatalf("round trip of %+v: %+v %q %v %v", id, got, site, gotTimes, err)
		}
		for n := range len(b) { // every truncation is refused
			if _, _, _, err := unmarshalSession(b[:n]); err == nil {
				t.Fatalf("%d of %d bytes accepted", n, len(b))
			}
		}
		if _, _, _, err := unmarshalSession(append(b, 0)); err == nil {
			t.Fatal("trailing byte accepted")
		}
	}
}

func FuzzSessionRecord(f *testing.F) {
	spn := "HTTP/x"
	b, _ := marshalSession(&Identity{User: "u", Groups: []string{"g"}, ServiceName: &spn, account: "local"}, "/", sessionTimes{expires: 2, checked: 1})
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		id, site, times, err := unmarshalSession(b)
		if err != nil {
			return
		}
		again, err := marshalSession(id, site, times)
		if err != nil {
			t.Fatal(err)
		}
		if id2, site2, times2, err := unmarshalSession(again); err != nil || site2 != site || times2 != times || !reflect.DeepEqual(id2, id) {
			t.Fatalf("re-encoding changed the record")
		}
	})
}

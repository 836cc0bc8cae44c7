package krb

// Test helpers that forge what a KDC and a client would send, with keys
// made in-process.

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/types"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

const (
	testRealm = "EXAMPLE.TEST"
	testSPN   = "HTTP/localhost"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func principal(s string) types.PrincipalName {
	pn, _ := types.ParseSPNString(s)
	if len(pn.NameString) > 1 {
		pn.NameType = 3 // NT-SRV-HST
	} else {
		pn.NameType = 1
	}
	return pn
}

// newKeytab returns a keytab with the given (kvno, etype, password) keys
// for HTTP/localhost@EXAMPLE.TEST.
func newKeytab(t testing.TB, spn string, entries ...struct {
	kvno  uint8
	etype int32
	pw    string
}) *keytab.Keytab {
	t.Helper()
	kt := keytab.New()
	for _, e := range entries {
		if err := kt.AddEntry(spn, testRealm, e.pw, t0, e.kvno, e.etype); err != nil {
			t.Fatal(err)
		}
	}
	return kt
}

func ktEntry(kvno uint8, etype int32, pw string) struct {
	kvno  uint8
	etype int32
	pw    string
} {
	return struct {
		kvno  uint8
		etype int32
		pw    string
	}{kvno, etype, pw}
}

// forge describes one ticket plus one authenticator.
type forge struct {
	spn          string
	kt           *keytab.Keytab // the KDC's copy of the service key
	kvno         int
	etype        int32 // ticket etype
	sessionEtype int32
	client       string
	crealm       string
	authClient   string // authenticator cname; client when ""
	authTime     time.Time
	start, end   time.Time
	flags        KerberosFlags
	authz        types.AuthorizationData
	ctime        time.Time
	cusec        int
	cksum        *GSSChecksum // nil: no checksum
	mutualOption bool
	bare         bool // no GSS framing
	sessionKey   types.EncryptionKey
	ticket       *Ticket
}

func defaultForge(kt *keytab.Keytab) *forge {
	return &forge{
		spn: testSPN, kt: kt, kvno: 1,
		etype: etypeID.AES256_CTS_HMAC_SHA1_96, sessionEtype: etypeID.AES256_CTS_HMAC_SHA1_96,
		client: "alice", crealm: testRealm,
		authTime: t0.Add(-time.Hour), end: t0.Add(9 * time.Hour),
		flags: KerberosFlags(1 << (31 - TicketFlagForwardable)),
		ctime: t0, cusec: 123456,
		cksum: &GSSChecksum{Flags: GSSMutual | GSSInteg},
	}
}

func marshalEncTicketPart(f *forge, key types.EncryptionKey) []byte {
	var b cryptobyte.Builder
	b.AddASN1(appTag(tagEncTktPart), func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			addFlags(b, 0, f.flags)
			addKey(b, 1, key)
			addString(b, 2, f.crealm)
			addPrincipal(b, 3, principal(f.client))
			b.AddASN1(ctx(4), func(b *cryptobyte.Builder) {
				b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
					addInt(b, 0, 1)
					b.AddASN1(ctx(1), func(b *cryptobyte.Builder) { b.AddASN1OctetString(nil) })
				})
			})
			addTime(b, 5, f.authTime)
			if !f.start.IsZero() {
				addTime(b, 6, f.start)
			}
			addTime(b, 7, f.end)
			if len(f.authz) > 0 {
				b.AddASN1(ctx(10), func(b *cryptobyte.Builder) { addAuthData(b, f.authz) })
			}
		})
	})
	return b.BytesOrPanic()
}

func addAuthData(b *cryptobyte.Builder, ad types.AuthorizationData) {
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for _, e := range ad {
			b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
				addInt(b, 0, int64(e.ADType))
				b.AddASN1(ctx(1), func(b *cryptobyte.Builder) { b.AddASN1OctetString(e.ADData) })
			})
		}
	})
}

func marshalAuthData(ad types.AuthorizationData) []byte {
	var b cryptobyte.Builder
	addAuthData(&b, ad)
	return b.BytesOrPanic()
}

// makeTicket issues the ticket (once per forge).
func (f *forge) makeTicket(t testing.TB) {
	t.Helper()
	if f.ticket != nil {
		return
	}
	var err error
	f.sessionKey, err = newRandomKey(f.sessionEtype)
	if err != nil {
		t.Fatal(err)
	}
	sname := principal(f.spn)
	skey, _, err := f.kt.GetEncryptionKey(sname, testRealm, f.kvno, f.etype)
	if err != nil {
		t.Fatal(err)
	}
	ed, err := crypto.GetEncryptedData(marshalEncTicketPart(f, f.sessionKey), skey, usageTicket, f.kvno)
	if err != nil {
		t.Fatal(err)
	}
	f.ticket = &Ticket{Realm: testRealm, SName: sname, EncPart: ed}
}

func marshalAuthenticator(f *forge) []byte {
	cname := f.client
	if f.authClient != "" {
		cname = f.authClient
	}
	var b cryptobyte.Builder
	b.AddASN1(appTag(tagAuthenticatr), func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			addInt(b, 0, pvno)
			addString(b, 1, f.crealm)
			addPrincipal(b, 2, principal(cname))
			if f.cksum != nil {
				c, _ := f.cksum.Marshal()
				b.AddASN1(ctx(3), func(b *cryptobyte.Builder) {
					b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
						addInt(b, 0, ChecksumTypeGSS)
						b.AddASN1(ctx(1), func(b *cryptobyte.Builder) { b.AddASN1OctetString(c) })
					})
				})
			}
			addInt(b, 4, int64(f.cusec))
			addTime(b, 5, f.ctime)
			addInt(b, 7, 0x12345)
		})
	})
	return b.BytesOrPanic()
}

// token returns a fresh AP-REQ token (new authenticator) for the ticket.
func (f *forge) token(t testing.TB) []byte {
	t.Helper()
	f.makeTicket(t)
	ed, err := crypto.GetEncryptedData(marshalAuthenticator(f), f.sessionKey, usageAuthenticator, 0)
	if err != nil {
		t.Fatal(err)
	}
	req := APReq{Ticket: *f.ticket, Authenticator: ed}
	if f.mutualOption {
		req.Options = 1 << (31 - APOptionMutualRequired)
	}
	der, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if f.bare {
		return der
	}
	tok, err := WrapAPReq(der)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// forgePAC builds a PAC with client info, UPN_DNS_INFO, the two
// signatures and LOGON_INFO when logon is not nil, the server one made with key (checksum type ctype).
func forgePAC(t testing.TB, key types.EncryptionKey, ctype int32, name, upn, domain string, logon []byte) []byte {
	t.Helper()
	u16 := func(s string) []byte {
		var out []byte
		for _, r := range s {
			out = binary.LittleEndian.AppendUint16(out, uint16(r))
		}
		return out
	}
	et, err := crypto.GetChksumEtype(ctype)
	if err != nil {
		t.Fatal(err)
	}
	sigLen := et.GetHMACBitLength() / 8
	clientInfo := append(binary.LittleEndian.AppendUint64(nil, 0), binary.LittleEndian.AppendUint16(nil, uint16(2*len(name)))...)
	clientInfo = append(clientInfo, u16(name)...)
	upnInfo := make([]byte, 16)
	ub, db := u16(upn), u16(domain)
	binary.LittleEndian.PutUint16(upnInfo[0:], uint16(len(ub)))
	binary.LittleEndian.PutUint16(upnInfo[2:], 16)
	binary.LittleEndian.PutUint16(upnInfo[4:], uint16(len(db)))
	binary.LittleEndian.PutUint16(upnInfo[6:], uint16(16+len(ub)))
	upnInfo = append(append(upnInfo, ub...), db...)
	srvSig := append(binary.LittleEndian.AppendUint32(nil, uint32(ctype)), make([]byte, sigLen)...)
	kdcSig := append(binary.LittleEndian.AppendUint32(nil, uint32(ctype)), make([]byte, sigLen)...)
	bufs := []struct {
		typ  uint32
		data []byte
	}{{pacClientInfo, clientInfo}, {pacUPNDNSInfo, upnInfo}, {pacServerChecksum, srvSig}, {pacPrivSvrChecksum, kdcSig}}
	if logon != nil {
		bufs = append(bufs, struct {
			typ  uint32
			data []byte
		}{pacLogonInfo, logon})
	}
	off := 8 + 16*len(bufs)
	var hdr, body []byte
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(len(bufs)))
	hdr = binary.LittleEndian.AppendUint32(hdr, 0)
	srvOff := 0
	for _, bf := range bufs {
		for (off+len(body))%8 != 0 {
			body = append(body, 0)
		}
		if bf.typ == pacServerChecksum {
			srvOff = off + len(body)
		}
		hdr = binary.LittleEndian.AppendUint32(hdr, bf.typ)
		hdr = binary.LittleEndian.AppendUint32(hdr, uint32(len(bf.data)))
		hdr = binary.LittleEndian.AppendUint64(hdr, uint64(off+len(body)))
		body = append(body, bf.data...)
	}
	p := append(hdr, body...)
	sum, err := et.GetChecksumHash(key.KeyValue, p, 17)
	if err != nil {
		t.Fatal(err)
	}
	copy(p[srvOff+4:], sum[:sigLen])
	return p
}

func pacAuthz(p []byte) types.AuthorizationData {
	inner := marshalAuthData(types.AuthorizationData{{ADType: adWin2KPAC, ADData: p}})
	return types.AuthorizationData{{ADType: adIfRelevant, ADData: inner}}
}

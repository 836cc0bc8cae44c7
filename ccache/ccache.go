// Package ccache writes MIT Kerberos FILE credential caches (format
// version 4), so that a program on the same host can use credentials
// Gatehouse holds for a user: KRB5CCNAME=FILE:path, then kvno, curl
// --negotiate or any GSS-API application act as that user.
//
// It is for writing a fresh cache holding a user's credentials. It is not
// a reader (client/ccache.go walks and bounds-checks caches before gokrb5
// parses them) and it does not lock or append to caches others own.
//
// The format (MIT krb5 src/lib/krb5/ccache/cc_file.c, big-endian):
//
//	uint16 0x0504
//	uint16 header length, then tags (none written here)
//	principal (default)
//	credential*
//
//	principal  = uint32 name type, uint32 count, data realm, count * data
//	credential = principal client, principal server,
//	             keyblock: uint16 enctype, data
//	             uint32 authtime, starttime, endtime, renew_till
//	             uint8 is_skey, uint32 ticket flags
//	             uint32 count, count * (uint16 addrtype, data)
//	             uint32 count, count * (uint16 ad-type, data)
//	             data ticket, data second ticket
//	data       = uint32 length, bytes
package ccache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gatehouse-auth/gatehouse/krb"
)

// version is the file format written (MIT's default since krb5 1.3).
const version = 0x0504

// ErrCredential is wrapped by errors about a credential that cannot be
// written.
var ErrCredential = errors.New("ccache: bad credential")

// Marshal returns a ccache whose default principal is cname@crealm holding
// creds (their client must be that principal).
func Marshal(crealm string, cname types.PrincipalName, creds []krb.Credential) ([]byte, error) {
	if crealm == "" || len(cname.NameString) == 0 {
		return nil, fmt.Errorf("%w: no client principal", ErrCredential)
	}
	b := binary.BigEndian.AppendUint16(nil, version)
	b = binary.BigEndian.AppendUint16(b, 0) // no header tags
	def := AppendPrincipal(nil, crealm, cname)
	b = append(b, def...)
	for i := range creds {
		c := &creds[i]
		tkt, err := krb.MarshalTicket(&c.Ticket)
		if err != nil {
			return nil, fmt.Errorf("%w: ticket: %v", ErrCredential, err)
		}
		if len(c.Key.KeyValue) == 0 {
			return nil, fmt.Errorf("%w: no session key", ErrCredential)
		}
		srealm, sname := c.SRealm, c.SName
		if srealm == "" {
			srealm, sname = c.Ticket.Realm, c.Ticket.SName
		}
		b = append(b, def...)
		b = AppendPrincipal(b, srealm, sname)
		b = binary.BigEndian.AppendUint16(b, uint16(c.Key.KeyType))
		b = AppendData(b, c.Key.KeyValue)
		start := c.StartTime
		if start.IsZero() {
			start = c.AuthTime
		}
		for _, t := range []time.Time{c.AuthTime, start, c.EndTime, c.RenewTill} {
			b = binary.BigEndian.AppendUint32(b, Time32(t))
		}
		b = append(b, 0) // is_skey
		b = binary.BigEndian.AppendUint32(b, uint32(c.Flags))
		b = binary.BigEndian.AppendUint32(b, 0) // addresses
		b = binary.BigEndian.AppendUint32(b, 0) // authorization data
		b = AppendData(b, tkt)
		b = AppendData(b, nil) // second ticket
	}
	return b, nil
}

// Time32 is t as the 32-bit seconds of a ccache record, 0 for the zero
// time or one it cannot hold.
func Time32(t time.Time) uint32 {
	if t.IsZero() || t.Unix() < 0 || t.Unix() > 1<<32-1 {
		return 0
	}
	return uint32(t.Unix())
}

// AppendData appends d as a ccache counted octet string.
func AppendData(b, d []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(d)))
	return append(b, d...)
}

// AppendPrincipal appends realm and p as a ccache principal.
func AppendPrincipal(b []byte, realm string, p types.PrincipalName) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(p.NameType))
	b = binary.BigEndian.AppendUint32(b, uint32(len(p.NameString)))
	b = AppendData(b, []byte(realm))
	for _, c := range p.NameString {
		b = AppendData(b, []byte(c))
	}
	return b
}

package server

import (
	"errors"

	"golang.org/x/crypto/cryptobyte"
)

// The sealed session is a compact binary record rather than JSON: opening
// a cookie is on the path of every request of a session, and decoding JSON
// by reflection cost several times the AES-GCM. Layout (cryptobyte):
//
//	uint8  version (2)
//	uint64 expiry, Unix seconds
//	uint64 when the account was last checked (login or revalidation), Unix seconds
//	u16 string site, user, name, domain, scheme, mechanism, channel binding
//	u16 list of u16 strings: groups, then SIDs
//	uint8  flags: 1 service name present, 2 delegated
//	u16 string service name (empty when absent)
//	u16 string account source ("local", or empty: nothing to look up again)
//
// Version 1 (no check time, no account source) is refused: such a session
// could not be revalidated, so its holder logs in again.
//
// The record is only ever read after AES-GCM authenticated it, so a parse
// failure means a bug or a key shared with something else, never an attack
// to defend against beyond not crashing.

const sessionVersion = 2

const (
	flagServiceName = 1 << iota
	flagDelegated
)

var errSessionRecord = errors.New("malformed session record")

// sessionTimes are the times a session record carries, Unix seconds.
type sessionTimes struct {
	expires int64 // the session ends (fixed at login)
	checked int64 // the account was last looked up
}

func marshalSession(id *Identity, site string, t sessionTimes) ([]byte, error) {
	var b cryptobyte.Builder
	b.AddUint8(sessionVersion)
	b.AddUint64(uint64(t.expires))
	b.AddUint64(uint64(t.checked))
	for _, s := range []string{site, id.User, id.Name, id.Domain, id.Scheme, id.Mechanism, id.ChannelBinding} {
		addString(&b, s)
	}
	for _, l := range [][]string{id.Groups, id.SIDs} {
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			for _, s := range l {
				addString(b, s)
			}
		})
	}
	var flags uint8
	svc := ""
	if id.ServiceName != nil {
		flags |= flagServiceName
		svc = *id.ServiceName
	}
	if id.Delegated {
		flags |= flagDelegated
	}
	b.AddUint8(flags)
	addString(&b, svc)
	addString(&b, id.account)
	return b.Bytes()
}

func addString(b *cryptobyte.Builder, s string) {
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(s)) })
}

func readString(s *cryptobyte.String, out *string) bool {
	var v cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&v) {
		return false
	}
	*out = string(v)
	return true
}

func readList(s *cryptobyte.String, out *[]string) bool {
	var l cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&l) {
		return false
	}
	for !l.Empty() {
		var v string
		if !readString(&l, &v) {
			return false
		}
		*out = append(*out, v)
	}
	return true
}

func unmarshalSession(b []byte) (id *Identity, site string, t sessionTimes, err error) {
	s := cryptobyte.String(b)
	var ver, flags uint8
	var exp, checked uint64
	id = &Identity{}
	var svc string
	if !s.ReadUint8(&ver) || ver != sessionVersion || !s.ReadUint64(&exp) || !s.ReadUint64(&checked) ||
		!readString(&s, &site) || !readString(&s, &id.User) || !readString(&s, &id.Name) ||
		!readString(&s, &id.Domain) || !readString(&s, &id.Scheme) || !readString(&s, &id.Mechanism) ||
		!readString(&s, &id.ChannelBinding) || !readList(&s, &id.Groups) || !readList(&s, &id.SIDs) ||
		!s.ReadUint8(&flags) || !readString(&s, &svc) || !readString(&s, &id.account) || !s.Empty() {
		return nil, "", sessionTimes{}, errSessionRecord
	}
	if flags&flagServiceName != 0 {
		id.ServiceName = &svc
	}
	id.Delegated = flags&flagDelegated != 0
	return id, site, sessionTimes{expires: int64(exp), checked: int64(checked)}, nil
}

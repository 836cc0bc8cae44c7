package krb

import (
	"fmt"
	"time"

	"github.com/jcmturner/gokrb5/v8/types"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// KRB-CRED (RFC 4120 §5.8) carries credentials from one party to another:
// here, the forwarded TGT a client delegates inside the GSS-API checksum
// (RFC 4121 §4.1.1, GSSDeleg). gokrb5 parses KRB-CRED but cannot build one.
//
//	KRB-CRED ::= [APPLICATION 22] SEQUENCE {
//	    pvno     [0] INTEGER (5),
//	    msg-type [1] INTEGER (22),
//	    tickets  [2] SEQUENCE OF Ticket,
//	    enc-part [3] EncryptedData -- EncKrbCredPart, key usage 14
//	}
//	EncKrbCredPart ::= [APPLICATION 29] SEQUENCE {
//	    ticket-info [0] SEQUENCE OF KrbCredInfo,
//	    nonce       [1] UInt32 OPTIONAL,
//	    timestamp   [2] KerberosTime OPTIONAL,
//	    usec        [3] Microseconds OPTIONAL,
//	    s-address   [4] HostAddress OPTIONAL,
//	    r-address   [5] HostAddress OPTIONAL
//	}
//	KrbCredInfo ::= SEQUENCE {
//	    key        [0] EncryptionKey,
//	    prealm     [1] Realm OPTIONAL,
//	    pname      [2] PrincipalName OPTIONAL,
//	    flags      [3] TicketFlags OPTIONAL,
//	    authtime   [4] KerberosTime OPTIONAL,
//	    starttime  [5] KerberosTime OPTIONAL,
//	    endtime    [6] KerberosTime OPTIONAL,
//	    renew-till [7] KerberosTime OPTIONAL,
//	    srealm     [8] Realm OPTIONAL,
//	    sname      [9] PrincipalName OPTIONAL,
//	    caddr      [10] HostAddresses OPTIONAL
//	}

const (
	msgTypeKRBCred    = 22
	tagKRBCred        = 22
	tagEncKrbCredPart = 29
	maxCredsInKRBCred = 8 // a delegation carries one TGT
	encTypeNull       = 0 // unencrypted EncKrbCredPart (RFC 4120 §5.8.1 allows it; some stacks send it)
)

// Credential is one ticket with its session key and the KrbCredInfo
// metadata (RFC 4120 §5.8.1). Zero times and empty names are omitted when
// marshalled, as absent when parsed.
type Credential struct {
	Ticket    Ticket
	Key       types.EncryptionKey
	PRealm    string
	PName     types.PrincipalName
	Flags     KerberosFlags
	AuthTime  time.Time
	StartTime time.Time
	EndTime   time.Time
	RenewTill time.Time
	SRealm    string
	SName     types.PrincipalName
}

// Forwarded reports whether the ticket is marked forwarded.
func (c *Credential) Forwarded() bool { return c.Flags.Has(TicketFlagForwarded) }

// KRBCred returns the DER KRB-CRED carrying creds, its enc-part encrypted
// in key (the session key of the AP-REQ whose checksum carries it) with
// key usage 14.
func (in *Initiator) KRBCred(creds []Credential, key types.EncryptionKey) ([]byte, error) {
	if len(creds) == 0 || len(creds) > maxCredsInKRBCred {
		return nil, fmt.Errorf("krb: KRB-CRED of %d credentials", len(creds))
	}
	now := time.Now().UTC()
	var eb cryptobyte.Builder
	eb.AddASN1(appTag(tagEncKrbCredPart), func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(ctx(0), func(b *cryptobyte.Builder) {
				b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
					for i := range creds {
						creds[i].marshalInfo(b)
					}
				})
			})
			addTime(b, 2, now)
			addInt(b, 3, int64(now.Nanosecond()/1000))
		})
	})
	plain, err := eb.Bytes()
	if err != nil {
		return nil, fmt.Errorf("krb: EncKrbCredPart: %w", err)
	}
	ed, err := in.seal(key, usageKRBCred, plain)
	if err != nil {
		return nil, fmt.Errorf("krb: encrypting KRB-CRED: %w", err)
	}
	var b cryptobyte.Builder
	b.AddASN1(appTag(tagKRBCred), func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			addInt(b, 0, pvno)
			addInt(b, 1, msgTypeKRBCred)
			b.AddASN1(ctx(2), func(b *cryptobyte.Builder) {
				b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
					for i := range creds {
						creds[i].Ticket.marshal(b)
					}
				})
			})
			addEncryptedData(b, 3, ed)
		})
	})
	return b.Bytes()
}

func (c *Credential) marshalInfo(b *cryptobyte.Builder) {
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		addKey(b, 0, c.Key)
		if c.PRealm != "" {
			addString(b, 1, c.PRealm)
		}
		if len(c.PName.NameString) > 0 {
			addPrincipal(b, 2, c.PName)
		}
		addFlags(b, 3, c.Flags)
		for i, t := range []time.Time{c.AuthTime, c.StartTime, c.EndTime, c.RenewTill} {
			if !t.IsZero() {
				addTime(b, uint8(4+i), t)
			}
		}
		if c.SRealm != "" {
			addString(b, 8, c.SRealm)
		}
		if len(c.SName.NameString) > 0 {
			addPrincipal(b, 9, c.SName)
		}
	})
}

// ParseKRBCred decodes a KRB-CRED and decrypts its enc-part with key (an
// unencrypted enc-part, etype 0, is accepted as RFC 4120 allows). Each
// credential pairs a ticket with its KrbCredInfo, in order.
func ParseKRBCred(der []byte, key types.EncryptionKey) ([]Credential, error) {
	if len(der) > MaxDelegationSize {
		return nil, errTooLarge(len(der))
	}
	s := cryptobyte.String(der)
	var body, seq, f, tickets cryptobyte.String
	var v, mt int32
	if !s.ReadASN1(&body, appTag(tagKRBCred)) || !s.Empty() || !body.ReadASN1(&seq, asn1.SEQUENCE) || !body.Empty() ||
		!readInt32(&seq, 0, &v) || v != pvno || !readInt32(&seq, 1, &mt) || mt != msgTypeKRBCred ||
		!seq.ReadASN1(&f, ctx(2)) || !f.ReadASN1(&tickets, asn1.SEQUENCE) || !f.Empty() {
		return nil, derErr("not a KRB-CRED")
	}
	var creds []Credential
	for !tickets.Empty() {
		var c Credential
		if len(creds) == maxCredsInKRBCred || !parseTicket(&tickets, &c.Ticket) {
			return nil, derErr("KRB-CRED tickets")
		}
		creds = append(creds, c)
	}
	var ed types.EncryptedData
	if !readEncryptedData(&seq, 3, &ed) || !seq.Empty() || len(creds) == 0 {
		return nil, derErr("KRB-CRED enc-part")
	}
	plain := ed.Cipher
	if ed.EType != encTypeNull {
		var err error
		if plain, err = openOnce(ed, key, usageKRBCred); err != nil {
			return nil, fmt.Errorf("KRB-CRED: %w", err)
		}
	}
	part, ok := openApp(plain, tagEncKrbCredPart)
	var infos cryptobyte.String
	if !ok || !part.ReadASN1(&f, ctx(0)) || !f.ReadASN1(&infos, asn1.SEQUENCE) || !f.Empty() {
		return nil, derErr("EncKrbCredPart")
	}
	for i := range creds {
		if !creds[i].parseInfo(&infos) {
			return nil, derErr("KrbCredInfo %d", i)
		}
	}
	if !infos.Empty() {
		return nil, derErr("KRB-CRED has more KrbCredInfo than tickets")
	}
	// nonce, timestamp, usec, s-address, r-address: not used (the
	// KRB-CRED rides in an authenticator that was replay-checked).
	for tag := uint8(1); tag <= 5; tag++ {
		if part.PeekASN1Tag(ctx(tag)) && !part.SkipASN1(ctx(tag)) {
			return nil, derErr("EncKrbCredPart field %d", tag)
		}
	}
	if !part.Empty() {
		return nil, derErr("EncKrbCredPart trailing fields")
	}
	return creds, nil
}

func (c *Credential) parseInfo(s *cryptobyte.String) bool {
	var seq cryptobyte.String
	if !s.ReadASN1(&seq, asn1.SEQUENCE) || !readKey(&seq, 0, &c.Key) {
		return false
	}
	if seq.PeekASN1Tag(ctx(1)) && !readString(&seq, 1, &c.PRealm) {
		return false
	}
	if seq.PeekASN1Tag(ctx(2)) && !readPrincipal(&seq, 2, &c.PName) {
		return false
	}
	if seq.PeekASN1Tag(ctx(3)) && !readFlags(&seq, 3, &c.Flags) {
		return false
	}
	for i, t := range []*time.Time{&c.AuthTime, &c.StartTime, &c.EndTime, &c.RenewTill} {
		if !readOptionalTime(&seq, uint8(4+i), t) {
			return false
		}
	}
	if seq.PeekASN1Tag(ctx(8)) && !readString(&seq, 8, &c.SRealm) {
		return false
	}
	if seq.PeekASN1Tag(ctx(9)) && !readPrincipal(&seq, 9, &c.SName) {
		return false
	}
	if seq.PeekASN1Tag(ctx(10)) && !seq.SkipASN1(ctx(10)) {
		return false
	}
	return seq.Empty()
}

// openOnce decrypts with key for usage without caching derived keys
// (KRB-CRED is decrypted once per delegation).
func openOnce(ed types.EncryptedData, key types.EncryptionKey, usage uint32) ([]byte, error) {
	return openWith(nil, ed, key, usage)
}

// openWith decrypts ed with key for usage: AES with the derived keys from
// c (derived afresh when c is nil), other etypes through gokrb5.
func openWith(c *derivedKeyCache, ed types.EncryptedData, key types.EncryptionKey, usage uint32) ([]byte, error) {
	if ed.EType != key.KeyType {
		return nil, fmt.Errorf("%w: etype %d with a key of etype %d", ErrBadIntegrity, ed.EType, key.KeyType)
	}
	p := profileOf(key.KeyType)
	if p == nil {
		return decryptGokrb5(ed, key, usage)
	}
	var uk *usageKeys
	var err error
	if c != nil {
		uk, err = c.keys(p, key.KeyValue, usage)
	} else {
		uk, err = p.usageKeys(key.KeyValue, usage)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadIntegrity, err)
	}
	plain, err := uk.decrypt(ed.Cipher)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadIntegrity, err)
	}
	return plain, nil
}

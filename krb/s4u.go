package krb

import (
	"encoding/binary"

	"github.com/jcmturner/gokrb5/v8/crypto/rfc4757"
	"github.com/jcmturner/gokrb5/v8/types"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// PA-FOR-USER (MS-SFU §2.2.1), the padata of S4U2Self: the service asks
// for a ticket to itself in the name of a user who authenticated some
// other way (protocol transition).
//
//	PA-FOR-USER ::= SEQUENCE {
//	    userName     [0] PrincipalName,
//	    userRealm    [1] Realm,
//	    cksum        [2] Checksum,   -- KERB_CHECKSUM_HMAC_MD5, TGT session key, usage 17
//	    auth-package [3] KerberosString  -- "Kerberos"
//	}

// PADataForUser is the padata type of PA-FOR-USER.
const PADataForUser = 129

const (
	checksumHMACMD5 = -138 // KERB_CHECKSUM_HMAC_MD5 (RFC 4757)
	usageForUser    = 17
)

// MarshalPAForUser encodes PA-FOR-USER for user@realm, its checksum keyed
// with key (the session key of the service's TGT).
func MarshalPAForUser(user types.PrincipalName, realm string, key []byte) ([]byte, error) {
	// The checksum covers name-type (little-endian), the name strings,
	// the realm and the auth-package, concatenated (MS-SFU §2.2.1).
	var data []byte
	data = binary.LittleEndian.AppendUint32(data, uint32(user.NameType))
	for _, n := range user.NameString {
		data = append(data, n...)
	}
	data = append(data, realm...)
	data = append(data, "Kerberos"...)
	// RFC 4757's HMAC-MD5 checksum, whatever the key's etype.
	sum, err := rfc4757.Checksum(key, usageForUser, data)
	if err != nil {
		return nil, err
	}
	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		addPrincipal(b, 0, user)
		addString(b, 1, realm)
		b.AddASN1(ctx(2), func(b *cryptobyte.Builder) {
			b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
				addInt(b, 0, checksumHMACMD5)
				b.AddASN1(ctx(1), func(b *cryptobyte.Builder) { b.AddASN1OctetString(sum) })
			})
		})
		addString(b, 3, "Kerberos")
	})
	return b.Bytes()
}

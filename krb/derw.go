package krb

import (
	"time"

	"github.com/jcmturner/gokrb5/v8/types"
)

// derWriter appends DER to one buffer without closures (the messages the
// hot paths build — Authenticator, AP-REQ, EncAPRepPart, AP-REP — are
// written with it; cryptobyte.Builder costs an allocation per nested
// element). begin writes a tag and a one-byte length placeholder; end
// fills the length in, moving the content up when it needs the long form.
// Tags are single bytes (tag numbers below 31, all RFC 4120 needs).
type derWriter struct {
	b    []byte
	open [12]int // content starts of the elements begun and not ended
	n    int
}

func (w *derWriter) begin(tag byte) {
	w.b = append(w.b, tag, 0)
	w.open[w.n] = len(w.b)
	w.n++
}

func (w *derWriter) end() {
	w.n--
	start := w.open[w.n]
	n := len(w.b) - start
	if n < 0x80 {
		w.b[start-1] = byte(n)
		return
	}
	k := 1
	for v := n >> 8; v > 0; v >>= 8 {
		k++
	}
	w.b = append(w.b, make([]byte, k)...)
	copy(w.b[start+k:], w.b[start:start+n])
	w.b[start-1] = 0x80 | byte(k)
	for i := k - 1; i >= 0; i-- {
		w.b[start+i] = byte(n)
		n >>= 8
	}
}

// raw appends an element's tag, length and content.
func (w *derWriter) raw(tag byte, content []byte) {
	w.begin(tag)
	w.b = append(w.b, content...)
	w.end()
}

// Tag bytes.
const (
	derInteger     = 0x02
	derBitString   = 0x03
	derOctetString = 0x04
	derOID         = 0x06
	derSequence    = 0x30
	derGeneralStr  = 0x1b
	derGenTime     = 0x18
)

func ctxByte(n uint8) byte { return 0xa0 | n }
func appByte(n uint8) byte { return 0x60 | n }

// integer appends a DER INTEGER (two's complement, minimal).
func (w *derWriter) integer(v int64) {
	var buf [9]byte
	i := len(buf)
	for {
		i--
		buf[i] = byte(v)
		v >>= 8
		if (v == 0 && buf[i]&0x80 == 0) || (v == -1 && buf[i]&0x80 != 0) {
			break
		}
	}
	w.raw(derInteger, buf[i:])
}

// ctxInt appends [tag] INTEGER.
func (w *derWriter) ctxInt(tag uint8, v int64) {
	w.begin(ctxByte(tag))
	w.integer(v)
	w.end()
}

// ctxString appends [tag] GeneralString.
func (w *derWriter) ctxString(tag uint8, v string) {
	w.begin(ctxByte(tag))
	w.begin(derGeneralStr)
	w.b = append(w.b, v...)
	w.end()
	w.end()
}

// ctxOctets appends [tag] OCTET STRING.
func (w *derWriter) ctxOctets(tag uint8, v []byte) {
	w.begin(ctxByte(tag))
	w.raw(derOctetString, v)
	w.end()
}

// ctxTime appends [tag] KerberosTime ("YYYYMMDDHHMMSSZ", UTC, whole seconds).
func (w *derWriter) ctxTime(tag uint8, t time.Time) {
	t = t.UTC()
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	w.begin(ctxByte(tag))
	w.begin(derGenTime)
	w.b = append(w.b, byte('0'+y/1000%10), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10),
		byte('0'+int(mo)/10), byte('0'+int(mo)%10), byte('0'+d/10), byte('0'+d%10),
		byte('0'+h/10), byte('0'+h%10), byte('0'+mi/10), byte('0'+mi%10), byte('0'+s/10), byte('0'+s%10), 'Z')
	w.end()
	w.end()
}

// ctxPrincipal appends [tag] PrincipalName.
func (w *derWriter) ctxPrincipal(tag uint8, p types.PrincipalName) {
	w.begin(ctxByte(tag))
	w.begin(derSequence)
	w.ctxInt(0, int64(p.NameType))
	w.begin(ctxByte(1))
	w.begin(derSequence)
	for _, n := range p.NameString {
		w.begin(derGeneralStr)
		w.b = append(w.b, n...)
		w.end()
	}
	w.end()
	w.end()
	w.end()
	w.end()
}

// ctxEncryptedData appends [tag] EncryptedData.
func (w *derWriter) ctxEncryptedData(tag uint8, etype int32, kvno int, cipher []byte) {
	w.begin(ctxByte(tag))
	w.begin(derSequence)
	w.ctxInt(0, int64(etype))
	if kvno != 0 {
		w.ctxInt(1, int64(uint32(kvno)))
	}
	w.ctxOctets(2, cipher)
	w.end()
	w.end()
}

// ctxKey appends [tag] EncryptionKey.
func (w *derWriter) ctxKey(tag uint8, k types.EncryptionKey) {
	w.begin(ctxByte(tag))
	w.begin(derSequence)
	w.ctxInt(0, int64(k.KeyType))
	w.ctxOctets(1, k.KeyValue)
	w.end()
	w.end()
}

// ctxFlags appends [tag] KerberosFlags (32 bits).
func (w *derWriter) ctxFlags(tag uint8, f KerberosFlags) {
	w.begin(ctxByte(tag))
	w.begin(derBitString)
	w.b = append(w.b, 0, byte(f>>24), byte(f>>16), byte(f>>8), byte(f))
	w.end()
	w.end()
}

// gssBegin appends the GSS-API framing's start (RFC 2743 §3.1): the
// caller writes TOK_ID and the message, then calls end.
func (w *derWriter) gssBegin(oid string, tokID uint16) {
	w.begin(0x60)
	w.begin(derOID)
	w.b = append(w.b, oid...)
	w.end()
	w.b = append(w.b, byte(tokID>>8), byte(tokID))
}

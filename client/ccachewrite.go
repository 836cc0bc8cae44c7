package client

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gatehouse-auth/gatehouse/ccache"
)

// Service tickets go back into the user's FILE ccache, as MIT's library
// does: the next `gatehouse get` (or curl, or klist) finds them there
// instead of asking the KDC again. gokrb5 reads ccaches but cannot write
// them, so the credential is appended here, in the format checkCCache
// reads, under the fcntl lock MIT takes (krb5_lock_file). Nothing is
// written when the file changed owner principal since it was loaded.

// serviceTicket returns a ticket for spn: from gokrb5's cache (which holds
// the ccache's tickets), else from the KDC. With a ccache and a service in
// the client's realm, the TGS exchange is done here so that the reply's
// flags and times can be stored with the ticket.
func (k *kerberos) serviceTicket(spn string) (messages.Ticket, types.EncryptionKey, error) {
	if tkt, key, ok := k.cl.GetCachedTicket(spn); ok {
		return tkt, key, nil
	}
	realm := k.cl.Credentials.Domain()
	princ := types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, spn)
	host := princ.NameString[len(princ.NameString)-1]
	if k.cc == nil || k.ccPath == "" || (k.cl.Config.ResolveRealm(host) != "" && k.cl.Config.ResolveRealm(host) != realm) {
		return k.cl.GetServiceTicket(spn)
	}
	tgt, tgtKey, _, err := k.baseTGT()
	if err != nil {
		return k.cl.GetServiceTicket(spn)
	}
	req, err := messages.NewTGSReq(k.cl.Credentials.CName(), realm, k.cl.Config, tgt, tgtKey, princ, false)
	if err != nil {
		return messages.Ticket{}, types.EncryptionKey{}, err
	}
	_, rep, err := k.cl.TGSExchange(req, realm, tgt, tgtKey, 0)
	if err != nil {
		return messages.Ticket{}, types.EncryptionKey{}, err
	}
	if err := appendCCache(k.ccPath, k.cc.DefaultPrincipal.Realm, k.cc.DefaultPrincipal.PrincipalName, rep); err != nil {
		k.tracef("not storing the ticket for %s in the ccache: %v", spn, err)
	} else {
		k.tracef("ticket for %s stored in the ccache", spn)
	}
	return rep.Ticket, rep.DecryptedEncPart.Key, nil
}

// appendCCache adds the ticket of rep to the ccache at path, whose default
// principal must still be cname@crealm.
func appendCCache(path, crealm string, cname types.PrincipalName, rep messages.TGSRep) error {
	tkt, err := rep.Ticket.Marshal()
	if err != nil {
		return err
	}
	ep := rep.DecryptedEncPart
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_SETLKW, &lk); err != nil {
		return fmt.Errorf("locking: %w", err)
	}
	defer func() {
		lk.Type = syscall.F_UNLCK
		syscall.FcntlFlock(f.Fd(), syscall.F_SETLK, &lk)
	}()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() > maxCCacheSize {
		return fmt.Errorf("ccache is larger than %d bytes", maxCCacheSize)
	}
	cur := make([]byte, st.Size())
	if _, err := f.ReadAt(cur, 0); err != nil {
		return err
	}
	norm, err := checkCCache(cur)
	if err != nil {
		return err
	}
	ver := uint16(cur[1])
	def := ccache.AppendPrincipal(nil, crealm, cname)
	hdr := 2
	if ver == 4 {
		hdr = 4
	}
	if !bytes.HasPrefix(norm[hdr:], def) {
		return fmt.Errorf("the ccache now belongs to another principal")
	}
	start := ep.StartTime
	if start.IsZero() {
		start = ep.AuthTime
	}
	b := marshalCCCredential(def, ver, rep.Ticket.Realm, rep.Ticket.SName, ep.Key,
		[4]time.Time{ep.AuthTime, start, ep.EndTime, ep.RenewTill}, ep.Flags.Bytes, tkt)
	if _, err := f.WriteAt(b, st.Size()); err != nil {
		f.Truncate(st.Size()) // never leave half a credential
		return err
	}
	return nil
}

// marshalCCCredential appends a credential after its client principal
// (already in b): server principal, keyblock, times, flags, no addresses
// or authorization data, the ticket.
func marshalCCCredential(b []byte, ver uint16, srealm string, sname types.PrincipalName, key types.EncryptionKey,
	times [4]time.Time, flags []byte, ticket []byte) []byte {
	b = ccache.AppendPrincipal(b, srealm, sname)
	b = binary.BigEndian.AppendUint16(b, uint16(key.KeyType))
	if ver == 3 {
		b = binary.BigEndian.AppendUint16(b, uint16(key.KeyType))
	}
	b = ccache.AppendData(b, key.KeyValue)
	for _, t := range times {
		b = binary.BigEndian.AppendUint32(b, ccache.Time32(t))
	}
	b = append(b, 0) // is_skey
	var fl [4]byte
	copy(fl[:], flags)
	b = append(b, fl[:]...)
	b = binary.BigEndian.AppendUint32(b, 0) // addresses
	b = binary.BigEndian.AppendUint32(b, 0) // authorization data
	b = ccache.AppendData(b, ticket)
	return ccache.AppendData(b, nil) // second ticket
}

// ccachePath is the file of a FILE: ccache name, "" for other types.
func ccachePath(name string) string {
	path := strings.TrimPrefix(name, "FILE:")
	if strings.Contains(path, ":") {
		return ""
	}
	return path
}

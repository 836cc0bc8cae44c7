package directory

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Membership is what the directory says about a user's groups.
type Membership struct {
	// SIDs: the user's SID then every group's (tokenGroups, or the SIDs
	// given to ResolveSIDs); empty for directories without SIDs.
	SIDs []string
	// Names of the groups that have one: "DOMAIN\name" on Active
	// Directory (the NetBIOS domain, as Windows writes them; BUILTIN for
	// the built-in groups), the group's cn elsewhere.
	Names []string
}

// ErrNoUser is wrapped when the directory has no such user, or (AD) the
// account is disabled.
var ErrNoUser = errors.New("directory: no such user")

// accountDisable is userAccountControl's ACCOUNTDISABLE bit.
const accountDisable = 0x2

// UserGroups returns the groups of the account ("carol", "SAMBA\carol" or
// "carol@SAMBA.TEST"): on Active Directory every group from tokenGroups,
// nested ones included, with their names; elsewhere the groups memberOf
// names (or, without a memberOf attribute, the groups whose member,
// uniqueMember or memberUid names the user). A user the directory does not
// have, a disabled one (AD), or (AD) a name qualified with a domain that is
// not the directory's — its NetBIOS name or the DNS name of its base DN —
// gets ErrNoUser: a user "bob" of a trusted domain is not this domain's
// bob. Other directories have no NetBIOS name: a realm or DNS domain
// ("bob@EXAMPLE.TEST") must be their base DN's (dc=example,dc=test), a
// name without a dot is taken as theirs. Answers are cached for the
// cache time.
func (d *Directory) UserGroups(account string) (*Membership, error) {
	name, domain := splitAccount(account)
	if name == "" {
		return nil, fmt.Errorf("%w: empty account name", ErrNoUser)
	}
	key := strings.ToLower(account)
	now := d.now()
	if m, ok := d.users.get(key, now); ok {
		if m == nil {
			return nil, fmt.Errorf("%w: %s", ErrNoUser, account)
		}
		return m, nil
	}
	// one search per account at a time: a burst of requests for a user
	// whose entry just expired shares the first one's answer
	c, leader := d.flight.join(key)
	if !leader {
		<-c.done
		return c.m, c.err
	}
	defer d.flight.leave(key, c)
	c.m, c.err = d.searchUser(account, name, domain, key, now)
	return c.m, c.err
}

// searchUser asks the directory for UserGroups and caches the answer.
func (d *Directory) searchUser(account, name, domain, key string, now time.Time) (*Membership, error) {
	var m *Membership
	err := d.withConn(func(c *ldap.Conn, info *serverInfo) error {
		var err error
		switch {
		case info.ad && domain != "" && !info.inDomain(domain),
			!info.ad && strings.Contains(domain, ".") && info.dnsDomain != "" && !strings.EqualFold(domain, info.dnsDomain):
			err = fmt.Errorf("%w: %s is not in this directory's domain (%s)", ErrNoUser, account, strings.Trim(info.netbios+", "+info.dnsDomain, ", "))
		case info.ad:
			m, err = d.tokenGroups(c, info, name)
		default:
			m, err = d.memberOf(c, info, name)
		}
		return err
	})
	if errors.Is(err, ErrNoUser) {
		d.users.put(key, nil, now.Add(d.cfg.CacheTTL), now)
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	d.users.put(key, m, now.Add(d.cfg.CacheTTL), now)
	return m, nil
}

// ResolveSIDs names the groups among sids (a Kerberos PAC's): the answer
// keeps every SID, and names those the directory knows as groups; the
// others (the user's own SID, well-known and foreign SIDs) stay SIDs only.
// The answer for the whole list is cached too (a user's PAC carries the
// same list on every request), and must not be modified.
func (d *Directory) ResolveSIDs(sids []string) (*Membership, error) {
	now := d.now()
	setKey := strings.Join(sids, ",")
	if m, ok := d.sidSets.get(setKey, now); ok {
		return m, nil
	}
	m := &Membership{SIDs: slices.Clone(sids)} // kept in the cache: not the caller's slice
	var missing []string
	for _, s := range sids {
		if n, ok := d.sidNames.get(s, now); ok {
			if n != "" {
				m.Names = append(m.Names, n)
			}
			continue
		}
		missing = append(missing, s)
	}
	if len(missing) == 0 {
		d.sidSets.put(setKey, m, now.Add(d.cfg.CacheTTL), now)
		return m, nil
	}
	var found map[string]string
	err := d.withConn(func(c *ldap.Conn, info *serverInfo) error {
		if !info.ad {
			found = map[string]string{}
			return nil
		}
		var err error
		found, err = d.searchSIDs(c, info, missing)
		return err
	})
	if err != nil {
		return nil, err
	}
	m.Names = m.Names[:0]
	for _, s := range sids {
		n, ok := found[s]
		if !ok {
			n, _ = d.sidNames.get(s, now)
		}
		if n != "" {
			m.Names = append(m.Names, n)
		}
	}
	for _, s := range missing {
		d.sidNames.put(s, found[s], now.Add(d.cfg.CacheTTL), now)
	}
	d.sidSets.put(setKey, m, now.Add(d.cfg.CacheTTL), now)
	return m, nil
}

// withConn runs f with a connection; a connection that broke is dropped
// and f is tried once more on a new one.
func (d *Directory) withConn(f func(*ldap.Conn, *serverInfo) error) error {
	for attempt := 0; ; attempt++ {
		c, info, err := d.connection()
		if err != nil {
			return err
		}
		err = f(c, info)
		if err == nil || errors.Is(err, ErrNoUser) {
			return err
		}
		var le *ldap.Error
		broken := c.IsClosing() || errors.As(err, &le) && (le.ResultCode == ldap.ErrorNetwork || le.ResultCode == ldap.LDAPResultServerDown || le.ResultCode == ldap.ErrorUnexpectedResponse)
		if broken {
			d.drop(c)
			if attempt == 0 {
				continue
			}
		}
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, d.addr, err)
	}
}

// tokenGroups reads the user's SID and tokenGroups (MS-ADTS §3.1.1.4.5.19:
// the SIDs of every group the user is in, transitively; readable only by
// a base-scope search) and names the groups.
func (d *Directory) tokenGroups(c *ldap.Conn, info *serverInfo, name string) (*Membership, error) {
	res, err := c.Search(ldap.NewSearchRequest(info.baseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 2, int(opTimeout.Seconds()), false,
		"(&(objectClass=user)(sAMAccountName="+ldap.EscapeFilter(name)+"))", []string{"objectSid", "userAccountControl"}, nil))
	if err != nil {
		return nil, fmt.Errorf("searching for user %s: %w", name, err)
	}
	if len(res.Entries) != 1 {
		return nil, fmt.Errorf("%w: %s (%d entries)", ErrNoUser, name, len(res.Entries))
	}
	user := res.Entries[0]
	// ACCOUNTDISABLE (MS-ADTS §2.2.16): a disabled account is no member
	// of anything here.
	if uac, err := strconv.ParseUint(user.GetAttributeValue("userAccountControl"), 10, 32); err == nil && uac&accountDisable != 0 {
		return nil, fmt.Errorf("%w: %s is disabled", ErrNoUser, name)
	}
	res, err = c.Search(ldap.NewSearchRequest(user.DN, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, int(opTimeout.Seconds()), false,
		"(objectClass=*)", []string{"tokenGroups"}, nil))
	if err != nil {
		return nil, fmt.Errorf("reading tokenGroups of %s: %w", user.DN, err)
	}
	if len(res.Entries) != 1 {
		return nil, fmt.Errorf("reading tokenGroups of %s: %d entries", user.DN, len(res.Entries))
	}
	var sids []string
	if s, err := DecodeSID(user.GetRawAttributeValue("objectSid")); err == nil {
		sids = append(sids, s.String())
	}
	for _, raw := range res.Entries[0].GetRawAttributeValues("tokenGroups") {
		s, err := DecodeSID(raw)
		if err != nil {
			return nil, fmt.Errorf("tokenGroups of %s: %w", user.DN, err)
		}
		sids = append(sids, s.String())
	}
	now := d.now()
	var missing []string
	names := map[string]string{}
	for _, s := range sids {
		if n, ok := d.sidNames.get(s, now); ok {
			names[s] = n
		} else {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		found, err := d.searchSIDs(c, info, missing)
		if err != nil {
			return nil, err
		}
		for _, s := range missing {
			names[s] = found[s]
			d.sidNames.put(s, found[s], now.Add(d.cfg.CacheTTL), now)
		}
	}
	m := &Membership{SIDs: sids}
	for _, s := range sids {
		if n := names[s]; n != "" {
			m.Names = append(m.Names, n)
		}
	}
	return m, nil
}

// searchSIDs finds the groups among sids by objectSid, in batches, and
// returns their names by SID.
func (d *Directory) searchSIDs(c *ldap.Conn, info *serverInfo, sids []string) (map[string]string, error) {
	found := map[string]string{}
	for len(sids) > 0 {
		batch := sids[:min(len(sids), maxSIDsPerSearch)]
		sids = sids[len(batch):]
		var f strings.Builder
		f.WriteString("(&(objectClass=group)(|")
		n := 0
		for _, s := range batch {
			sid, err := ParseSID(s)
			if err != nil {
				continue // not a SID: it cannot name a group
			}
			f.WriteString("(objectSid=" + ldapEscapeBytes(sid.Bytes()) + ")")
			n++
		}
		f.WriteString("))")
		if n == 0 {
			continue
		}
		res, err := c.Search(ldap.NewSearchRequest(info.baseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, len(batch), int(opTimeout.Seconds()), false,
			f.String(), []string{"objectSid", "sAMAccountName", "cn"}, nil))
		if err != nil {
			return nil, fmt.Errorf("searching group SIDs: %w", err)
		}
		for _, e := range res.Entries {
			sid, err := DecodeSID(e.GetRawAttributeValue("objectSid"))
			if err != nil {
				continue
			}
			name := e.GetAttributeValue("sAMAccountName")
			if name == "" {
				name = e.GetAttributeValue("cn")
			}
			if name == "" {
				continue
			}
			s := sid.String()
			found[s] = groupName(info, s, name)
		}
	}
	return found, nil
}

// groupName is the name Windows shows: BUILTIN\ for the built-in domain
// (S-1-5-32), the NetBIOS domain for the rest.
func groupName(info *serverInfo, sid, name string) string {
	switch {
	case strings.HasPrefix(sid, "S-1-5-32-"):
		return `BUILTIN\` + name
	case info.netbios != "":
		return info.netbios + `\` + name
	}
	return name
}

// memberOf is the groups of a user of a directory without tokenGroups:
// memberOf when the server keeps it (OpenLDAP's memberof overlay, 389 DS),
// otherwise the groups that list the user (groupOfNames,
// groupOfUniqueNames, posixGroup). Only direct groups.
func (d *Directory) memberOf(c *ldap.Conn, info *serverInfo, name string) (*Membership, error) {
	esc := ldap.EscapeFilter(name)
	res, err := c.Search(ldap.NewSearchRequest(info.baseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 2, int(opTimeout.Seconds()), false,
		"(|(uid="+esc+")(sAMAccountName="+esc+"))", []string{"memberOf"}, nil))
	if err != nil {
		return nil, fmt.Errorf("searching for user %s: %w", name, err)
	}
	if len(res.Entries) != 1 {
		return nil, fmt.Errorf("%w: %s (%d entries)", ErrNoUser, name, len(res.Entries))
	}
	user := res.Entries[0]
	m := &Membership{}
	if dns := user.GetAttributeValues("memberOf"); len(dns) > 0 {
		for _, dn := range dns {
			if n := firstRDNValue(dn); n != "" {
				m.Names = append(m.Names, n)
			}
		}
		return m, nil
	}
	dnEsc := ldap.EscapeFilter(user.DN)
	res, err = c.Search(ldap.NewSearchRequest(info.baseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, int(opTimeout.Seconds()), false,
		"(|(member="+dnEsc+")(uniqueMember="+dnEsc+")(memberUid="+esc+"))", []string{"cn"}, nil))
	if err != nil {
		return nil, fmt.Errorf("searching the groups of %s: %w", user.DN, err)
	}
	for _, e := range res.Entries {
		if n := e.GetAttributeValue("cn"); n != "" {
			m.Names = append(m.Names, n)
		}
	}
	return m, nil
}

// firstRDNValue is the value of a DN's first RDN ("Staff" for
// "cn=Staff,ou=groups,dc=example,dc=test"), "" if the DN does not parse.
func firstRDNValue(dn string) string {
	p, err := ldap.ParseDN(dn)
	if err != nil || len(p.RDNs) == 0 || len(p.RDNs[0].Attributes) == 0 {
		return ""
	}
	return p.RDNs[0].Attributes[0].Value
}

// splitAccount: "SAMBA\carol" and "carol@SAMBA.TEST" are carol of SAMBA
// and of SAMBA.TEST; "carol" has no domain.
func splitAccount(account string) (name, domain string) {
	if i := strings.LastIndexByte(account, '\\'); i >= 0 {
		return account[i+1:], account[:i]
	}
	if i := strings.LastIndexByte(account, '@'); i >= 0 {
		return account[:i], account[i+1:]
	}
	return account, ""
}

// Remember caches m as the account's groups (the account as UserGroups
// will be asked for it) for the cache time, as if the directory had answered: for programs that learn a user's groups another
// way, and for tests and benchmarks without a directory.
func (d *Directory) Remember(account string, m *Membership) {
	now := d.now()
	d.users.put(strings.ToLower(account), m, now.Add(d.cfg.CacheTTL), now)
}

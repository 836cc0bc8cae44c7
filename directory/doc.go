// Package directory asks an LDAP directory (Active Directory, Samba AD, or
// a plain LDAP server such as OpenLDAP) which groups a user belongs to and
// what a group SID is called, for authorization by group name.
//
// It is for: the groups of a user that a domain controller authenticated
// (NTLM through winbind, Basic through the KDC), read from tokenGroups on
// Active Directory (every group, nested ones included) or memberOf
// elsewhere; and the names of the group SIDs a Kerberos ticket's PAC
// carries, found by an objectSid search. Answers are kept for a bounded
// time in a bounded cache, so a request whose user was seen recently costs
// a map lookup.
//
// It is not for: authenticating users (binds as users are never made; the
// directory is read with one service identity, bound with a password or
// with Kerberos), writing to the directory, or anything HTTP. It speaks
// LDAP only over TLS (ldaps:// or StartTLS).
//
// Failure is explicit: when the directory cannot be reached or refuses the
// bind, lookups return an error wrapping ErrUnavailable and the caller
// decides (Gatehouse refuses the requests whose rules need groups).
package directory

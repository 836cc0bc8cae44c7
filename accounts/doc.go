// Package accounts is Gatehouse's local account store: a SQLite file (pure Go,
// modernc.org/sqlite) holding, per account, what each scheme needs to verify a
// password without keeping the password itself:
//
//   - an Argon2id hash (PHC string) for Basic;
//   - the NT hash, MD4(UTF-16LE(password)), for NTLM (MS-NLMP §3.3.1);
//   - Digest HA1 values H(user:realm:password) for MD5 and SHA-256 in the
//     store's realm, and the matching RFC 7616 userhash values;
//   - group memberships.
//
// The NT hash and HA1 values are password equivalents for their protocols, so
// the file is created mode 0600 and Open refuses a file that other users can
// read. Passwords never leave this package except as those derived values.
//
// It is not a directory service: no password policy, no lockout, no sync.
package accounts

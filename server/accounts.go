package server

import (
	"github.com/gatehouse-auth/gatehouse/accounts"
	"github.com/gatehouse-auth/gatehouse/digest"
)

// Accounts is where the Gate finds the accounts Basic, Digest and NTLM log
// in to, and the groups of a user: the local *accounts.Store, or anything
// else that can answer the same questions (a directory).
type Accounts interface {
	// Realm is the Digest realm the stored HA1 values are bound to.
	Realm() string
	// Lookup returns an account's credentials and groups, or an error
	// wrapping accounts.ErrNotFound.
	Lookup(name string) (*accounts.Credentials, error)
	// LookupUserHash finds an account by its RFC 7616 §3.4.4 userhash.
	LookupUserHash(a digest.Algorithm, userhash string) (*accounts.Credentials, error)
	// CheckPassword verifies a password: ok false for a wrong one, an
	// error wrapping accounts.ErrNotFound for an unknown user (after the
	// same work as a known one), another error for a technical failure.
	CheckPassword(name, password string) (cr *accounts.Credentials, ok bool, err error)
}

var _ Accounts = (*accounts.Store)(nil)

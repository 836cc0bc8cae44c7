package server

import (
	"errors"
	"net/http"

	"github.com/gatehouse-auth/gatehouse/accounts"
	"github.com/gatehouse-auth/gatehouse/authheader"
	"github.com/gatehouse-auth/gatehouse/digest"
)

// digestScheme is RFC 7616 Digest against the account store's HA1 values.
type digestScheme struct {
	srv    *digest.Server
	domain string
	store  Accounts
}

func (d *digestScheme) Name() string               { return "Digest" }
func (d *digestScheme) Accepts(*http.Request) bool { return true }
func (d *digestScheme) Challenges(_ *http.Request, stale bool) []string {
	return d.srv.Challenges(stale)
}

func (d *digestScheme) Authenticate(w http.ResponseWriter, r *http.Request, c *authheader.Credentials) outcome {
	resp, err := digest.ParseResponse(c.Params)
	if err != nil {
		return bad(err.Error())
	}
	user := resp.Username
	if err := d.srv.CheckRequest(resp, r.RequestURI); err != nil {
		return fail(err.Error(), user)
	}
	alg := digest.MD5
	if resp.Algorithm == digest.SHA256 {
		alg = digest.SHA256
	}
	var cr *accounts.Credentials
	if resp.UserHash {
		cr, err = d.store.LookupUserHash(alg, resp.Username)
	} else {
		cr, err = d.store.Lookup(resp.Username)
	}
	var ha1 string
	switch {
	case errors.Is(err, accounts.ErrNotFound):
		// Spend the same hashing on an unknown user, then fail.
		_ = d.srv.Verify(resp, r.Method, alg.HA1("", d.srv.Realm, ""))
		return fail("unknown user", user)
	case err != nil:
		return outcome{res: resError, reason: err.Error(), user: user}
	default:
		user = cr.Name
		ha1 = cr.HA1(alg)
	}
	switch err := d.srv.Verify(resp, r.Method, ha1); {
	case errors.Is(err, digest.ErrStale):
		return outcome{res: resStale, reason: "nonce expired", user: user}
	case errors.Is(err, digest.ErrUnavailable):
		return outcome{res: resUnavailable, reason: err.Error(), user: user}
	case err != nil:
		return fail(err.Error(), user)
	}
	return outcome{
		res: resSuccess, user: user,
		id:     localIdentity(cr, d.domain, "Digest", "password", r),
		header: []string{resp.AuthenticationInfo(ha1)},
	}
}

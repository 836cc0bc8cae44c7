package server

import (
	"net/http"

	"github.com/gatehouse-auth/gatehouse/authheader"
)

// result is what a scheme decides about one Authorization header. A failed
// login (resFail, resStale) is kept apart from a request that breaks the
// protocol (resBad) and from a handshake that needs another leg
// (resContinue).
type result int

const (
	resSuccess     result = iota
	resContinue           // 401 carrying only the scheme's next token
	resFail               // 401 with every challenge
	resStale              // 401 with every challenge, Digest's marked stale
	resBad                // 400
	resError              // 500: technical failure (store unreadable…)
	resBusy               // 503: too many handshakes in progress
	resUnavailable        // 503: a service the check needs (the KDC) cannot be reached
)

type outcome struct {
	res    result
	id     *Identity
	reason string   // for the log; never a secret
	user   string   // the user name claimed, for the log
	header []string // WWW-Authenticate values (resContinue) or Authentication-Info (resSuccess)
}

// scheme is one authentication scheme as the HTTP layer drives it.
type scheme interface {
	// Name is the scheme as written in headers ("Digest").
	Name() string
	// Challenges returns the WWW-Authenticate values offered on r (none,
	// e.g. for Basic over plain HTTP unless allowed).
	Challenges(r *http.Request, stale bool) []string
	// Accepts reports whether the scheme takes credentials on r at all.
	Accepts(r *http.Request) bool
	// Authenticate checks the credentials.
	Authenticate(w http.ResponseWriter, r *http.Request, c *authheader.Credentials) outcome
}

func fail(reason, user string) outcome { return outcome{res: resFail, reason: reason, user: user} }
func bad(reason string) outcome        { return outcome{res: resBad, reason: reason} }

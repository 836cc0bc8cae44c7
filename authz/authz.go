// Package authz is URL authorization as ASP.NET's UrlAuthorizationModule
// does it: an ordered list of allow and deny rules, each naming users,
// roles (groups) and verbs; the first rule that matches decides, and when
// none matches the request is allowed (the machine-wide default
// <allow users="*"/>).
//
// "*" stands for every user, anonymous included; "?" for the anonymous user.
// Names compare case-insensitively, as Windows account names do. A role
// names a group by its bare name ("Finance"), its domain-qualified name
// ("SAMBA\Finance") or its SID ("S-1-5-21-…-1105"). The package
// decides; it does not know HTTP status codes or how identities are made.
package authz

import (
	"errors"
	"fmt"
	"strings"
)

// Rule is one <allow> or <deny> element.
type Rule struct {
	Allow bool
	Users []string // account names, "*" or "?"
	Roles []string // group names, DOMAIN\name or SIDs (see Subject.InRole)
	Verbs []string // HTTP methods; empty means every verb
}

// Subject is who is asking.
type Subject struct {
	Anonymous bool
	// Names are the spellings the user may be named by in a rule:
	// "alice", "EXAMPLE\alice", "alice@EXAMPLE.TEST".
	Names []string
	// Groups are group names, bare ("staff") or domain-qualified
	// ("SAMBA\Finance"); SIDs the user's and its groups' SIDs.
	Groups []string
	SIDs   []string
}

// InRole reports whether the subject is in the group a role names: the
// role equals, case-insensitively, one of the groups, the part after the
// backslash of a domain-qualified group (when the role has no domain), or
// one of the SIDs.
func (s Subject) InRole(role string) bool {
	if s.Anonymous {
		return false
	}
	bare := !strings.Contains(role, `\`)
	for _, g := range s.Groups {
		if strings.EqualFold(g, role) {
			return true
		}
		if bare {
			if i := strings.LastIndexByte(g, '\\'); i >= 0 && strings.EqualFold(g[i+1:], role) {
				return true
			}
		}
	}
	if len(role) > 4 && strings.EqualFold(role[:4], "S-1-") {
		return containsFold(s.SIDs, role)
	}
	return false
}

// ErrInvalidRule is returned by Validate.
var ErrInvalidRule = errors.New("authz: invalid rule")

// Validate reports a rule that can never match or is malformed.
func (r Rule) Validate() error {
	if len(r.Users) == 0 && len(r.Roles) == 0 {
		return fmt.Errorf("%w: a rule needs users or roles", ErrInvalidRule)
	}
	for _, u := range append(append([]string{}, r.Users...), r.Roles...) {
		if strings.TrimSpace(u) == "" {
			return fmt.Errorf("%w: empty user or role name", ErrInvalidRule)
		}
	}
	for _, v := range r.Verbs {
		if v == "" || strings.ContainsAny(v, " \t,") {
			return fmt.Errorf("%w: bad verb %q", ErrInvalidRule, v)
		}
	}
	return nil
}

// Matches reports whether the rule applies to s doing verb.
func (r Rule) Matches(s Subject, verb string) bool {
	if len(r.Verbs) > 0 && !containsFold(r.Verbs, verb) {
		return false
	}
	for _, u := range r.Users {
		switch {
		case u == "*":
			return true
		case u == "?":
			if s.Anonymous {
				return true
			}
		case !s.Anonymous && containsFold(s.Names, u):
			return true
		}
	}
	for _, g := range r.Roles {
		if s.InRole(g) {
			return true
		}
	}
	return false
}

// Rules is an ordered rule list.
type Rules []Rule

// Decide returns whether s may do verb, and the index of the deciding rule
// (-1 when no rule matched and the default allowed it).
func (rs Rules) Decide(s Subject, verb string) (allowed bool, rule int) {
	for i, r := range rs {
		if r.Matches(s, verb) {
			return r.Allow, i
		}
	}
	return true, -1
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

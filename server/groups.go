package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/gatehouse-auth/gatehouse/directory"
)

// GroupDirectory is where domain users' groups come from;
// *directory.Directory is one.
type GroupDirectory interface {
	// UserGroups: the groups of an account the domain authenticated
	// (tokenGroups, or memberOf): "DOMAIN\\name", "name@REALM" or a
	// bare name (a session's, of the directory's own domain).
	UserGroups(account string) (*directory.Membership, error)
	// ResolveSIDs: names for the group SIDs of a Kerberos PAC.
	ResolveSIDs(sids []string) (*directory.Membership, error)
	// URL names the directory in log lines.
	URL() string
}

// IsInRole reports whether the identity is in the group role names: its
// bare name ("Finance"), its DOMAIN\name, or its SID, compared
// case-insensitively — the rule authorization roles: follow.
func (id *Identity) IsInRole(role string) bool { return subjectOf(id).InRole(role) }

// withGroups returns id with the groups the directory gives a domain user
// (a copy: id itself may be kept by a connection), or id unchanged when
// there is no directory or the user is not a domain user. When the
// directory cannot answer it logs one line naming the directory and the
// error; if the site's rules name roles (which then cannot be decided:
// for a Kerberos user, roles other than SIDs) the request is refused with
// 503, and nil is returned after the response was written. A user the
// directory does not have keeps the groups it had. Local accounts keep
// their local groups and never ask the directory.
func (g *Gate) withGroups(w http.ResponseWriter, r *http.Request, st *site, id *Identity) *Identity {
	if g.dir == nil || id == nil || (id.dirAccount == "" && !id.pacSIDs) {
		return id
	}
	var m *directory.Membership
	var err error
	if id.pacSIDs {
		m, err = g.dir.ResolveSIDs(id.SIDs)
	} else {
		m, err = g.dir.UserGroups(id.dirAccount)
	}
	if errors.Is(err, directory.ErrNoUser) {
		g.metrics.directory[dirNotFound].Inc()
		// an answer, not a failure: the user has no groups there (another
		// realm's Kerberos user, an account the directory does not hold)
		g.log.Debug("not in the directory", "directory", g.dir.URL(), "user", id.User, "reason", err)
		return id
	}
	if err != nil {
		g.metrics.directory[dirUnavailable].Inc()
		g.log.Error("directory lookup failed", "directory", g.dir.URL(), "user", id.User, "error", err, "path", r.URL.Path)
		if !st.needsGroups || id.pacSIDs && !st.needsNames {
			// nothing to decide, or only SIDs, which the PAC has
			return id
		}
		w.Header().Set("Retry-After", "5")
		http.Error(w, "503 Service Unavailable: the directory that holds the groups cannot be reached", http.StatusServiceUnavailable)
		return nil
	}
	g.metrics.directory[dirOK].Inc()
	cp := *id
	cp.Groups = slices.Concat(id.Groups, m.Names)
	if !id.pacSIDs {
		cp.SIDs = m.SIDs
	}
	if !id.pacSIDs {
		// the directory vouched that this is its domain's user (a
		// Kerberos PAC may be another domain's): its session is looked
		// up there again by name
		cp.account = directorySourceName
	}
	cp.dirAccount, cp.pacSIDs = "", false
	return &cp
}

// directorySourceName is the AccountSource of domain users whose groups
// came from the directory: their sessions are looked up again there.
const directorySourceName = "directory"

// directorySource is the directory as an AccountSource for NTLM and
// Basic users of its domain: a session's groups are the user's groups now (tokenGroups or memberOf, through the
// directory's cache); a user the directory no longer has, or that is
// disabled, ends the session. The session keeps the SIDs of its login.
type directorySource struct{ dir GroupDirectory }

func (s directorySource) Revalidate(_ context.Context, name string) ([]string, error) {
	m, err := s.dir.UserGroups(name)
	if errors.Is(err, directory.ErrNoUser) {
		return nil, fmt.Errorf("%w: %v", ErrAccountGone, err)
	}
	if err != nil {
		return nil, err
	}
	return m.Names, nil
}

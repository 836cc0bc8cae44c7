package server

import (
	"strings"

	"github.com/gatehouse-auth/gatehouse/authz"
)

// inheritRules gives each site the rules ASP.NET would check for it: the
// site's own, then those of each enclosing site from the nearest to "/",
// then top (the top-level authorization); the first that matches decides,
// none matching allows. A child site without rules is thus as closed as
// its parent, as a subdirectory's web.config inherits its parent's
// <authorization> in IIS. sites is sorted longest path first.
func inheritRules(sites []*site, top authz.Rules) {
	own := make([]authz.Rules, len(sites))
	for i, st := range sites {
		own[i] = st.rules
	}
	for i, st := range sites {
		var rules authz.Rules
		rules = append(rules, own[i]...)
		for j := i + 1; j < len(sites); j++ {
			if encloses(sites[j].path, st.path) {
				rules = append(rules, own[j]...)
			}
		}
		st.rules = append(rules, top...)
	}
}

// encloses reports whether the site at parent covers the site at child
// (both cleaned, lower-case).
func encloses(parent, child string) bool {
	return parent != child && (parent == "/" || strings.HasPrefix(child, parent+"/"))
}

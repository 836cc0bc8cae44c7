// Package epa is Extended Protection for Authentication: the policy that
// decides, from what the client's Kerberos or NTLM token said about the
// channel (channel binding, RFC 5929) and the service it meant (service
// binding, its SPN), whether an otherwise successful authentication is let
// through. The outcomes are those .NET's HttpListener documents
// (ExtendedProtectionPolicy: PolicyEnforcement Never / WhenSupported /
// Always, ProtectionScenario TransportSelected / TrustedProxy, custom
// service-name lists), including what ServiceName reports.
//
// It decides only; the schemes gather the evidence and package cbt
// computes the bindings.
package epa

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Enforcement is PolicyEnforcement.
type Enforcement int

// Enforcement values.
const (
	Never         Enforcement = iota // no check
	WhenSupported                    // partially hardened: check what the client sent
	Always                           // fully hardened: the client must send it
)

// Scenario is ProtectionScenario.
type Scenario int

// Scenario values.
const (
	TransportSelected Scenario = iota // channel binding on TLS, service binding on plain HTTP
	// TrustedProxy: TLS ends at a trusted front end. Service binding
	// only, unless the front end's certificates are known (the seeds'
	// custom ChannelBinding): then channel binding to them, as on TLS.
	TrustedProxy
)

// ParseEnforcement reads the config spelling.
func ParseEnforcement(s string) (Enforcement, error) {
	switch s {
	case "never", "":
		return Never, nil
	case "when_supported":
		return WhenSupported, nil
	case "always":
		return Always, nil
	}
	return 0, fmt.Errorf("epa: enforcement %q is not never | when_supported | always", s)
}

// ParseScenario reads the config spelling.
func ParseScenario(s string) (Scenario, error) {
	switch s {
	case "transport_selected", "":
		return TransportSelected, nil
	case "trusted_proxy":
		return TrustedProxy, nil
	}
	return 0, fmt.Errorf("epa: scenario %q is not transport_selected | trusted_proxy", s)
}

// Policy is an ExtendedProtectionPolicy.
type Policy struct {
	Enforcement Enforcement
	Scenario    Scenario
	// ServiceNames are the acceptable SPNs ("HTTP/host", "HTTP/host:port");
	// compared case-insensitively, a realm suffix ignored.
	ServiceNames []string
}

// Evidence is what one successful authentication showed.
type Evidence struct {
	// TLS: the request came over TLS that this server terminated (an
	// outer channel to bind to).
	TLS bool
	// FrontEnd (TrustedProxy only): the request came through a trusted
	// front end that terminated TLS with a certificate this server knows
	// (.NET's custom ChannelBinding), so there is a channel to bind to
	// although the request reached us over plain HTTP.
	FrontEnd bool
	// BindingSent: the client put a (non-empty) channel binding in its
	// token; BindingMatch: it equals the one expected for this TLS
	// channel, or with FrontEnd, for one of the front end's certificates.
	BindingSent, BindingMatch bool
	// SPNCapable: the client's token could carry a service binding
	// (Kerberos always; NTLM when it is Extended Protection aware, i.e.
	// sent MsvAvTargetName or channel bindings). SPN is what it carried
	// ("" when capable but empty).
	SPNCapable bool
	SPN        string
}

// Decision is the outcome.
type Decision struct {
	Allow  bool
	Reason string // for the log when !Allow
	// ServiceName as .NET's ServiceName: nil where the client could not
	// send one, "" where it could but did not, else the SPN.
	ServiceName *string
	// ChannelBinding: verified | absent | not_applicable (no TLS here).
	ChannelBinding string
}

// ErrDenied wraps every refusal reason.
var ErrDenied = errors.New("epa: extended protection check failed")

// Check applies the policy.
func (p *Policy) Check(e Evidence) Decision {
	d := Decision{ChannelBinding: "not_applicable"}
	frontEnd := p.Scenario == TrustedProxy && e.FrontEnd
	if e.TLS || frontEnd {
		d.ChannelBinding = "absent"
		if e.BindingSent && e.BindingMatch {
			d.ChannelBinding = "verified"
		}
	}
	if e.SPNCapable {
		spn := e.SPN
		d.ServiceName = &spn
	}
	deny := func(format string, a ...any) Decision {
		d.Allow, d.Reason = false, fmt.Sprintf(format, a...)
		return d
	}
	if p.Enforcement == Never {
		d.Allow = true
		return d
	}
	if p.Scenario == TransportSelected && e.TLS || frontEnd {
		// HTTPS, outcomes 2 and 3: the binding decides, no service name
		// check. The same for TLS at a front end whose certificate is
		// known: exactly as if this server had terminated it.
		channel := "this TLS channel"
		if frontEnd {
			channel = "the front end's TLS channel"
		}
		switch {
		case e.BindingSent && !e.BindingMatch:
			return deny("channel binding does not match %s (a relayed or forwarded credential?)", channel)
		case !e.BindingSent && p.Enforcement == Always:
			return deny("client sent no channel binding and the policy requires one (enforcement: always)")
		}
		d.Allow = true
		return d
	}
	// Plain HTTP, or TLS ended at a trusted proxy: service binding,
	// outcomes 2 to 4.
	switch {
	case !e.SPNCapable:
		if p.Enforcement == Always {
			return deny("client cannot send a service binding and the policy requires one (enforcement: always)")
		}
		d.Allow = true
		return d
	case e.SPN == "":
		return deny("client is extended-protection aware but sent no service name")
	case !p.Matches(e.SPN):
		return deny("service name %q is not one of this server's (%s)", e.SPN, strings.Join(p.ServiceNames, ", "))
	}
	d.Allow = true
	return d
}

// Matches reports whether spn is in the service-name list.
func (p *Policy) Matches(spn string) bool {
	s := normalize(spn)
	for _, n := range p.ServiceNames {
		if normalize(n) == s {
			return true
		}
	}
	return false
}

// normalize lowercases an SPN and drops a realm suffix.
func normalize(spn string) string {
	if i := strings.LastIndexByte(spn, '@'); i >= 0 {
		spn = spn[:i]
	}
	return strings.ToLower(spn)
}

// SPNHost is the host part of the SPN a client asks for to reach host:
// host itself as written (no DNS canonicalisation), "localhost" for a
// loopback address or no host. Clients, the proxy's upstream
// authentication and DefaultServiceNames all follow it.
func SPNHost(host string) string {
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() || host == "" {
		return "localhost"
	}
	return host
}

// HostSPN is the HTTP service principal for host: "HTTP/" + SPNHost(host).
func HostSPN(host string) string { return "HTTP/" + SPNHost(host) }

// DefaultServiceNames derives the list from listener addresses and host
// names: HTTP/host and HTTP/host:port for each, with "localhost" for
// loopback addresses (as HttpListener derives them from its prefixes).
func DefaultServiceNames(addrs []string, hosts []string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(s string) {
		if !seen[strings.ToLower(s)] {
			seen[strings.ToLower(s)] = true
			out = append(out, s)
		}
	}
	for _, a := range addrs {
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			continue
		}
		names := append([]string{}, hosts...)
		if h := SPNHost(host); net.ParseIP(h) == nil {
			names = append(names, h) // no SPN for a bare non-loopback address
		}
		for _, h := range names {
			add("HTTP/" + h)
			if _, err := strconv.Atoi(port); err == nil && port != "0" {
				add("HTTP/" + h + ":" + port)
			}
		}
	}
	for _, h := range hosts {
		add("HTTP/" + h)
	}
	return out
}

// Package client is Gatehouse's HTTP client side: an http.RoundTripper that
// answers 401 (server) and 407 (proxy) challenges with Basic, Digest, NTLM
// or Negotiate, picking the strongest offered scheme the caller allows, and
// keeps authenticating pre-emptively to a host once it has succeeded there,
// so that a session of many requests costs one 401.
//
// Credentials are per target (server, proxy) as BITS's SetCredentials has
// them. Basic is never sent over plain HTTP unless the caller names it.
// Request bodies are replayed after a 401 (GetBody, or a bounded buffer).
//
// Config builds a Transport the way `gatehouse get` and jobs take their
// settings: the proxy from -x, client.yaml (Policy) or HTTP_PROXY,
// HTTPS_PROXY and NO_PROXY (proxy.go has the order), https tunnelled with
// CONNECT through ConnectDialer; implicit credentials only to the hosts
// ImplicitAllow names; an Identity (a ccache, keytab or NTLM user file of
// a job's own) in place of the process's environment.
//
// It is not a cookie jar, a redirect policy or a retry loop: those stay
// with http.Client.
package client

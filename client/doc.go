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
// It is not a cookie jar, a redirect policy or a retry loop: those stay
// with http.Client.
package client

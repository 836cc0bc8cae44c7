// Package server is Gatehouse's HTTP layer: a net/http middleware that
// authenticates requests the way IIS does and hands the application an
// Identity in the request context.
//
// For each request it finds the site (the longest matching path prefix, like
// an IIS virtual directory), treats a request without credentials as
// anonymous, and where the site does not allow anonymous access answers 401
// with one WWW-Authenticate challenge per enabled scheme, strongest first
// (Negotiate, NTLM, Digest, Basic). Credentials are checked by the scheme
// packages (digest, ntlm, krb…) against an account store; URL authorization
// (package authz) then decides, answering 401 to an anonymous request it
// denies and 403 to an authenticated one.
//
// The package composes protocol packages; it does not implement the
// protocols itself, and it does not read Gatehouse's configuration file:
// internal/daemon turns that into listeners and a Gate for `gatehouse
// serve`. Each scheme is an HTTP adapter: it decodes the header's token,
// steps a mechanism context (an spnego.Acceptor for Negotiate, an
// ntlm.Acceptor for NTLM; kept on the connection while a handshake needs
// more legs) and maps the result to an outcome (200, 401, 400, 503, 500).
//
// A Go program builds a Gate with New and wraps its own handler (see the
// examples); NTLM works without further wiring, and setting the
// http.Server's ConnContext and ConnState to the Gate's lets a connection's
// state go as soon as it closes.
package server

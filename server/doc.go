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
// serve`; a Go program builds a Gate with New and wraps its own handler.
package server

// Package digest implements the server side of HTTP Digest access
// authentication, RFC 7616: challenges (SHA-256 offered before MD5, qop=auth,
// userhash, charset=UTF-8), parsing and checking of the client's response,
// stateless nonces (a MAC over a time and random bytes, so the server keeps
// no table of issued nonces), nonce-count replay tracking in bounded memory,
// and the Authentication-Info rspauth.
//
// It works on stored HA1 values, never on passwords, and does not import
// net/http: the HTTP layer passes it the method, request-target and
// parsed auth-params. It does not do the -sess algorithms or auth-int.
package digest

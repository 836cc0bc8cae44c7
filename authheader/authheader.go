// Package authheader parses and formats the HTTP authentication framework's
// headers (RFC 7235 §2.1, §4): Authorization / Proxy-Authorization
// credentials and WWW-Authenticate / Proxy-Authenticate challenge lists.
//
// It knows the grammar, not the schemes: a scheme package (basic, digest,
// ntlm…) interprets the token68 or the auth-params. Scheme names compare
// case-insensitively, several challenges in one header value are split, and
// auth-params keep their order.
package authheader

import (
	"errors"
	"fmt"
	"strings"
)

// Limits on what a peer may send. They bound the work and memory one header
// costs; real headers are far below them.
const (
	// MaxHeaderLen is the longest credentials value accepted. Kerberos
	// tokens carrying a large PAC reach about 12 KiB base64-encoded; IIS's
	// default MaxFieldLength is 16 KiB.
	MaxHeaderLen = 16 << 10
	// MaxParams bounds auth-params per challenge or credentials; Digest,
	// the richest scheme, uses about a dozen.
	MaxParams = 32
)

// Schemes are the authentication schemes Gatehouse knows, lower-case, in
// IIS's order of strength: the order a server sends its challenges in and
// a client prefers them. The last two have no header of their own (a TLS
// client certificate, no credentials at all).
var Schemes = []string{"negotiate", "ntlm", "digest", "basic", "certificate", "anonymous"}

// Errors returned for malformed input.
var (
	ErrMalformed = errors.New("authheader: malformed header")
	ErrTooLong   = errors.New("authheader: header too long")
)

// Param is one auth-param. Name is lowercased (names are case-insensitive,
// RFC 7235 §2.1); Value is unquoted.
type Param struct {
	Name, Value string
}

// Credentials is a parsed Authorization or Proxy-Authorization value:
// either Token68 or Params is set, or neither.
type Credentials struct {
	Scheme  string // as sent; compare with strings.EqualFold
	Token68 string
	Params  []Param
}

// Param returns the value of the named parameter and whether it was present.
func (c *Credentials) Param(name string) (string, bool) { return lookup(c.Params, name) }

// Challenge is one challenge of a WWW-Authenticate or Proxy-Authenticate
// header.
type Challenge struct {
	Scheme  string
	Token68 string
	Params  []Param
}

// Param returns the value of the named parameter and whether it was present.
func (c *Challenge) Param(name string) (string, bool) { return lookup(c.Params, name) }

func lookup(ps []Param, name string) (string, bool) {
	for _, p := range ps {
		if strings.EqualFold(p.Name, name) {
			return p.Value, true
		}
	}
	return "", false
}

// ParseCredentials parses an Authorization header value.
func ParseCredentials(v string) (*Credentials, error) {
	if len(v) > MaxHeaderLen {
		return nil, ErrTooLong
	}
	p := parser{s: v}
	p.skipSpace()
	scheme := p.token()
	if scheme == "" {
		return nil, fmt.Errorf("%w: no scheme", ErrMalformed)
	}
	c := &Credentials{Scheme: scheme}
	if !p.space() {
		if p.done() {
			return c, nil
		}
		return nil, fmt.Errorf("%w: no space after scheme", ErrMalformed)
	}
	p.skipSpace()
	if p.done() {
		return c, nil
	}
	t68, params, err := p.body(false)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if !p.done() {
		return nil, fmt.Errorf("%w: trailing data", ErrMalformed)
	}
	c.Token68, c.Params = t68, params
	return c, nil
}

// ParseChallenges parses one or more WWW-Authenticate header values, each
// of which may hold several comma-separated challenges.
func ParseChallenges(values []string) ([]Challenge, error) {
	var out []Challenge
	for _, v := range values {
		if len(v) > MaxHeaderLen {
			return nil, ErrTooLong
		}
		p := parser{s: v}
		for {
			p.skipListSep()
			if p.done() {
				break
			}
			scheme := p.token()
			if scheme == "" {
				return nil, fmt.Errorf("%w: challenge without scheme", ErrMalformed)
			}
			ch := Challenge{Scheme: scheme}
			if p.space() {
				p.skipSpace()
				if !p.done() && p.peek() != ',' {
					t68, params, err := p.body(true)
					if err != nil {
						return nil, err
					}
					ch.Token68, ch.Params = t68, params
				}
			}
			out = append(out, ch)
			p.skipSpace()
			if !p.done() && p.peek() != ',' && !p.afterComma() {
				return nil, fmt.Errorf("%w: junk after challenge %q", ErrMalformed, scheme)
			}
		}
	}
	return out, nil
}

// Quote returns s as an RFC 7230 quoted-string.
func Quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	b.WriteByte('"')
	return b.String()
}

type parser struct {
	s string
	i int
}

func (p *parser) done() bool { return p.i >= len(p.s) }
func (p *parser) peek() byte { return p.s[p.i] }

func (p *parser) space() bool {
	if !p.done() && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		return true
	}
	return false
}

func (p *parser) skipSpace() {
	for p.space() {
		p.i++
	}
}

// afterComma reports whether the last non-space byte before i is a comma:
// body stopped at the scheme of the next challenge.
func (p *parser) afterComma() bool {
	for j := p.i - 1; j >= 0; j-- {
		switch p.s[j] {
		case ' ', '\t':
			continue
		case ',':
			return true
		}
		return false
	}
	return false
}

func (p *parser) skipListSep() {
	for !p.done() && (p.space() || p.s[p.i] == ',') {
		p.i++
	}
}

// Character classes (RFC 9110 §5.6.2 tchar, RFC 9110 §11.2 token68), as
// tables: a Negotiate token68 is a few kilobytes, looked at byte by byte.
var tchar, token68char = charTable("!#$%&'*+-.^_`|~"), charTable("-._~+/")

func charTable(extra string) (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(extra, byte(c)) >= 0
	}
	return t
}

func isTchar(c byte) bool { return tchar[c] }

func isToken68(c byte) bool { return token68char[c] }

func (p *parser) token() string {
	start := p.i
	for !p.done() && isTchar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// body parses token68 or #auth-param. In a challenge list (list=true) a
// comma followed by "token SP" starts the next challenge, so parsing stops
// there.
func (p *parser) body(list bool) (string, []Param, error) {
	// token68: token68 chars then optional '=' padding, then end or list sep.
	start := p.i
	j := p.i
	for j < len(p.s) && isToken68(p.s[j]) {
		j++
	}
	k := j
	for k < len(p.s) && p.s[k] == '=' {
		k++
	}
	end := k
	for end < len(p.s) && (p.s[end] == ' ' || p.s[end] == '\t') {
		end++
	}
	if j > start && (end == len(p.s) || (list && p.s[end] == ',')) && (k > j || !p.looksLikeParam(start)) {
		p.i = k
		return p.s[start:k], nil, nil
	}
	var params []Param
	for {
		save := p.i
		name := p.token()
		if name == "" {
			return "", nil, fmt.Errorf("%w: expected auth-param", ErrMalformed)
		}
		p.skipSpace()
		if p.done() || p.peek() != '=' {
			if list && len(params) > 0 {
				// next challenge begins here
				p.i = save
				return "", params, nil
			}
			return "", nil, fmt.Errorf("%w: auth-param %q without value", ErrMalformed, name)
		}
		p.i++
		p.skipSpace()
		var val string
		if !p.done() && p.peek() == '"' {
			v, err := p.quoted()
			if err != nil {
				return "", nil, err
			}
			val = v
		} else {
			val = p.token()
			if val == "" {
				return "", nil, fmt.Errorf("%w: empty value for %q", ErrMalformed, name)
			}
		}
		if len(params) == MaxParams {
			return "", nil, fmt.Errorf("%w: more than %d auth-params", ErrMalformed, MaxParams)
		}
		for _, q := range params {
			if strings.EqualFold(q.Name, name) {
				return "", nil, fmt.Errorf("%w: duplicate auth-param %q", ErrMalformed, name)
			}
		}
		params = append(params, Param{Name: strings.ToLower(name), Value: val})
		p.skipSpace()
		if p.done() {
			return "", params, nil
		}
		if p.peek() != ',' {
			return "", nil, fmt.Errorf("%w: expected ',' after auth-param %q", ErrMalformed, name)
		}
		// consume separators
		for !p.done() && (p.space() || p.peek() == ',') {
			p.i++
		}
		if p.done() {
			return "", params, nil
		}
	}
}

// looksLikeParam reports whether the text at i is "token BWS =" followed by
// something other than '=' or end (i.e. an auth-param, not token68 padding).
func (p *parser) looksLikeParam(i int) bool {
	j := i
	for j < len(p.s) && isTchar(p.s[j]) {
		j++
	}
	for j < len(p.s) && (p.s[j] == ' ' || p.s[j] == '\t') {
		j++
	}
	return j < len(p.s) && p.s[j] == '='
}

func (p *parser) quoted() (string, error) {
	p.i++ // opening quote
	var b strings.Builder
	for !p.done() {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return b.String(), nil
		case c == '\\':
			p.i++
			if p.done() {
				return "", fmt.Errorf("%w: unterminated quoted-string", ErrMalformed)
			}
			b.WriteByte(p.s[p.i])
		case c < 0x20 && c != '\t', c == 0x7f:
			return "", fmt.Errorf("%w: control character in quoted-string", ErrMalformed)
		default:
			b.WriteByte(c)
		}
		p.i++
	}
	return "", fmt.Errorf("%w: unterminated quoted-string", ErrMalformed)
}

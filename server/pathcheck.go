package server

import (
	"net/http"
	"strings"
	"unicode/utf8"
)

// Ambiguous request paths. The Gate matches a site, and so its rules, on
// the decoded, cleaned path; an upstream (or a file system) that reads the
// same bytes as another path would serve what no rule was checked for:
// Tomcat and Jetty take ";x" off a segment as a path parameter, IIS reads
// "\" as "/", a double-decoding server reads "%252e%252e" as "..", an
// overlong UTF-8 "%C0%AF" was "/" to old decoders, NUL ends a C string.
// Such paths are refused with 400 for every site, before any site is
// matched, rather than normalized: no single normalization is what every
// upstream does, and no legitimate client needs them (Spring Security's
// StrictHttpFirewall refuses the same set). What passes has exactly one
// reading: no dot-segments and no empty ones, so the cleaned path the
// site is matched on is the path itself, and the proxy sends that decoded
// path upstream in its canonical encoding.

// requestPathProblem is pathProblem for r's path as the client sent it
// ("" when it is fine).
func requestPathProblem(r *http.Request) string {
	raw := r.RequestURI
	switch {
	case raw == "*" && r.Method == http.MethodOptions:
		return ""
	case strings.HasPrefix(raw, "/"):
		raw, _, _ = strings.Cut(raw, "?")
	default: // absolute form (a proxy request), or a request built in code
		raw = r.URL.EscapedPath()
	}
	return pathProblem(raw)
}

// pathProblem says why the escaped path p (the request target without its
// query) is ambiguous, or "" when it is not.
func pathProblem(p string) string {
	if !strings.HasPrefix(p, "/") {
		return "the path does not start with /"
	}
	var buf [512]byte // the decoded path; most fit here, off the heap
	dec := buf[:0]
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '%' {
			if i+2 >= len(p) || unhex(p[i+1]) < 0 || unhex(p[i+2]) < 0 {
				return "a malformed percent-encoding"
			}
			c = byte(unhex(p[i+1])<<4 | unhex(p[i+2]))
			i += 2
			switch c {
			case '/':
				return "an encoded / (%2F) in the path"
			case '\\':
				return `an encoded \ (%5C) in the path`
			case '%':
				return "an encoded % (%25) in the path (decoded twice it is another path)"
			case ';':
				return "an encoded ; (%3B) in the path"
			}
		} else {
			switch c {
			case ';':
				return "a ; in the path (a path parameter to Tomcat and Jetty)"
			case '\\':
				return `a \ in the path (a / to IIS)`
			case '#':
				return "a # in the path"
			}
		}
		if c < 0x20 || c == 0x7f {
			return "a control character (NUL…) in the path"
		}
		dec = append(dec, c)
	}
	if !utf8.Valid(dec) {
		return "invalid or overlong UTF-8 in the path"
	}
	start := 1 // of the current segment
	for i := 1; i <= len(dec); i++ {
		if i < len(dec) && dec[i] != '/' {
			continue
		}
		seg := dec[start:i]
		switch {
		case len(seg) == 0 && i < len(dec):
			return "an empty segment (//) in the path"
		case len(seg) > 0 && onlyDots(seg):
			return "a dot-segment (. or ..) in the path"
		}
		start = i + 1
	}
	return ""
}

func onlyDots(b []byte) bool {
	for _, c := range b {
		if c != '.' {
			return false
		}
	}
	return true
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

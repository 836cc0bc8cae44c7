//go:build tools

// Package deps pins modules that packages under construction will import.
// It is never built.
package deps

import (
	_ "github.com/jcmturner/gokrb5/v8/keytab"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "golang.org/x/crypto/argon2"
	_ "golang.org/x/crypto/cryptobyte"
	_ "golang.org/x/crypto/md4"
	_ "golang.org/x/term"
	_ "gopkg.in/yaml.v3"
	_ "modernc.org/sqlite"
)

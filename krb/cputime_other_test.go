//go:build !unix

package krb

import "testing"

func reportCPU(*testing.B) func() { return func() {} }

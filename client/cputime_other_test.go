//go:build !unix

package client

import "testing"

func reportCPU(*testing.B) func() { return func() {} }

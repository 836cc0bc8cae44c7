package server

import (
	"strings"
	"testing"
)

// Every Options error names the field to fix.
func TestOptionsErrorsNameTheField(t *testing.T) {
	secret := make([]byte, 32)
	for _, tc := range []struct {
		o     Options
		sites []Site
		want  string
	}{
		{Options{Secret: make([]byte, 8)}, nil, "Options.Secret"},
		{Options{Secret: secret}, []Site{{Path: "/", Schemes: []string{"ntlm"}}}, "Options.Store"},
		{Options{Secret: secret}, []Site{{Path: "/", Schemes: []string{"digest"}}}, "Options.Store"},
		{Options{Secret: secret}, []Site{{Path: "/", Schemes: []string{"negotiate"}}}, "Options.Kerberos"},
		{Options{Secret: secret, NegotiateMechanisms: []string{"ntlmv1"}}, nil, "Options.NegotiateMechanisms"},
		{Options{Secret: secret, HandshakeTimeout: -1}, nil, "HandshakeTimeout"},
		{Options{Secret: secret}, []Site{{Path: "/", Schemes: []string{"anonymous"}, Sessions: true}}, "Options.SessionKeys"},
		{Options{Secret: secret}, []Site{{Path: "/", Schemes: []string{"certificate"}}}, "Options.ClientCAs"},
	} {
		_, err := New(tc.o, tc.sites)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want it to name %s", tc.sites, err, tc.want)
		}
	}
}

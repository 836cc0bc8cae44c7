package krb_test

import (
	"errors"
	"fmt"

	"github.com/gatehouse-auth/gatehouse/krb"
	"github.com/jcmturner/gokrb5/v8/keytab"
)

// The HTTP layer loads the keytab once, then calls Accept for the
// Kerberos token of every Negotiate header.
func Example() {
	kt, err := keytab.Load("testdata/mit-http.keytab")
	if err != nil {
		fmt.Println(err)
		return
	}
	acc, err := krb.NewAcceptor(krb.Config{
		Keytab:     kt,
		Principals: []string{"HTTP/localhost@EXAMPLE.TEST"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	token := []byte{0x60, 0x03, 0x06, 0x01, 0x00} // what a broken client might send
	res, err := acc.Accept(token, nil)
	switch {
	case errors.Is(err, krb.ErrMalformed):
		fmt.Println("400: malformed token")
	case errors.Is(err, krb.ErrAuthFailed):
		fmt.Println("401:", err)
	case err == nil:
		fmt.Println("authenticated", res.ClientName())
		// send res.ResponseToken back inside spnego.AcceptCompleted
	}
	// Output:
	// 400: malformed token
}

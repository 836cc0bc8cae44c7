package spnego_test

import (
	"encoding/base64"
	"fmt"

	"github.com/gatehouse-auth/gatehouse/spnego"
)

// An acceptor decodes the client's Negotiate token, finds the Kerberos
// token inside, and answers with accept-completed carrying its AP-REP.
func Example() {
	// What a client would send (normally base64 from "Authorization: Negotiate …").
	client := &spnego.NegTokenInit{
		MechTypes: []spnego.OID{spnego.OIDMSKerberos, spnego.OIDKerberos},
		MechToken: []byte("<krb5 AP-REQ token>"),
	}
	wire, _ := client.Marshal()
	header := base64.StdEncoding.EncodeToString(wire)

	raw, _ := base64.StdEncoding.DecodeString(header)
	tok, err := spnego.Parse(raw)
	if err != nil {
		fmt.Println("401:", err)
		return
	}
	switch t := tok.(type) {
	case *spnego.NegTokenInit:
		fmt.Println("offered:", t.MechTypes[0], "kerberos:", t.MechTypes[0].IsKerberos())
		fmt.Printf("mech token: %s\n", t.MechToken)
		// … hand t.MechToken to krb.Acceptor.Accept, then:
		resp, _ := spnego.AcceptCompleted(t.MechTypes[0], []byte("<AP-REP token>"), nil).Marshal()
		fmt.Println("WWW-Authenticate: Negotiate", base64.StdEncoding.EncodeToString(resp)[:12]+"…")
	case *spnego.NegTokenResp:
		fmt.Println("continuation, state", t.NegState)
	}
	// Output:
	// offered: 1.2.840.48018.1.2.2 kerberos: true
	// mech token: <krb5 AP-REQ token>
	// WWW-Authenticate: Negotiate oSYwJKADCgEA…
}

package client_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/gatehouse-auth/gatehouse/client"
)

// An http.Client whose Transport answers 401s: it picks the strongest
// offered scheme it may use and has credentials for (Negotiate, NTLM,
// Digest, Basic), runs the handshake (on one connection for NTLM) and
// sends the request again, body included. Basic goes over plain HTTP only
// when named, as here. Without Server credentials it uses the Kerberos
// ccache (KRB5CCNAME) for the hosts listed in ImplicitAllow.
func ExampleTransport() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); ok && u == "alice" && p == "alicepw" {
			fmt.Fprintf(w, "hello %s\n", u)
			return
		}
		w.Header().Add("WWW-Authenticate", `Basic realm="example"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()

	c := &http.Client{Transport: &client.Transport{
		Server:  &client.Credentials{User: "alice", Password: "alicepw"},
		Schemes: []string{client.Basic},
	}}
	resp, err := c.Get(srv.URL)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Printf("%d %s", resp.StatusCode, body)
	// Output: 200 hello alice
}

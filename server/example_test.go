package server_test

import (
	"crypto/rand"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/gatehouse-auth/gatehouse/accounts"
	"github.com/gatehouse-auth/gatehouse/client"
	"github.com/gatehouse-auth/gatehouse/server"
)

// A program protects its own handler with NTLM and Digest against a local
// account store: New builds the Gate, Wrap puts it in front of the handler,
// and the handler reads who logged in from the request context. Nothing
// else is wired: NTLM keeps its handshake with the connection by itself.
func Example() {
	dir, err := os.MkdirTemp("", "gatehouse-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store, err := accounts.Open(filepath.Join(dir, "accounts.db"), "example")
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	if err := store.Add("alice", "alicepw", []string{"Staff"}); err != nil {
		log.Fatal(err)
	}
	secret := make([]byte, 32) // keep it in a file so Digest nonces survive a restart
	rand.Read(secret)

	gate, err := server.New(server.Options{Store: store, Domain: "EXAMPLE", Secret: secret},
		[]server.Site{{Path: "/", Schemes: []string{"ntlm", "digest"}}})
	if err != nil {
		log.Fatal(err)
	}
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := server.IdentityFrom(r.Context())
		fmt.Fprintf(w, "hello %s (%s, groups %v)\n", id.Name, id.Scheme, id.Groups)
	})
	srv := httptest.NewServer(gate.Wrap(app))
	defer srv.Close()

	for _, scheme := range []string{client.NTLM, client.Digest} {
		c := &http.Client{Transport: &client.Transport{
			Server:  &client.Credentials{User: "alice", Password: "alicepw"},
			Schemes: []string{scheme},
		}}
		resp, err := c.Get(srv.URL + "/")
		if err != nil {
			log.Fatal(err)
		}
		io.Copy(os.Stdout, resp.Body)
		resp.Body.Close()
	}
	// Output:
	// hello alice (NTLM, groups [Staff])
	// hello alice (Digest, groups [Staff])
}

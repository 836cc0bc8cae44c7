package identitytoken_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/gatehouse-auth/gatehouse/identitytoken"
)

func Example() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	keys, err := identitytoken.LoadOrCreate(filepath.Join(dir, "identity.key"))
	if err != nil {
		panic(err)
	}
	s, err := identitytoken.New(keys, "gatehouse", identitytoken.DefaultLifetime)
	if err != nil {
		panic(err)
	}
	tok, _ := s.Sign(identitytoken.Identity{User: "alice@EXAMPLE.TEST", Name: "alice", Domain: "EXAMPLE.TEST", Scheme: "Negotiate"}, "https://app.example.test")
	fmt.Println(len(tok) > 0, len(s.KeyIDs()))
	// Output: true 1
}

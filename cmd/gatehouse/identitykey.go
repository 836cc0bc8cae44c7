package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/gatehouse-auth/gatehouse/config"
	"github.com/gatehouse-auth/gatehouse/identitytoken"
)

const identityKeyHelp = `usage: gatehouse identity-key rotate [--config FILE]

Rotates the key that signs the identity token (identity_token: in the
config; its key file, else state_dir/identity.key): a fresh EC P-256 key
goes first in the file and signs from the next reload (SIGHUP) or restart;
the key it replaces stays in the file, and in the JWKS, with a
Retire-After header one token lifetime (plus a minute) ahead, so tokens it
signed keep verifying until they expire. Keys already past their
Retire-After are removed. Prints the new key's kid.

example:
  gatehouse identity-key rotate --config /etc/gatehouse/gatehouse.yaml && systemctl reload gatehouse
`

func init() {
	help["identity-key"] = identityKeyHelp
	help["identity-key rotate"] = identityKeyHelp
}

func cmdIdentityKey(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "rotate" {
		fmt.Fprint(stderr, identityKeyHelp)
		return 2
	}
	fs := flag.NewFlagSet("identity-key rotate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "config file (default: the embedded default)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	var cfg *config.Config
	var err error
	if *cfgPath != "" {
		cfg, err = config.Load(*cfgPath)
	} else {
		cfg, err = config.Default()
	}
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse identity-key: %v\n", err)
		return 1
	}
	it := cfg.IdentityToken
	if it == nil {
		fmt.Fprintln(stderr, "gatehouse identity-key: the config has no identity_token")
		return 1
	}
	path := filepath.Join(cfg.Path(cfg.StateDir), "identity.key")
	if it.Key != "" {
		path = cfg.Path(it.Key)
	}
	kid, err := identitytoken.Rotate(path, it.Lifetime, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse identity-key: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s\n", kid)
	fmt.Fprintf(stderr, "new signing key %s in %s; reload gatehouse (SIGHUP) to sign with it\n", kid, path)
	return 0
}

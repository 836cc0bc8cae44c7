// Command gatehouse is the Gatehouse server, account tool and client.
// See CONTRACT.md for the commands and flags.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `usage: gatehouse <command> [flags]

commands:
  serve [--config FILE]            run the server (no config: the embedded default)
  accounts add NAME [--password-stdin] [--group G]... [--db FILE]
  accounts passwd NAME [--password-stdin] [--db FILE]
  accounts del NAME [--db FILE]
  accounts list [--json] [--db FILE]
  accounts group add|del GROUP NAME [--db FILE]
  get URL [-u USER[:PASS]] [--digest|--basic|--any] [-x PROXY -U USER[:PASS]] [-k] [-o FILE] [-v] [--json] …
  jobs add URL -o FILE [get's flags] | list | show ID | run [--once] | resume | complete | cancel | remove ID
                                   BITS-style background downloads (gatehouse jobs help)
  version                          version and build info
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return cmdServe(args[1:], stderr)
	case "accounts":
		return cmdAccounts(args[1:], stdin, stdout, stderr)
	case "get":
		return cmdGet(args[1:], stdin, stdout, stderr)
	case "jobs":
		return cmdJobs(args[1:], stdin, stdout, stderr)
	case "version", "--version":
		fmt.Fprintf(stdout, "gatehouse %s\n", version)
		if bi, ok := debug.ReadBuildInfo(); ok {
			fmt.Fprintf(stdout, "go %s\n", bi.GoVersion)
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" || s.Key == "vcs.time" || s.Key == "vcs.modified" {
					fmt.Fprintf(stdout, "%s %s\n", s.Key, s.Value)
				}
			}
		}
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "gatehouse: unknown command %q\n%s", args[0], usage)
	return 2
}

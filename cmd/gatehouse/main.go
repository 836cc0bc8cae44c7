// Command gatehouse is the Gatehouse server, account tool and client.
// docs/CONFIG.md lists the commands and flags.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
)

// version and commit are set at build time with -ldflags "-X
// main.version=… -X main.commit=…"; commit is used when the Go toolchain
// recorded no VCS information (a build outside a git checkout, or with
// -buildvcs=false).
var (
	version = "dev"
	commit  = ""
)

const usage = `usage: gatehouse <command> [flags]

commands:
  serve [--config FILE] [--check]  run the server (no config: the embedded default)
  accounts add NAME [--password-stdin] [--group G]... [--db FILE]
  accounts passwd NAME [--password-stdin] [--db FILE]
  accounts del NAME [--db FILE]
  accounts list [--json] [--db FILE]
  accounts group add|del GROUP NAME [--db FILE]
  get URL [-u USER[:PASS]] [--digest|--basic|--any] [-x PROXY -U USER[:PASS]] [-k] [-o FILE] [-v] [--json] …
  jobs add URL -o FILE [get's flags] | list | show ID | run [--once] | resume | complete | cancel | remove ID
                                   BITS-style background downloads (gatehouse jobs help)
  identity-key rotate [--config FILE]
                                   a new key signs the identity token; the old one is retired
  version                          version and build info
  help [COMMAND…] | help --man [COMMAND] | help --man-dir DIR
                                   usage of a command; the man pages (roff)

Every command takes --help (for example: gatehouse accounts add --help).
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	if printHelp(args, stdout) {
		return 0
	}
	switch args[0] {
	case "serve":
		return cmdServe(args[1:], stdout, stderr)
	case "accounts":
		return cmdAccounts(args[1:], stdin, stdout, stderr)
	case "get":
		return cmdGet(args[1:], stdin, stdout, stderr)
	case "jobs":
		return cmdJobs(args[1:], stdin, stdout, stderr)
	case "identity-key":
		return cmdIdentityKey(args[1:], stdout, stderr)
	case "version", "--version":
		printVersion(stdout)
		return 0
	case "help":
		if len(args) > 1 && (args[1] == "--man" || args[1] == "--man-dir") {
			return cmdMan(args[1:], stdout, stderr)
		}
		if !printHelp(append(args[1:], "--help"), stdout) {
			fmt.Fprint(stdout, usage)
		}
		return 0
	}
	fmt.Fprintf(stderr, "gatehouse: unknown command %q\n%s", args[0], usage)
	return 2
}

// printVersion prints the version (set with -ldflags "-X main.version=…",
// else the module's version), the commit and the Go version, from the
// build information the Go toolchain records.
func printVersion(w io.Writer) {
	v, rev, modified, when, goVersion := version, commit, "", "", runtime.Version()
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
		if v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					modified = " (modified)"
				}
			}
		}
	}
	if rev == "" {
		rev = "unknown"
	}
	fmt.Fprintf(w, "gatehouse %s\ncommit %s%s\n", v, rev, modified)
	if when != "" {
		fmt.Fprintf(w, "built from a commit of %s\n", when)
	}
	fmt.Fprintf(w, "go %s %s/%s\n", goVersion, runtime.GOOS, runtime.GOARCH)
}

package main

import (
	"fmt"
	"io"
	"strings"
)

// help is the --help text of each command, by command path ("serve",
// "accounts add", "get", "jobs add"…). A command's own file may set or
// replace its entries in an init function (init runs after this map is
// built). run prints the text of the longest path the arguments name when
// -h, -help or --help is among them, and exits 0; a path without its own
// entry prints its parent's.
var help = map[string]string{
	"":         usage + examples,
	"serve":    serveHelp,
	"version":  versionHelp,
	"accounts": accountsHelp,
	"accounts add": `usage: gatehouse accounts add NAME [--password-stdin] [--group G]... [--db FILE | --config FILE]

Adds a local account (Basic, Digest, NTLM). The password is read from the
first line of stdin with --password-stdin, else prompted for twice; never
from the command line. NAME (and GROUP): 1 to 64 printable characters,
none of " / \ [ ] : ; | = , + * ? < > @ (as Windows SAM names), no space
at either end, not starting with -.

examples:
  gatehouse accounts add alice
  echo 'alicepw' | gatehouse accounts add alice --password-stdin --group Admins --db /var/lib/gatehouse/gatehouse.db
`,
	"accounts passwd": `usage: gatehouse accounts passwd NAME [--password-stdin] [--db FILE | --config FILE]

Sets a local account's password (stdin with --password-stdin, else a prompt).

example:
  echo 'newpw' | gatehouse accounts passwd alice --password-stdin
`,
	"accounts del": `usage: gatehouse accounts del NAME [--db FILE | --config FILE]

Deletes a local account and its group memberships.

example:
  gatehouse accounts del alice
`,
	"accounts list": `usage: gatehouse accounts list [--json] [--db FILE | --config FILE]

Lists the accounts and their groups (name TAB groups, or JSON). The store
must exist: list never creates one.

examples:
  gatehouse accounts list
  gatehouse accounts list --json --config /etc/gatehouse/gatehouse.yaml
`,
	"accounts group": `usage: gatehouse accounts group add|del GROUP NAME [--db FILE | --config FILE]

Adds NAME to GROUP, or removes it. Groups are what authorization roles:
match.

examples:
  gatehouse accounts group add Admins alice
  gatehouse accounts group del Admins alice
`,
	"get": `usage: gatehouse get URL [flags]

The client, curl-like: authenticates with Negotiate (Kerberos), NTLM,
Digest or Basic, to the server and to a proxy. Body to stdout or -o FILE;
exit 0 on 2xx, else non-zero with a one-line reason. The flags are in
docs/CONFIG.md.

examples:
  gatehouse get --negotiate https://intranet.example.test/
  gatehouse get -u alice --digest -o report.pdf https://files.example.test/report.pdf
`,
	"jobs": jobsUsage + `
examples:
  gatehouse jobs add --negotiate -o iso.img https://files.example.test/iso.img
  gatehouse jobs run --once
  gatehouse jobs list
`,
}

const examples = `
examples:
  gatehouse serve --config /etc/gatehouse/gatehouse.yaml
  gatehouse accounts add alice --group Admins
  gatehouse get --negotiate https://intranet.example.test/
`

const versionHelp = `usage: gatehouse version

Prints the version, the commit it was built from and the Go version.

example:
  gatehouse version
`

const accountsHelp = `usage: gatehouse accounts COMMAND [flags]

commands:
  add NAME [--password-stdin] [--group G]...   add a local account
  passwd NAME [--password-stdin]                set its password
  del NAME                                      delete it
  list [--json]                                 list accounts and groups
  group add|del GROUP NAME                      group membership

Every command takes --db FILE (the account store) or --config FILE (its
accounts path and realm); the default is ./gatehouse.db.

examples:
  gatehouse accounts add alice --group Admins
  gatehouse accounts list --json
  gatehouse accounts add --help
`

// isHelpFlag is -h, -help or --help.
func isHelpFlag(a string) bool { return a == "-h" || a == "-help" || a == "--help" }

// helpAsked reports whether args (before any "--") ask for help.
func helpAsked(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if isHelpFlag(a) {
			return true
		}
	}
	return false
}

// printHelp prints the help of the command path args name, if they ask
// for it, and reports whether it did.
func printHelp(args []string, w io.Writer) bool {
	if !helpAsked(args) {
		return false
	}
	var words []string
	for _, a := range args {
		if a == "--" || strings.HasPrefix(a, "-") {
			break
		}
		words = append(words, a)
	}
	for n := len(words); n >= 0; n-- {
		if text, ok := help[strings.Join(words[:n], " ")]; ok {
			fmt.Fprint(w, text)
			return true
		}
	}
	fmt.Fprint(w, usage)
	return true
}

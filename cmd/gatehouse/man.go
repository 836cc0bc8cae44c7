package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// The man pages are the --help texts (the help table) in roff: one page
// per command, gatehouse(1) for the overview and gatehouse-COMMAND(1) for
// each command with its subcommands, so that `man gatehouse-serve` and
// `gatehouse serve --help` never disagree.

const manHelp = `usage: gatehouse help [COMMAND…]
       gatehouse help --man [COMMAND]
       gatehouse help --man-dir DIR

Prints the usage of a command (as COMMAND --help does). --man prints the
man page of gatehouse, or of one command (gatehouse-COMMAND(1)), in roff;
--man-dir writes every page into DIR (gatehouse.1, gatehouse-serve.1…).

examples:
  gatehouse help accounts add
  gatehouse help --man serve | man -l -
  gatehouse help --man-dir /usr/local/share/man/man1 && mandb
`

func init() { help["help"] = manHelp }

// manSummary is the NAME line of each page.
var manSummary = map[string]string{
	"":         "HTTP authentication server, account tool and client (Basic, Digest, NTLM, Negotiate)",
	"serve":    "run the Gatehouse authentication server",
	"accounts": "manage Gatehouse's local accounts and groups",
	"get":      "fetch a URL, authenticating with Negotiate, NTLM, Digest or Basic",
	"jobs":     "BITS-style background downloads and uploads",
	"version":  "print Gatehouse's version and build information",
	"help":     "print the usage of a command, or its man page",

	"identity-key": "rotate the key that signs Gatehouse's identity tokens",
}

// summary is the NAME line of cmd's page: manSummary's, else the first
// sentence of its help text's description.
func summary(cmd string) string {
	if s, ok := manSummary[cmd]; ok {
		return s
	}
	_, desc, _ := strings.Cut(help[cmd], "\n\n")
	desc, _, _ = strings.Cut(desc, "\n\n")
	desc = strings.Join(strings.Fields(desc), " ")
	if i := strings.Index(desc, ". "); i >= 0 {
		desc = desc[:i]
	}
	return strings.TrimSuffix(desc, ".")
}

// manCommands are the commands that get a page of their own: the help
// table's one-word entries.
func manCommands() []string {
	var out []string
	for k := range help {
		if k != "" && !strings.Contains(k, " ") {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// cmdMan is `gatehouse help --man [COMMAND]` and `help --man-dir DIR`.
func cmdMan(args []string, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 1 && args[0] == "--man":
		fmt.Fprint(stdout, manPage(""))
		return 0
	case len(args) == 2 && args[0] == "--man":
		if _, ok := help[args[1]]; !ok || strings.Contains(args[1], " ") {
			fmt.Fprintf(stderr, "gatehouse help: no man page for %q (commands: %s)\n", args[1], strings.Join(manCommands(), ", "))
			return 2
		}
		fmt.Fprint(stdout, manPage(args[1]))
		return 0
	case len(args) == 2 && args[0] == "--man-dir":
		if err := os.MkdirAll(args[1], 0o755); err != nil {
			fmt.Fprintf(stderr, "gatehouse help: %v\n", err)
			return 1
		}
		for _, c := range append([]string{""}, manCommands()...) {
			p := filepath.Join(args[1], manName(c)+".1")
			if err := os.WriteFile(p, []byte(manPage(c)), 0o644); err != nil {
				fmt.Fprintf(stderr, "gatehouse help: %v\n", err)
				return 1
			}
		}
		return 0
	}
	fmt.Fprint(stderr, manHelp)
	return 2
}

// manName is the page's name: gatehouse, gatehouse-serve…
func manName(cmd string) string {
	if cmd == "" {
		return "gatehouse"
	}
	return "gatehouse-" + cmd
}

var manHeading = regexp.MustCompile(`^([a-z][a-z ']*):$`)

// manPage renders the help text of cmd, and of its subcommands, as a man
// page. The text is kept as written (no-fill), so that its columns stay
// aligned; a line "flags:" or "examples:" becomes a section.
func manPage(cmd string) string {
	var b strings.Builder
	name := manName(cmd)
	fmt.Fprintf(&b, ".TH %s 1 \"\" \"gatehouse %s\" \"Gatehouse Manual\"\n", roffQuote(strings.ToUpper(name)), roffEscape(version))
	fmt.Fprintf(&b, ".nh\n.SH NAME\n%s \\- %s\n", roffEscape(name), roffEscape(summary(cmd)))
	manText(&b, help[cmd], "DESCRIPTION")
	var subs []string
	for k := range help {
		if rest, ok := strings.CutPrefix(k, cmd+" "); ok && cmd != "" && rest != "" && help[k] != help[cmd] {
			subs = append(subs, k)
		}
	}
	slices.Sort(subs)
	for _, s := range subs {
		fmt.Fprintf(&b, ".SH %s\n", roffQuote(strings.ToUpper("gatehouse "+s)))
		manText(&b, help[s], "")
	}
	b.WriteString(".SH SEE ALSO\n")
	var see []string
	for _, c := range append([]string{""}, manCommands()...) {
		if c != cmd {
			see = append(see, `\fB`+roffEscape(manName(c))+`\fR(1)`)
		}
	}
	b.WriteString(strings.Join(see, ",\n") + "\n.PP\n")
	b.WriteString("The configuration file, every key and header: docs/CONFIG.md in the source\n" +
		"(/usr/share/doc/gatehouse/CONFIG.md where installed).\n")
	return b.String()
}

// manText writes one help text: its usage lines as SYNOPSIS (when first
// is not empty, DESCRIPTION follows under the name first), the rest as
// no-fill paragraphs with their headings as sections (or, within a
// subcommand's section, as bold lines).
func manText(b *strings.Builder, text, first string) {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	i := 0
	if first != "" {
		b.WriteString(".SH SYNOPSIS\n.nf\n")
		for ; i < len(lines) && lines[i] != ""; i++ {
			b.WriteString(roffLine(strings.TrimPrefix(strings.TrimPrefix(lines[i], "usage: "), "       ")) + "\n")
		}
		b.WriteString(".fi\n")
		for i < len(lines) && lines[i] == "" {
			i++
		}
		if i < len(lines) && !manHeading.MatchString(lines[i]) {
			fmt.Fprintf(b, ".SH %s\n", first)
		}
	}
	b.WriteString(".nf\n")
	for ; i < len(lines); i++ {
		l := lines[i]
		if m := manHeading.FindStringSubmatch(l); m != nil {
			if first != "" {
				fmt.Fprintf(b, ".fi\n.SH %s\n.nf\n", roffQuote(strings.ToUpper(m[1])))
			} else {
				fmt.Fprintf(b, ".fi\n.PP\n\\fB%s\\fR\n.nf\n", roffEscape(m[1]))
			}
			continue
		}
		b.WriteString(roffLine(l) + "\n")
	}
	b.WriteString(".fi\n")
}

// roffEscape escapes text for roff: backslashes, hyphens (so that options
// copy as ASCII "-"), and characters beyond ASCII as \[uXXXX] (troff reads
// bytes, not UTF-8, unless preconv runs first).
func roffEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\e`)
		case r == '-':
			b.WriteString(`\-`)
		case r > 0x7e:
			fmt.Fprintf(&b, `\[u%04X]`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// roffLine escapes a line of text; one that would start with a control
// character (. or ') is protected with \&.
func roffLine(s string) string {
	s = roffEscape(s)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

func roffQuote(s string) string {
	return `"` + strings.ReplaceAll(roffEscape(s), `"`, `\(dq`) + `"`
}

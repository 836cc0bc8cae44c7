package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/gatehouse-auth/gatehouse/accounts"
	"github.com/gatehouse-auth/gatehouse/config"
)

// maxPasswordLen bounds a password read from stdin.
const maxPasswordLen = 1024

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

// interleave moves flags after positional arguments to the front, so that
// "add alice --password-stdin" works like "add --password-stdin alice".
func interleave(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") {
				if f := fs.Lookup(name); f != nil {
					if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !bf.IsBoolFlag() {
						if i+1 < len(args) {
							flags = append(flags, args[i+1])
							i++
						}
					}
				}
			}
			continue
		}
		pos = append(pos, a)
	}
	// "--" keeps a positional argument that starts with "-" one
	return append(append(flags, "--"), pos...)
}

func cmdAccounts(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	sub := args[0]
	args = args[1:]
	if sub == "group" {
		if len(args) == 0 || (args[0] != "add" && args[0] != "del") {
			fmt.Fprintln(stderr, "usage: gatehouse accounts group add|del GROUP NAME [--db FILE]")
			return 2
		}
		sub = "group " + args[0]
		args = args[1:]
	}
	fs := flag.NewFlagSet("accounts "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := fs.String("db", "", "account store (default: the config's accounts, else ./gatehouse.db)")
	cfgPath := fs.String("config", "", "config file whose accounts path and realm to use")
	pwStdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin")
	asJSON := fs.Bool("json", false, "list as JSON")
	var groups multi
	fs.Var(&groups, "group", "group to add the account to (repeatable)")
	if err := fs.Parse(interleave(fs, args)); err != nil {
		return 2
	}
	pos := fs.Args()
	want := map[string]int{"add": 1, "passwd": 1, "del": 1, "list": 0, "group add": 2, "group del": 2}
	n, ok := want[sub]
	if !ok {
		fmt.Fprintf(stderr, "gatehouse accounts: unknown subcommand %q\n", sub)
		return 2
	}
	if len(pos) != n {
		fmt.Fprintf(stderr, "gatehouse accounts %s: want %d argument(s), got %d\n", sub, n, len(pos))
		return 2
	}
	for i, name := range pos {
		what := "account"
		if strings.HasPrefix(sub, "group") && i == 0 {
			what = "group"
		}
		if !accounts.ValidName(name) || strings.HasPrefix(name, "-") {
			fmt.Fprintf(stderr, "gatehouse accounts %s: %q is not a valid %s name (1 to 64 printable characters, none of \" / \\ [ ] : ; | = , + * ? < > @, no space at either end, not starting with -)\n", sub, name, what)
			return 2
		}
	}
	for _, g := range groups {
		if !accounts.ValidName(g) || strings.HasPrefix(g, "-") {
			fmt.Fprintf(stderr, "gatehouse accounts %s: %q is not a valid group name\n", sub, g)
			return 2
		}
	}
	path, realm := *db, ""
	if *cfgPath != "" {
		cfg, err := config.Load(*cfgPath)
		if err != nil {
			fmt.Fprintf(stderr, "gatehouse accounts: %v\n", err)
			return 1
		}
		realm = cfg.Realm
		if path == "" {
			path = cfg.Path(cfg.Accounts)
		}
	}
	if path == "" {
		path = "./gatehouse.db"
	}
	if sub != "add" {
		// only add creates a store; the others would make an empty one
		// where a typo pointed them and report nothing wrong
		if _, err := os.Stat(path); err != nil {
			fmt.Fprintf(stderr, "gatehouse accounts %s: no account store at %s (gatehouse accounts add creates one): %v\n", sub, path, errors.Unwrap(err))
			return 1
		}
	}
	st, err := accounts.Open(path, realm)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse accounts: %v\n", err)
		return 1
	}
	defer st.Close()
	fail := func(err error) int {
		fmt.Fprintf(stderr, "gatehouse accounts %s: %v\n", sub, err)
		return 1
	}
	switch sub {
	case "add", "passwd":
		pw, err := readPassword(stdin, stderr, *pwStdin)
		if err != nil {
			return fail(err)
		}
		if sub == "add" {
			err = st.Add(pos[0], pw, groups)
		} else {
			err = st.SetPassword(pos[0], pw)
		}
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stderr, "%s: %s done\n", pos[0], sub)
	case "del":
		if err := st.Delete(pos[0]); err != nil {
			return fail(err)
		}
	case "list":
		list, err := st.List()
		if err != nil {
			return fail(err)
		}
		if *asJSON {
			if list == nil {
				list = []accounts.Account{}
			}
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			_ = enc.Encode(list)
			break
		}
		for _, a := range list {
			fmt.Fprintf(stdout, "%s\t%s\n", a.Name, strings.Join(a.Groups, ","))
		}
	case "group add":
		if err := st.AddToGroup(pos[0], pos[1]); err != nil {
			return fail(err)
		}
	case "group del":
		if err := st.RemoveFromGroup(pos[0], pos[1]); err != nil {
			return fail(err)
		}
	}
	return 0
}

// readPassword reads from stdin's first line with --password-stdin, else
// prompts twice on the terminal. Passwords never come from argv.
func readPassword(stdin io.Reader, stderr io.Writer, fromStdin bool) (string, error) {
	if fromStdin {
		r := bufio.NewReaderSize(io.LimitReader(stdin, maxPasswordLen+2), maxPasswordLen+2)
		line, err := r.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("reading password: %w", err)
		}
		if errors.Is(err, io.EOF) && len(line) > maxPasswordLen {
			return "", fmt.Errorf("password longer than %d bytes", maxPasswordLen)
		}
		pw := strings.TrimRight(line, "\r\n")
		if pw == "" {
			return "", errors.New("empty password on stdin")
		}
		return pw, nil
	}
	f, ok := stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", errors.New("stdin is not a terminal: use --password-stdin")
	}
	fmt.Fprint(stderr, "Password: ")
	a, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(stderr)
	if err != nil {
		return "", err
	}
	fmt.Fprint(stderr, "Again: ")
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(stderr)
	if err != nil {
		return "", err
	}
	if string(a) != string(b) {
		return "", errors.New("passwords differ")
	}
	if len(a) == 0 {
		return "", errors.New("empty password")
	}
	return string(a), nil
}

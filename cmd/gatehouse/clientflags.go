package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/gatehouse-auth/gatehouse/client"
)

// clientFlags are the client settings get and jobs add share.
type clientFlags struct {
	fs                                                                                         *flag.FlagSet
	user, proxyUser, spn, delegation, implicitAllow, proxy, noproxy, cacert, cert, key, pwFile *string
	pwStdin, insecure                                                                          *bool
	schemes, proxySchemes                                                                      []string
	creds                                                                                      multi
}

func addClientFlags(fs *flag.FlagSet) *clientFlags {
	c := &clientFlags{fs: fs}
	c.user = fs.String("u", "", "USER[:PASS] for the server (without :PASS the password is asked for)")
	c.pwStdin = fs.Bool("password-stdin", false, "read the passwords asked for (-u, -U, --cred) from stdin, one a line")
	c.pwFile = fs.String("password-file", "", "read the passwords asked for (-u, -U, --cred) from FILE, one a line")
	for _, s := range []string{"negotiate", "ntlm", "digest", "basic"} {
		fs.BoolFunc(s, "use "+s+" with the server", func(string) error { c.schemes = append(c.schemes, s); return nil })
		fs.BoolFunc("proxy-"+s, "use "+s+" with the proxy", func(string) error { c.proxySchemes = append(c.proxySchemes, s); return nil })
	}
	fs.BoolFunc("any", "pick the strongest offered scheme (default)", func(string) error { c.schemes = nil; return nil })
	c.spn = fs.String("spn", "", "service principal name (default: client.yaml's spn map, else HTTP/host)")
	c.delegation = fs.String("delegation", "none", "Kerberos delegation of a forwarded TGT: none, policy (servers the KDC marks ok-as-delegate) or always")
	c.implicitAllow = fs.String("implicit-allow", "", "comma-separated hosts (and *.domain) that may receive implicit Kerberos/NTLM credentials (over client.yaml's implicit_allow)")
	c.proxy = fs.String("x", "", "proxy URL (over client.yaml's proxy and HTTP_PROXY/HTTPS_PROXY)")
	fs.StringVar(c.proxy, "proxy", "", "proxy URL (same as -x)")
	c.noproxy = fs.String("noproxy", "", "comma-separated hosts that bypass the proxy, * for all (over NO_PROXY and client.yaml's no_proxy)")
	c.proxyUser = fs.String("U", "", "USER[:PASS] for the proxy")
	fs.StringVar(c.proxyUser, "proxy-user", "", "USER[:PASS] for the proxy (same as -U)")
	fs.Var(&c.creds, "cred", "TARGET:SCHEME:implicit or TARGET:SCHEME:USER (TARGET server or proxy; SCHEME negotiate, ntlm, digest or basic): credentials for one scheme, BITS's SetCredentials; repeatable")
	c.cacert = fs.String("cacert", "", "CA certificates (PEM) to verify the server")
	c.cert = fs.String("cert", "", "client certificate (PEM)")
	c.key = fs.String("key", "", "client certificate key (PEM)")
	c.insecure = fs.Bool("k", false, "do not verify the server certificate")
	fs.BoolVar(c.insecure, "insecure", false, "do not verify the server certificate (same as -k)")
	return c
}

// given reports whether the flag name was on the command line.
func (c *clientFlags) given(name string) bool {
	found := false
	c.fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			found = true
		}
	})
	return found
}

// config is the client.Config of the flags over client.yaml over the
// environment, with the credentials of -u (or of u's userinfo, which is
// then removed from u), -U and --cred, reading the passwords not given.
// trace, when not nil, is told where each setting came from.
func (c *clientFlags) config(u *url.URL, stdin io.Reader, stderr io.Writer, trace func(string, ...any)) (client.Config, error) {
	note := func(format string, a ...any) {
		if trace != nil {
			trace(format, a...)
		}
	}
	if _, err := client.ParseDelegation(*c.delegation); err != nil {
		return client.Config{}, fmt.Errorf("--delegation: %w", err)
	}
	pol, polPath, err := client.LoadPolicy()
	if err != nil {
		return client.Config{}, err
	}
	if polPath == "" {
		note("client config: none (looked in %s)", strings.Join(client.PolicyPaths(), ", "))
	} else {
		note("client config: %s", polPath)
	}
	cfg := client.Config{Schemes: c.schemes, ProxySchemes: c.proxySchemes, SPN: *c.spn, Delegation: *c.delegation,
		Insecure: *c.insecure, CACert: *c.cacert, Cert: *c.cert, Key: *c.key}

	// implicit-credential policy
	if c.given("implicit-allow") {
		cfg.ImplicitAllow = splitList(*c.implicitAllow)
		note("implicit credentials allowed to %v (--implicit-allow)", cfg.ImplicitAllow)
	} else if len(pol.ImplicitAllow) > 0 {
		cfg.ImplicitAllow = pol.ImplicitAllow
		note("implicit credentials allowed to %v (implicit_allow in %s)", cfg.ImplicitAllow, polPath)
	} else {
		note("implicit credentials allowed to no host (neither --implicit-allow nor implicit_allow)")
	}
	if len(pol.SPN) > 0 {
		cfg.SPNs = pol.SPN
		if s, ok := pol.SPN[strings.ToLower(u.Hostname())]; ok && *c.spn == "" {
			note("SPN for %s: %s (spn in %s)", u.Hostname(), s, polPath)
		}
	}
	if *c.spn != "" {
		cfg.SPNs = nil // --spn decides for every host
		note("SPN: %s (--spn)", *c.spn)
	}

	// proxy: -x, else client.yaml's proxy, else the environment
	switch {
	case *c.proxy != "":
		cfg.ProxyURL = *c.proxy
		cfg.NoProxy = splitList(*c.noproxy)
		note("proxy %s (-x)", *c.proxy)
	case pol.Proxy != "":
		cfg.ProxyURL, cfg.NoProxy = pol.Proxy, pol.NoProxy
		if c.given("noproxy") {
			cfg.NoProxy = splitList(*c.noproxy)
		}
		note("proxy %s (proxy in %s), bypassed for %v", pol.Proxy, polPath, cfg.NoProxy)
	default:
		if e := client.ProxyFromEnvironment(); e != nil {
			if c.given("noproxy") {
				e.NoProxy = *c.noproxy
			}
			cfg.EnvProxy = e
			note("proxy from the environment: http %q, https %q, bypassed for %q", redactProxy(e.HTTP), redactProxy(e.HTTPS), e.NoProxy)
		}
	}

	pw := &passwords{stdin: stdin, stderr: stderr, fromStdin: *c.pwStdin}
	if *c.pwFile != "" {
		if *c.pwStdin {
			return client.Config{}, errors.New("--password-stdin and --password-file: choose one")
		}
		f, err := os.Open(*c.pwFile)
		if err != nil {
			return client.Config{}, fmt.Errorf("--password-file: %w", err)
		}
		defer f.Close()
		pw.file = bufio.NewReader(io.LimitReader(f, 1<<20))
	}
	if u.User != nil {
		p, _ := u.User.Password()
		cfg.Server = &client.Credentials{User: u.User.Username(), Password: p}
		u.User = nil
	}
	if *c.user != "" {
		cr, err := pw.credentials(*c.user, "server")
		if err != nil {
			return client.Config{}, err
		}
		cfg.Server = cr
	}
	if *c.proxyUser != "" {
		cr, err := pw.credentials(*c.proxyUser, "proxy")
		if err != nil {
			return client.Config{}, err
		}
		cfg.Proxy = cr
	}
	for _, spec := range c.creds {
		if err := pw.cred(&cfg, spec); err != nil {
			return client.Config{}, fmt.Errorf("--cred %s: %w", spec, err)
		}
	}
	return cfg, nil
}

func redactProxy(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	return s
}

func splitList(s string) []string {
	var out []string
	for _, h := range strings.Split(s, ",") {
		if h = strings.TrimSpace(h); h != "" {
			out = append(out, h)
		}
	}
	return out
}

// passwords hands out the passwords a command asks for, in order: from
// stdin or a file, one a line, else from a prompt on the terminal.
type passwords struct {
	stdin     io.Reader
	stderr    io.Writer
	fromStdin bool
	file      *bufio.Reader
	stdinBuf  *bufio.Reader
}

func (p *passwords) read(what string) (string, error) {
	src := p.file
	if src == nil && p.fromStdin {
		if p.stdinBuf == nil {
			p.stdinBuf = bufio.NewReaderSize(p.stdin, maxPasswordLen+2)
		}
		src = p.stdinBuf
	}
	if src != nil {
		line, err := src.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("reading the %s password: %w", what, err)
		}
		pw := strings.TrimRight(line, "\r\n")
		if len(pw) > maxPasswordLen {
			return "", fmt.Errorf("the %s password is longer than %d bytes", what, maxPasswordLen)
		}
		if pw == "" {
			return "", fmt.Errorf("no %s password (an empty line or the end of the input)", what)
		}
		return pw, nil
	}
	f, ok := p.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", fmt.Errorf("the %s password: stdin is not a terminal: use --password-stdin or --password-file", what)
	}
	fmt.Fprintf(p.stderr, "Password for %s: ", what)
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(p.stderr)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// credentials parses USER[:PASS], reading the password when it is absent.
func (p *passwords) credentials(v, what string) (*client.Credentials, error) {
	user, pass, ok := strings.Cut(v, ":")
	if user == "" {
		return nil, fmt.Errorf("%s user is empty", what)
	}
	if !ok {
		pw, err := p.read(what + " user " + user)
		if err != nil {
			return nil, err
		}
		pass = pw
	}
	return &client.Credentials{User: user, Password: pass}, nil
}

// cred applies one --cred TARGET:SCHEME:SPEC.
func (p *passwords) cred(cfg *client.Config, spec string) error {
	tgt, rest, ok1 := strings.Cut(spec, ":")
	scheme, who, ok2 := strings.Cut(rest, ":")
	if !ok1 || !ok2 || who == "" {
		return errors.New("want TARGET:SCHEME:implicit or TARGET:SCHEME:USER")
	}
	tgt, scheme = strings.ToLower(tgt), strings.ToLower(scheme)
	if tgt != "server" && tgt != "proxy" {
		return fmt.Errorf("target %q: want server or proxy", tgt)
	}
	switch scheme {
	case client.Negotiate, client.NTLM, client.Digest, client.Basic:
	default:
		return fmt.Errorf("scheme %q: want negotiate, ntlm, digest or basic", scheme)
	}
	if strings.EqualFold(who, "implicit") {
		if scheme != client.Negotiate && scheme != client.NTLM {
			return fmt.Errorf("implicit credentials exist for negotiate and ntlm only, not %s", scheme)
		}
		if tgt == "server" {
			cfg.ServerImplicit = append(cfg.ServerImplicit, scheme)
		} else {
			cfg.ProxyImplicit = append(cfg.ProxyImplicit, scheme)
		}
		return nil
	}
	if strings.Contains(who, ":") {
		return errors.New("a password never goes on the command line: give USER, the password is asked for (or --password-stdin, --password-file)")
	}
	pw, err := p.read(tgt + " " + scheme + " user " + who)
	if err != nil {
		return err
	}
	c := &client.Credentials{User: who, Password: pw}
	m := &cfg.ServerByScheme
	if tgt == "proxy" {
		m = &cfg.ProxyByScheme
	}
	if *m == nil {
		*m = map[string]*client.Credentials{}
	}
	(*m)[scheme] = c
	return nil
}

// newBar is a progress bar on w when w is a terminal, else nil: nothing
// is drawn on a pipe or a file. total < 0: the size is unknown.
func newBar(w io.Writer, total int64, what string) *progressbar.ProgressBar {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetWidth(30),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)
}

package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/client"
)

// cmdGet is `gatehouse get URL [flags]`, curl-like (CONTRACT.md).
func cmdGet(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("get", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := addClientFlags(fs)
	outFile := fs.String("o", "", "write the body to FILE")
	method := fs.String("X", "", "request method")
	data := fs.String("d", "", "request body (@FILE reads a file); implies POST")
	verbose := fs.Bool("v", false, "trace the exchange to stderr (secrets masked)")
	asJSON := fs.Bool("json", false, "JSON summary of the exchange to stderr")
	var headers multi
	fs.Var(&headers, "H", "extra header 'Name: value' (repeatable)")
	if err := fs.Parse(interleave(fs, args)); err != nil {
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "gatehouse get: "+format+"\n", a...)
		return 1
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: gatehouse get URL [flags]")
		return 2
	}
	u, err := url.Parse(fs.Arg(0))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fail("%q is not an http:// or https:// URL", fs.Arg(0))
	}
	if u.User != nil {
		fmt.Fprintln(stderr, "gatehouse get: warning: credentials in the URL are deprecated (RFC 3986 §3.2.1); use -u")
	}
	cfg, err := cf.config(u, stdin, stderr)
	if err != nil {
		return fail("%v", err)
	}
	if *verbose {
		cfg.Trace = func(format string, a ...any) { fmt.Fprintf(stderr, "* "+format+"\n", a...) }
	}
	tr, err := cfg.NewTransport()
	if err != nil {
		return fail("%v", err)
	}

	var body io.Reader
	m := *method
	if *data != "" {
		b := []byte(*data)
		if strings.HasPrefix(*data, "@") {
			if b, err = os.ReadFile((*data)[1:]); err != nil {
				return fail("-d: %v", err)
			}
		}
		body = strings.NewReader(string(b))
		if m == "" {
			m = http.MethodPost
		}
	}
	if m == "" {
		m = http.MethodGet
	}
	req, err := http.NewRequest(m, u.String(), body)
	if err != nil {
		return fail("%v", err)
	}
	if *data != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, h := range headers {
		k, v, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(k) == "" {
			return fail("-H %q: want 'Name: value'", h)
		}
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	start := time.Now()
	resp, err := (&http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fail("%v", err)
	}
	defer resp.Body.Close()
	if *verbose {
		fmt.Fprintf(stderr, "< %s %s\n", resp.Proto, resp.Status)
	}
	var w io.Writer = stdout
	if *outFile != "" {
		f, err := os.Create(*outFile)
		if err != nil {
			return fail("-o: %v", err)
		}
		defer f.Close()
		w = f
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return fail("reading body: %v", err)
	}
	if *asJSON {
		sum := map[string]any{"url": u.String(), "status": resp.StatusCode, "bytes": n,
			"elapsed_ms": time.Since(start).Milliseconds(), "scheme": usedScheme(resp)}
		b, _ := json.Marshal(sum)
		fmt.Fprintln(stderr, string(b))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		reason := resp.Status
		if resp.StatusCode == 401 || resp.StatusCode == 407 {
			reason += " (authentication failed or no usable scheme; -v shows the exchange)"
		}
		return fail("%s", reason)
	}
	return 0
}

// usedScheme is the scheme of the Authorization the final request carried.
func usedScheme(resp *http.Response) string {
	if resp.Request == nil {
		return ""
	}
	s, _, _ := strings.Cut(resp.Request.Header.Get("Authorization"), " ")
	if s == "" {
		return "none"
	}
	return s
}

// clientFlags are the client settings get and jobs add share.
type clientFlags struct {
	user, proxyUser, spn, delegation, implicitAllow, proxy, cacert, cert, key *string
	pwStdin, insecure                                                         *bool
	schemes, proxySchemes                                                     []string
}

func addClientFlags(fs *flag.FlagSet) *clientFlags {
	c := &clientFlags{}
	c.user = fs.String("u", "", "USER[:PASS] for the server")
	c.pwStdin = fs.Bool("password-stdin", false, "read the password of -u (or -U) from stdin")
	for _, s := range []string{"negotiate", "ntlm", "digest", "basic"} {
		fs.BoolFunc(s, "use "+s+" with the server", func(string) error { c.schemes = append(c.schemes, s); return nil })
		fs.BoolFunc("proxy-"+s, "use "+s+" with the proxy", func(string) error { c.proxySchemes = append(c.proxySchemes, s); return nil })
	}
	fs.BoolFunc("any", "pick the strongest offered scheme (default)", func(string) error { c.schemes = nil; return nil })
	c.spn = fs.String("spn", "", "service principal name (default HTTP/host)")
	c.delegation = fs.String("delegation", "none", "Kerberos delegation of a forwarded TGT: none, policy (servers the KDC marks ok-as-delegate) or always")
	c.implicitAllow = fs.String("implicit-allow", "", "comma-separated hosts that may receive implicit Kerberos/NTLM credentials")
	c.proxy = fs.String("x", "", "proxy URL")
	fs.StringVar(c.proxy, "proxy", "", "proxy URL")
	c.proxyUser = fs.String("U", "", "USER[:PASS] for the proxy")
	fs.StringVar(c.proxyUser, "proxy-user", "", "USER[:PASS] for the proxy")
	c.cacert = fs.String("cacert", "", "CA certificates (PEM) to verify the server")
	c.cert = fs.String("cert", "", "client certificate (PEM)")
	c.key = fs.String("key", "", "client certificate key (PEM)")
	c.insecure = fs.Bool("k", false, "do not verify the server certificate")
	fs.BoolVar(c.insecure, "insecure", false, "do not verify the server certificate")
	return c
}

// config is the client.Config of the flags, with the credentials of -u
// (or of u's userinfo, which is then removed from u) and -U, prompting
// for passwords not given.
func (c *clientFlags) config(u *url.URL, stdin io.Reader, stderr io.Writer) (client.Config, error) {
	if _, err := client.ParseDelegation(*c.delegation); err != nil {
		return client.Config{}, fmt.Errorf("--delegation: %w", err)
	}
	cfg := client.Config{Schemes: c.schemes, ProxySchemes: c.proxySchemes, SPN: *c.spn, Delegation: *c.delegation,
		ProxyURL: *c.proxy, Insecure: *c.insecure, CACert: *c.cacert, Cert: *c.cert, Key: *c.key}
	for _, h := range strings.Split(*c.implicitAllow, ",") {
		if h = strings.TrimSpace(h); h != "" {
			cfg.ImplicitAllow = append(cfg.ImplicitAllow, h)
		}
	}
	if u.User != nil {
		pw, _ := u.User.Password()
		cfg.Server = &client.Credentials{User: u.User.Username(), Password: pw}
		u.User = nil
	}
	if *c.user != "" {
		cr, err := credentials(*c.user, *c.pwStdin, stdin, stderr, "server")
		if err != nil {
			return client.Config{}, err
		}
		cfg.Server = cr
	}
	if *c.proxy != "" && *c.proxyUser != "" {
		cr, err := credentials(*c.proxyUser, *c.pwStdin && *c.user == "", stdin, stderr, "proxy")
		if err != nil {
			return client.Config{}, err
		}
		cfg.Proxy = cr
	}
	return cfg, nil
}

// credentials parses USER[:PASS], reading the password when it is absent.
func credentials(v string, fromStdin bool, stdin io.Reader, stderr io.Writer, what string) (*client.Credentials, error) {
	user, pass, ok := strings.Cut(v, ":")
	if user == "" && !ok {
		return nil, fmt.Errorf("%s user is empty", what)
	}
	if !ok {
		pw, err := readPassword(stdin, stderr, fromStdin)
		if err != nil {
			return nil, fmt.Errorf("%s password: %w", what, err)
		}
		pass = pw
	}
	return &client.Credentials{User: user, Password: pass}, nil
}

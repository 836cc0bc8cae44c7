package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

const getUsage = `usage: gatehouse get URL [flags]

Fetch URL like curl, answering 401 and 407 challenges with Negotiate
(Kerberos), NTLM, Digest or Basic, strongest offered first. A URL without a
scheme (localhost:8080/x) is http://.

examples:
  gatehouse get --negotiate https://intranet.example.test/         # your Kerberos tickets (kinit)
  gatehouse get -u 'EXAMPLE\alice' --ntlm http://host/report -o r.pdf
  gatehouse get -L -f -s -w '%{http_code}\n' localhost:8080/x
  HTTPS_PROXY=http://proxy:3128 gatehouse get --proxy-negotiate https://site/
  gatehouse get --cred server:negotiate:implicit --cred proxy:ntlm:'CORP\bob' URL

Implicit credentials (the Kerberos ccache, NTLM_USER_FILE) go only to the
hosts of --implicit-allow, else of implicit_allow in client.yaml
($XDG_CONFIG_HOME/gatehouse/client.yaml, ~/.config/gatehouse/client.yaml,
/etc/gatehouse/client.yaml: the first found). Passwords come from a prompt,
--password-stdin or --password-file, never from the command line (-u USER:PASS
works but is seen by other users in ps).

exit status: 0 ok; 1 failure (or an HTTP status outside 2xx); 2 usage;
22 an HTTP error with -f; 28 --max-time reached.

flags:
`

// cmdGet is `gatehouse get URL [flags]`, curl-like (docs/CONFIG.md).
func cmdGet(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("get", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := addClientFlags(fs)
	outFile := fs.String("o", "", "write the body to FILE (a progress bar on a terminal)")
	method := fs.String("X", "", "request method")
	data := fs.String("d", "", "request body (@FILE reads a file); implies POST")
	verbose := fs.Bool("v", false, "trace the exchange and the settings' sources to stderr (secrets masked)")
	asJSON := fs.Bool("json", false, "JSON summary of the exchange to stderr")
	include := fs.Bool("i", false, "include the response's status line and headers in the output")
	head := fs.Bool("I", false, "HEAD: print the response's status line and headers only")
	follow := fs.Bool("L", false, "follow redirects (credentials go only to the first URL's origin)")
	silent := fs.Bool("s", false, "silent: no progress bar, no error messages")
	showErr := fs.Bool("S", false, "with -s, still show error messages")
	failHTTP := fs.Bool("f", false, "fail (exit 22) without writing the body on an HTTP status of 400 or more")
	writeOut := fs.String("w", "", "after the transfer, write FORMAT to stdout: %{http_code} %{size_download} %{time_total} %{url_effective} %{num_redirects} %{content_type}")
	maxTime := fs.Float64("max-time", 0, "give up after SECONDS (exit 28)")
	retries := fs.Int("retry", 0, "retry N times on a network error, a timeout or HTTP 408, 429, 500, 502, 503, 504 (waits 1 s, doubling)")
	var headers multi
	fs.Var(&headers, "H", "extra header 'Name: value' (repeatable)")
	fs.Usage = func() {}
	if err := fs.Parse(interleave(fs, args)); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, getUsage)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return 0
		}
		fmt.Fprintln(stderr, "gatehouse get --help shows the flags")
		return 2
	}
	quiet := *silent && !*showErr
	fail := func(format string, a ...any) int {
		if !quiet {
			fmt.Fprintf(stderr, "gatehouse get: "+format+"\n", a...)
		}
		return 1
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: gatehouse get URL [flags] (gatehouse get --help)")
		return 2
	}
	u, err := parseTarget(fs.Arg(0))
	if err != nil {
		return fail("%v", err)
	}
	if u.User != nil && !quiet {
		fmt.Fprintln(stderr, "gatehouse get: warning: credentials in the URL are deprecated (RFC 3986 §3.2.1); use -u")
	}
	var trace func(string, ...any)
	if *verbose {
		trace = func(format string, a ...any) { fmt.Fprintf(stderr, "* "+format+"\n", a...) }
	}
	cfg, err := cf.config(u, stdin, stderr, trace)
	if err != nil {
		return fail("%v", err)
	}
	cfg.Trace = trace
	tr, err := cfg.NewTransport()
	if err != nil {
		return fail("%v", err)
	}
	// Redirects: the credentials of the command line go to the first
	// URL's origin only; elsewhere the request goes without them
	// (implicit ones still follow the implicit-allow list).
	bare := cfg
	bare.Server, bare.ServerByScheme, bare.ServerImplicit = nil, nil, nil
	trBare, err := bare.NewTransport()
	if err != nil {
		return fail("%v", err)
	}
	rt := &originGuard{origin: originOf(u), creds: tr, bare: trBare, trace: trace}

	var body []byte
	m := *method
	if *data != "" {
		body = []byte(*data)
		if strings.HasPrefix(*data, "@") {
			if body, err = os.ReadFile((*data)[1:]); err != nil {
				return fail("-d: %v", err)
			}
		}
		if m == "" {
			m = http.MethodPost
		}
	}
	if *head {
		m = http.MethodHead
	}
	if m == "" {
		m = http.MethodGet
	}
	ctx := context.Background()
	if *maxTime > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*maxTime*float64(time.Second)))
		defer cancel()
	}
	newReq := func() (*http.Request, error) {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, m, u.String(), rd)
		if err != nil {
			return nil, err
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		for _, h := range headers {
			k, v, ok := strings.Cut(h, ":")
			if !ok || strings.TrimSpace(k) == "" {
				return nil, fmt.Errorf("-H %q: want 'Name: value'", h)
			}
			req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		}
		return req, nil
	}
	redirects := 0
	hc := &http.Client{Transport: rt, CheckRedirect: func(r *http.Request, via []*http.Request) error {
		if !*follow {
			return http.ErrUseLastResponse
		}
		if len(via) >= maxRedirects {
			return fmt.Errorf("stopped after %d redirects", maxRedirects)
		}
		redirects++
		if trace != nil {
			trace("following the redirect to %s", r.URL.Redacted())
		}
		return nil
	}}
	start := time.Now()
	var resp *http.Response
	for attempt := 0; ; attempt++ {
		req, err := newReq()
		if err != nil {
			return fail("%v", err)
		}
		redirects = 0
		resp, err = hc.Do(req)
		retry, why := retryable(resp, err)
		if !retry || attempt >= *retries || ctx.Err() != nil {
			if err != nil {
				var ue *url.Error
				if errors.As(err, &ue) {
					err = ue.Err
				}
				if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
					fail("--max-time %gs reached: %v", *maxTime, err)
					return 28
				}
				return fail("%v", err)
			}
			break
		}
		wait := time.Second << min(attempt, 9)
		if ra := retryAfter(resp); ra > 0 {
			wait = ra
		}
		if resp != nil {
			drainClose(resp)
		}
		if !quiet {
			fmt.Fprintf(stderr, "gatehouse get: %s; retrying in %v (%d left)\n", why, wait, *retries-attempt)
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			fail("--max-time %gs reached while waiting to retry", *maxTime)
			return 28
		}
	}
	defer resp.Body.Close()
	if *verbose {
		fmt.Fprintf(stderr, "< %s %s\n", resp.Proto, resp.Status)
	}
	if *failHTTP && resp.StatusCode >= 400 {
		if !quiet {
			fmt.Fprintf(stderr, "gatehouse get: The requested URL returned error: %s\n", resp.Status)
		}
		writeOutFormat(stdout, *writeOut, resp, 0, time.Since(start), redirects)
		return 22
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
	if *include || *head {
		writeHead(w, resp)
	}
	var src io.Reader = resp.Body
	if *outFile != "" && !*silent && !*head {
		if bar := newBar(stderr, resp.ContentLength, "get"); bar != nil {
			src = io.TeeReader(resp.Body, bar)
			defer bar.Finish()
		}
	}
	n, err := io.Copy(w, src)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			fail("--max-time %gs reached after %d bytes", *maxTime, n)
			return 28
		}
		return fail("reading body: %v", err)
	}
	writeOutFormat(stdout, *writeOut, resp, n, time.Since(start), redirects)
	if *asJSON {
		sum := map[string]any{"url": resp.Request.URL.String(), "status": resp.StatusCode, "bytes": n,
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

// maxRedirects bounds -L (Go's http.Client stops at 10 too).
const maxRedirects = 10

// parseTarget reads the URL argument; one without a scheme is http://, as
// curl takes it.
func parseTarget(s string) (*url.URL, error) {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an http:// or https:// URL", s)
	}
	return u, nil
}

// originGuard sends requests to the first URL's origin with the
// command's credentials and requests elsewhere (after a redirect) without
// them, as curl does without --location-trusted.
type originGuard struct {
	origin      string
	creds, bare http.RoundTripper
	trace       func(string, ...any)
}

func (g *originGuard) RoundTrip(r *http.Request) (*http.Response, error) {
	if originOf(r.URL) == g.origin {
		return g.creds.RoundTrip(r)
	}
	if g.trace != nil {
		g.trace("%s is another origin than %s: no explicit credentials sent there", originOf(r.URL), g.origin)
	}
	return g.bare.RoundTrip(r)
}

// originOf is scheme://host:port with the default port made explicit.
func originOf(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return strings.ToLower(u.Scheme + "://" + net.JoinHostPort(u.Hostname(), port))
}

// retryable says whether --retry applies to an outcome, and why.
func retryable(resp *http.Response, err error) (bool, string) {
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || strings.Contains(err.Error(), "connection refused") {
			return true, err.Error()
		}
		return false, ""
	}
	switch resp.StatusCode {
	case 408, 429, 500, 502, 503, 504:
		return true, "HTTP " + resp.Status
	}
	return false, ""
}

// retryAfter is a Retry-After in seconds, capped at 10 minutes.
func retryAfter(resp *http.Response) time.Duration {
	if resp == nil {
		return 0
	}
	s, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || s <= 0 {
		return 0
	}
	return min(time.Duration(s)*time.Second, 10*time.Minute)
}

func drainClose(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// writeHead writes the status line and headers as curl -i does.
func writeHead(w io.Writer, resp *http.Response) {
	fmt.Fprintf(w, "%s %s\r\n", resp.Proto, resp.Status)
	resp.Header.Write(w)
	io.WriteString(w, "\r\n")
}

// writeOutFormat expands curl's -w variables.
func writeOutFormat(w io.Writer, format string, resp *http.Response, n int64, elapsed time.Duration, redirects int) {
	if format == "" {
		return
	}
	eff := ""
	if resp.Request != nil {
		eff = resp.Request.URL.String()
	}
	r := strings.NewReplacer(
		"%{http_code}", fmt.Sprintf("%03d", resp.StatusCode),
		"%{response_code}", fmt.Sprintf("%03d", resp.StatusCode),
		"%{size_download}", strconv.FormatInt(n, 10),
		"%{time_total}", fmt.Sprintf("%.6f", elapsed.Seconds()),
		"%{url_effective}", eff,
		"%{num_redirects}", strconv.Itoa(redirects),
		"%{content_type}", resp.Header.Get("Content-Type"),
		`\n`, "\n", `\t`, "\t", `\r`, "\r", "%%", "%",
	)
	io.WriteString(w, r.Replace(format))
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

// The --help text run prints for get: the usage with every flag.
func init() {
	var b strings.Builder
	cmdGet([]string{"--help"}, nil, &b, io.Discard)
	help["get"] = b.String()
}

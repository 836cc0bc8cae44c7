package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/gatehouse-auth/gatehouse/client"
	"github.com/gatehouse-auth/gatehouse/jobs"
)

const jobsUsage = `usage: gatehouse jobs COMMAND [flags] [--db FILE]

Background transfers in the style of Windows' BITS: queued in a store,
run by a worker, resumed after network failures and restarts.

commands:
  add URL -o FILE [flags]             queue a download; prints the job id
  add --upload FILE URL [flags]       queue an upload (BITS upload protocol)
  list [--json]                       the jobs: state, bytes done/total, percent, last error
  show ID                             one job, JSON
  run [--once] [-v]                   the worker: transfer queued jobs (--once: until none is ready)
  resume ID                           retry a job in error
  set-credentials ID [cred flags]     replace a job's credentials; a job in error is queued again
  complete ID                         move a downloaded file into place (BITS's Complete)
  cancel ID                           stop a job, remove its partial file
  remove ID                           forget a completed or cancelled job
  COMMAND --help                      the flags of one command

examples:
  gatehouse jobs add --negotiate --implicit-allow intranet.example.test -o iso.img https://intranet.example.test/iso.img
  gatehouse jobs add --ccache /tmp/krb5cc_svc --priority low --limit-rate 2M -o x.bin URL
  gatehouse jobs add --upload report.pdf -u 'CORP\alice' --ntlm https://files.example.test/upload/report.pdf
  gatehouse jobs add --notify-cmd 'notify-send "job $GATEHOUSE_JOB_ID: $GATEHOUSE_JOB_STATE"' -o f URL
  gatehouse jobs run &
  gatehouse jobs set-credentials 3f2a… -u alice --password-stdin < pw.txt

The store is $XDG_STATE_HOME/gatehouse/jobs.db (~/.local/state/...) unless --db;
credentials and identities are sealed in it with the key in FILE.key (both mode 0600).
`

// jobsExamples are the example lines of each command's --help.
var jobsExamples = map[string]string{
	"add":             "gatehouse jobs add --negotiate --implicit-allow files.example.test --priority low --limit-rate 2M -o iso.img https://files.example.test/iso.img",
	"set-credentials": "gatehouse jobs set-credentials 3f2a9c… -u 'CORP\\alice' --password-stdin < pw.txt",
	"list":            "gatehouse jobs list --json",
	"run":             "gatehouse jobs run -v",
	"show":            "gatehouse jobs show 3f2a9c…",
	"resume":          "gatehouse jobs resume 3f2a9c…",
	"complete":        "gatehouse jobs complete 3f2a9c…",
	"cancel":          "gatehouse jobs cancel 3f2a9c…",
	"remove":          "gatehouse jobs remove 3f2a9c…",
}

// cmdJobs is `gatehouse jobs ...`: BITS-style background transfers.
func cmdJobs(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, jobsUsage)
		return 2
	}
	sub := args[0]
	fs := flag.NewFlagSet("jobs "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {}
	db := fs.String("db", "", "job store (default $XDG_STATE_HOME/gatehouse/jobs.db)")
	var cf *clientFlags
	var idf *identityFlags
	var out, upload, notify, prio, rate *string
	var asJSON, once, verbose *bool
	synopsis := ""
	switch sub {
	case "add":
		synopsis = "add URL -o FILE [flags] | add --upload FILE URL [flags]: queue a transfer; prints its id"
		cf = addClientFlags(fs)
		idf = addIdentityFlags(fs)
		out = fs.String("o", "", "destination file of a download")
		upload = fs.String("upload", "", "upload FILE to URL (BITS upload protocol) instead of downloading")
		notify = fs.String("notify-cmd", "", "shell command run when the job is transferred or in error, with GATEHOUSE_JOB_ID and GATEHOUSE_JOB_STATE set")
		prio = fs.String("priority", "normal", "foreground, normal or low: the queue's order")
		rate = fs.String("limit-rate", "", "bandwidth limit in bytes per second (K, M, G suffixes)")
	case "set-credentials":
		synopsis = "set-credentials ID [-u USER] [-U USER] [--cred ...] [--ccache FILE | --keytab FILE --user P] [--ntlm-user-file FILE]: replace the job's sealed credentials; a job in error is queued again"
		cf = addClientFlags(fs)
		idf = addIdentityFlags(fs)
	case "list":
		synopsis = "list [--json]: the jobs with state, bytes done/total, percent and last error"
		asJSON = fs.Bool("json", false, "JSON")
	case "run":
		synopsis = "run [--once] [-v]: transfer queued jobs; a progress bar on a terminal"
		once = fs.Bool("once", false, "stop when no job is ready")
		verbose = fs.Bool("v", false, "log each transfer")
	case "show":
		synopsis = "show ID: one job, JSON"
	case "resume":
		synopsis = "resume ID: queue a job in error again"
	case "complete":
		synopsis = "complete ID: move a downloaded file into place (an upload is only acknowledged)"
	case "cancel":
		synopsis = "cancel ID: stop a job and remove its partial file"
	case "remove":
		synopsis = "remove ID: forget a completed or cancelled job"
	case "help", "-h", "--help":
		fmt.Fprint(stdout, jobsUsage)
		return 0
	default:
		fmt.Fprintf(stderr, "gatehouse jobs: unknown command %q\n%s", sub, jobsUsage)
		return 2
	}
	if err := fs.Parse(interleave(fs, args[1:])); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, "usage: gatehouse jobs %s\n\nexample:\n  %s\n\nflags:\n", synopsis, jobsExamples[sub])
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return 0
		}
		fmt.Fprintf(stderr, "gatehouse jobs %s --help shows the flags\n", sub)
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "gatehouse jobs %s: "+format+"\n", append([]any{sub}, a...)...)
		return 1
	}
	wantArgs := map[string]int{"add": 1, "list": 0, "run": 0}
	n, ok := wantArgs[sub]
	if !ok {
		n = 1
	}
	if fs.NArg() != n {
		fmt.Fprintf(stderr, "usage: gatehouse jobs %s\n", synopsis)
		return 2
	}
	path := *db
	if path == "" {
		var err error
		if path, err = jobs.DefaultPath(); err != nil {
			return fail("%v", err)
		}
	}
	st, err := jobs.Open(path)
	if err != nil {
		return fail("%v", err)
	}
	defer st.Close()
	ctx := context.Background()
	switch sub {
	case "add":
		u, err := parseTarget(fs.Arg(0))
		if err != nil {
			return fail("%v", err)
		}
		if u.User != nil {
			fmt.Fprintln(stderr, "gatehouse jobs add: warning: credentials in the URL are deprecated (RFC 3986 §3.2.1); use -u")
		}
		cfg, err := cf.config(u, stdin, stderr, nil)
		if err != nil {
			return fail("%v", err)
		}
		if cfg.Identity, err = idf.identity(); err != nil {
			return fail("%v", err)
		}
		if _, err := cfg.NewTransport(); err != nil { // check the settings now, not at run time
			return fail("%v", err)
		}
		o := jobs.Options{NotifyCmd: *notify, Kind: jobs.Download}
		if o.Priority, err = jobs.ParsePriority(*prio); err != nil {
			return fail("--priority: %v", err)
		}
		if o.LimitRate, err = jobs.ParseRate(*rate); err != nil {
			return fail("--limit-rate: %v", err)
		}
		if *upload != "" {
			if *out != "" {
				return fail("-o is for downloads; an upload sends --upload FILE to the URL")
			}
			o.Kind, o.Source = jobs.Upload, *upload
		}
		j, err := st.AddJob(ctx, u.String(), *out, cfg, o)
		if err != nil {
			return fail("%v", err)
		}
		fmt.Fprintln(stdout, j.ID)
	case "set-credentials":
		u, _ := url.Parse("http://job.invalid/")
		cfg, err := cf.config(u, stdin, stderr, nil)
		if err != nil {
			return fail("%v", err)
		}
		if cfg.Identity, err = idf.identity(); err != nil {
			return fail("%v", err)
		}
		j, err := st.SetCredentials(ctx, fs.Arg(0), cfg)
		if err != nil {
			return fail("%v", err)
		}
		fmt.Fprintf(stdout, "%s %s\n", j.ID, j.State)
	case "list":
		all, err := st.List(ctx)
		if err != nil {
			return fail("%v", err)
		}
		if *asJSON {
			if all == nil {
				all = []*jobs.Job{}
			}
			b, _ := json.MarshalIndent(all, "", "  ")
			fmt.Fprintln(stdout, string(b))
			return 0
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSTATE\tKIND\tPRIORITY\tBYTES\t%\tURL\tFILE\tERROR")
		for _, j := range all {
			total, pct := "?", "?"
			if j.BytesTotal >= 0 {
				total = fmt.Sprint(j.BytesTotal)
			}
			if p := j.Percent(); p >= 0 {
				pct = fmt.Sprint(p)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%s\t%s\t%s\t%s\t%s\n", j.ID, j.State, j.Kind, j.Priority, j.BytesDone, total, pct, j.URL, j.Dest, j.Error)
		}
		tw.Flush()
	case "show":
		j, err := st.Get(ctx, fs.Arg(0))
		if err != nil {
			return fail("%v", err)
		}
		b, _ := json.MarshalIndent(j, "", "  ")
		fmt.Fprintln(stdout, string(b))
	case "run":
		level := slog.LevelWarn
		if *verbose {
			level = slog.LevelInfo
		}
		ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		r := &jobs.Runner{Store: st, Log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))}
		r.Progress = runProgress(stderr)
		if !*once {
			r.Idle = func(wake time.Time) {
				msg := "gatehouse jobs run: waiting for jobs (none is ready; Ctrl-C stops)"
				if !wake.IsZero() {
					msg = fmt.Sprintf("gatehouse jobs run: waiting for jobs (the next retry is at %s; Ctrl-C stops)", wake.Local().Format(time.TimeOnly))
				}
				fmt.Fprintln(stderr, msg)
			}
		}
		if err := r.Run(ctx, *once); err != nil {
			return fail("%v", err)
		}
	case "resume":
		if err := st.Resume(ctx, fs.Arg(0)); err != nil {
			return fail("%v", err)
		}
	case "complete":
		j, err := st.Complete(ctx, fs.Arg(0))
		if err != nil {
			return fail("%v", err)
		}
		fmt.Fprintln(stdout, j.Dest)
	case "cancel":
		if err := st.Cancel(ctx, fs.Arg(0)); err != nil {
			return fail("%v", err)
		}
	case "remove":
		if err := st.Remove(ctx, fs.Arg(0)); err != nil {
			return fail("%v", err)
		}
	}
	return 0
}

// runProgress draws a progress bar per job on w when w is a terminal;
// nil otherwise (nothing on a pipe).
func runProgress(w io.Writer) func(*jobs.Job, bool) {
	if newBar(w, -1, "") == nil {
		return nil
	}
	var mu sync.Mutex
	var bar *progressbar.ProgressBar
	var id string
	return func(j *jobs.Job, done bool) {
		mu.Lock()
		defer mu.Unlock()
		if done {
			if bar != nil && id == j.ID {
				bar.Finish()
			}
			bar, id = nil, ""
			return
		}
		if bar == nil || id != j.ID {
			verb := "download"
			if j.Kind == jobs.Upload {
				verb = "upload"
			}
			bar, id = newBar(w, j.BytesTotal, verb+" "+j.ID), j.ID
			bar.Set64(j.BytesDone)
			return
		}
		bar.Set64(j.BytesDone)
	}
}

// identityFlags are a job's own implicit identity (BITS's helper token).
type identityFlags struct {
	ccache, keytab, user, ntlmFile, ntlmUser *string
}

func addIdentityFlags(fs *flag.FlagSet) *identityFlags {
	return &identityFlags{
		ccache:   fs.String("ccache", "", "the job's own Kerberos ccache FILE (sealed with the job; the worker's own tickets are never used)"),
		keytab:   fs.String("keytab", "", "the job's own keytab FILE (with --user; sealed with the job; tickets got and renewed from it)"),
		user:     fs.String("user", "", "the principal of --keytab (user@REALM)"),
		ntlmFile: fs.String("ntlm-user-file", "", "the job's own NTLM user FILE (gss-ntlmssp's formats; sealed with the job)"),
		ntlmUser: fs.String("ntlm-user", "", "the line of --ntlm-user-file to use (default: its only line, else NTLMUSER or USER)"),
	}
}

// maxIdentityFile bounds a ccache, keytab or user file read into a job.
const maxIdentityFile = 1 << 20

// identity reads the files the flags name; nil when none is given.
func (f *identityFlags) identity() (*client.Identity, error) {
	if *f.ccache == "" && *f.keytab == "" && *f.ntlmFile == "" {
		if *f.user != "" {
			return nil, errors.New("--user goes with --keytab")
		}
		return nil, nil
	}
	if *f.ccache != "" && *f.keytab != "" {
		return nil, errors.New("--ccache and --keytab: choose one")
	}
	if *f.keytab != "" && *f.user == "" {
		return nil, errors.New("--keytab needs --user PRINCIPAL")
	}
	id := &client.Identity{Principal: *f.user, NTLMUser: *f.ntlmUser}
	read := func(flagName, p string) ([]byte, error) {
		if p == "" {
			return nil, nil
		}
		p = trimFilePrefix(p)
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", flagName, err)
		}
		if len(b) > maxIdentityFile {
			return nil, fmt.Errorf("--%s: %s is larger than %d bytes", flagName, p, maxIdentityFile)
		}
		return b, nil
	}
	var err error
	if id.CCache, err = read("ccache", *f.ccache); err != nil {
		return nil, err
	}
	if id.Keytab, err = read("keytab", *f.keytab); err != nil {
		return nil, err
	}
	if id.NTLMUsers, err = read("ntlm-user-file", *f.ntlmFile); err != nil {
		return nil, err
	}
	if id.NTLMUsers != nil && id.NTLMUser == "" {
		id.NTLMUser = os.Getenv("NTLMUSER")
		if id.NTLMUser == "" {
			id.NTLMUser = os.Getenv("USER")
		}
	}
	if err := id.Check(); err != nil {
		return nil, err
	}
	return id, nil
}

func trimFilePrefix(p string) string {
	if len(p) > 5 && p[:5] == "FILE:" {
		return p[5:]
	}
	return p
}

// The --help texts run prints for jobs and each of its commands, with
// their flags.
func init() {
	help["jobs"] = jobsUsage
	for _, sub := range []string{"add", "set-credentials", "list", "run", "show", "resume", "complete", "cancel", "remove"} {
		var b strings.Builder
		cmdJobs([]string{sub, "--help"}, nil, &b, io.Discard)
		help["jobs "+sub] = b.String()
	}
}

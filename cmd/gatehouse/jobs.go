package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"

	"github.com/gatehouse-auth/gatehouse/jobs"
)

const jobsUsage = `usage: gatehouse jobs COMMAND [--db FILE]
  add URL -o FILE [get's client flags]   queue a download; prints the job id
  list [--json]                          the jobs and their states
  show ID                                one job, JSON
  run [--once] [-v]                      transfer queued jobs (--once: until none is ready)
  resume ID                              retry a job in error
  complete ID                            move a transferred file into place
  cancel ID                              stop a job, remove its partial file
  remove ID                              forget a completed or cancelled job
The store is $XDG_STATE_HOME/gatehouse/jobs.db (~/.local/state/...) unless --db;
credentials are sealed in it with the key in FILE.key (both mode 0600).
`

// cmdJobs is `gatehouse jobs ...`: BITS-style background downloads.
func cmdJobs(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, jobsUsage)
		return 2
	}
	sub := args[0]
	fs := flag.NewFlagSet("jobs "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := fs.String("db", "", "job store (default $XDG_STATE_HOME/gatehouse/jobs.db)")
	var cf *clientFlags
	var out *string
	var asJSON, once, verbose *bool
	switch sub {
	case "add":
		cf = addClientFlags(fs)
		out = fs.String("o", "", "destination file")
	case "list":
		asJSON = fs.Bool("json", false, "JSON")
	case "run":
		once = fs.Bool("once", false, "stop when no job is ready")
		verbose = fs.Bool("v", false, "log each transfer")
	case "show", "resume", "complete", "cancel", "remove":
	case "help", "-h", "--help":
		fmt.Fprint(stdout, jobsUsage)
		return 0
	default:
		fmt.Fprintf(stderr, "gatehouse jobs: unknown command %q\n%s", sub, jobsUsage)
		return 2
	}
	if err := fs.Parse(interleave(fs, args[1:])); err != nil {
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
		fmt.Fprint(stderr, jobsUsage)
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
		u, err := url.Parse(fs.Arg(0))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fail("%q is not an http:// or https:// URL", fs.Arg(0))
		}
		if u.User != nil {
			fmt.Fprintln(stderr, "gatehouse jobs add: warning: credentials in the URL are deprecated (RFC 3986 §3.2.1); use -u")
		}
		cfg, err := cf.config(u, stdin, stderr, nil)
		if err != nil {
			return fail("%v", err)
		}
		if _, err := cfg.NewTransport(); err != nil { // check the settings now, not at run time
			return fail("%v", err)
		}
		j, err := st.Add(ctx, u.String(), *out, cfg)
		if err != nil {
			return fail("%v", err)
		}
		fmt.Fprintln(stdout, j.ID)
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
		fmt.Fprintln(tw, "ID\tSTATE\tBYTES\tURL\tFILE")
		for _, j := range all {
			total := "?"
			if j.BytesTotal >= 0 {
				total = fmt.Sprint(j.BytesTotal)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d/%s\t%s\t%s\n", j.ID, j.State, j.BytesDone, total, j.URL, j.Dest)
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

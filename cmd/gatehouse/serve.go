package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/gatehouse-auth/gatehouse/config"
	"github.com/gatehouse-auth/gatehouse/internal/daemon"
)

const serveHelp = `usage: gatehouse serve [--config FILE] [--check]

Runs the server. With no --config, the embedded default: HTTP on
127.0.0.1:8080, HTTPS on 127.0.0.1:8443 (self-signed), accounts in
./gatehouse.db, / anonymous and /whoami behind Negotiate, NTLM, Digest
and Basic.

Signals: SIGHUP reloads the config file (and the keytab, certificates,
CRLs and session keys it names) without dropping connections; a config
that fails to load leaves the running one and the reason is logged.
SIGTERM and SIGINT stop accepting and let requests in flight finish.
A keytab that changes on disk is picked up without a signal.

flags:
  --config FILE   YAML configuration (docs/CONFIG.md)
  --check         validate the configuration and what it names (keytab,
                  certificates, CRLs, static roots…), print one line per
                  problem, exit 0 (good) or 1; nothing is created or served
  --cpuprofile F  write a CPU profile to F until shutdown (for bench/)

examples:
  gatehouse serve
  gatehouse serve --config /etc/gatehouse/gatehouse.yaml
  gatehouse serve --config /etc/gatehouse/gatehouse.yaml --check
  kill -HUP $(pidof gatehouse)     # reload
`

func cmdServe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, serveHelp) }
	cfgPath := fs.String("config", "", "YAML config file (default: the embedded default)")
	check := fs.Bool("check", false, "validate the configuration and exit")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to FILE until shutdown (for bench/)")
	if helpAsked(args) {
		fmt.Fprint(stdout, serveHelp)
		return 0
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gatehouse serve: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	load := func() (*config.Config, error) {
		if *cfgPath != "" {
			return config.Load(*cfgPath)
		}
		return config.Default()
	}
	cfg, err := load()
	if *check {
		if err != nil {
			fmt.Fprintf(stdout, "%v\n", err)
			return 1
		}
		problems := daemon.Check(cfg)
		for _, p := range problems {
			fmt.Fprintln(stdout, p)
		}
		if len(problems) > 0 {
			return 1
		}
		fmt.Fprintln(stdout, "configuration ok")
		return 0
	}
	if err != nil {
		// every problem of the file, one a line
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(stderr, "gatehouse serve: %s\n", line)
		}
		return 1
	}
	logs := newSwapHandler(cfg.Log, stderr)
	log := slog.New(logs)
	if *cfgPath == "" {
		log.Info("running the embedded default configuration (gatehouse serve --config FILE to change it)")
	}
	// Signals are caught before the listeners open: a SIGHUP or SIGTERM
	// that comes as soon as the server is reachable must not meet the
	// default action (the end of the process).
	// They stay caught until the process exits: a second SIGTERM while
	// it drains is the same request, not a reason to die by the default
	// action.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	ctx, _ := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	run, err := daemon.Start(cfg, log, daemon.Options{Notify: daemon.SdNotify})
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse serve: %v\n", err)
		return 1
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintf(stderr, "gatehouse serve: %v\n", err)
			run.Shutdown()
			return 1
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
			}
			log.Info("SIGHUP: reloading the configuration", "config", *cfgPath)
			next, err := load()
			if err == nil {
				// level, format and access follow the file, from the
				// reload's own lines on
				logs.set(next.Log, stderr)
				if err = run.Reload(next); err != nil {
					logs.set(run.Config().Log, stderr)
				}
			}
			if err != nil {
				log.Error("reload failed; the running configuration stays", "error", err)
				continue
			}
		}
	}()
	if err := run.Wait(ctx); err != nil {
		fmt.Fprintf(stderr, "gatehouse serve: %v\n", err)
		return 1
	}
	return 0
}

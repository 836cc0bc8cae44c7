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
	"syscall"

	"github.com/gatehouse-auth/gatehouse/config"
	"github.com/gatehouse-auth/gatehouse/server"
)

func cmdServe(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "YAML config file (default: the embedded default)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to FILE until shutdown (for bench/)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gatehouse serve: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	var cfg *config.Config
	var err error
	if *cfgPath != "" {
		cfg, err = config.Load(*cfgPath)
	} else {
		cfg, err = config.Default()
	}
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse serve: %v\n", err)
		return 1
	}
	log := newLogger(cfg.Log, stderr)
	if *cfgPath == "" {
		log.Info("running the embedded default configuration (gatehouse serve --config FILE to change it)")
	}
	run, err := server.Start(cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse serve: %v\n", err)
		return 1
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "gatehouse serve: %v\n", err)
			return 1
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "gatehouse serve: %v\n", err)
			return 1
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run.Wait(ctx); err != nil {
		fmt.Fprintf(stderr, "gatehouse serve: %v\n", err)
		return 1
	}
	return 0
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

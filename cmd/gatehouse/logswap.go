package main

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"

	"github.com/gatehouse-auth/gatehouse/config"
)

// swapHandler is a slog.Handler whose level and format a reload can
// change: loggers made from it (With, WithGroup) follow the swap.
type swapHandler struct {
	cur *atomic.Pointer[slog.Handler]
	ops []func(slog.Handler) slog.Handler // With/WithGroup, in order
}

func newSwapHandler(c config.Log, w io.Writer) *swapHandler {
	h := &swapHandler{cur: new(atomic.Pointer[slog.Handler])}
	h.set(c, w)
	return h
}

// set makes every logger of h write with c's level and format.
func (h *swapHandler) set(c config.Log, w io.Writer) {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	var next slog.Handler
	if c.Format == "json" {
		next = slog.NewJSONHandler(w, opts)
	} else {
		next = slog.NewTextHandler(w, opts)
	}
	h.cur.Store(&next)
}

func (h *swapHandler) handler() slog.Handler {
	x := *h.cur.Load()
	for _, op := range h.ops {
		x = op(x)
	}
	return x
}

func (h *swapHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return (*h.cur.Load()).Enabled(ctx, l)
}

func (h *swapHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.handler().Handle(ctx, r)
}

func (h *swapHandler) with(op func(slog.Handler) slog.Handler) *swapHandler {
	ops := append(append([]func(slog.Handler) slog.Handler(nil), h.ops...), op)
	return &swapHandler{cur: h.cur, ops: ops}
}

func (h *swapHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return h.with(func(x slog.Handler) slog.Handler { return x.WithAttrs(as) })
}

func (h *swapHandler) WithGroup(name string) slog.Handler {
	return h.with(func(x slog.Handler) slog.Handler { return x.WithGroup(name) })
}

package server

import (
	"errors"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	attempts *prometheus.CounterVec
	// directory lookups by outcome: ok, not_found, unavailable
	directory [3]prometheus.Counter
	// counters caches the children of attempts: WithLabelValues hashes
	// its labels on every call, and this runs on every request.
	counters sync.Map // [2]string -> prometheus.Counter
}

// knownSchemes bounds the scheme label: names from the wire are mapped to
// these, or "other", so a client cannot grow the label set.
var knownSchemes = []string{"Basic", "Digest", "NTLM", "Negotiate", "Certificate", "session"}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_auth_attempts_total",
			Help: "Authentication attempts by scheme and outcome (success, failure, continue, stale, bad_request, error, unsupported).",
		}, []string{"scheme", "outcome"}),
	}
	dir := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_directory_lookups_total",
		Help: "Group lookups in the directory (directory:) by outcome: ok (cached or searched), not_found (no such user there), unavailable (no answer: group rules refused).",
	}, []string{"outcome"})
	if reg != nil {
		m.attempts = adopt(reg, m.attempts)
		dir = adopt(reg, dir)
	}
	for i, o := range []string{"ok", "not_found", "unavailable"} {
		m.directory[i] = dir.WithLabelValues(o)
	}
	return m
}

// adopt registers c, or returns the collector of the same kind already
// registered under its name: a daemon's reload builds a new Gate on the
// same registry, and the counts go on. Anything else it cannot register
// panics, as MustRegister does.
func adopt[T prometheus.Collector](reg prometheus.Registerer, c T) T {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(T); ok {
			return existing
		}
	}
	panic(err)
}

// Indexes of metrics.directory.
const (
	dirOK = iota
	dirNotFound
	dirUnavailable
)

func (m *metrics) attempt(scheme, outcome string) {
	known := "other"
	for _, k := range knownSchemes {
		if strings.EqualFold(k, scheme) {
			known = k
			break
		}
	}
	key := [2]string{known, outcome}
	if c, ok := m.counters.Load(key); ok {
		c.(prometheus.Counter).Inc()
		return
	}
	c := m.attempts.WithLabelValues(known, outcome)
	m.counters.Store(key, c)
	c.Inc()
}

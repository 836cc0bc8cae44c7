package server

import (
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	attempts *prometheus.CounterVec
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
	if reg != nil {
		reg.MustRegister(m.attempts)
	}
	return m
}

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

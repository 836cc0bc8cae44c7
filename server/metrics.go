package server

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	attempts *prometheus.CounterVec
}

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
	// Scheme names from the wire are bounded to the known ones so a client
	// cannot grow the label set.
	known := "other"
	for _, k := range []string{"Basic", "Digest", "NTLM", "Negotiate", "Certificate", "session"} {
		if strings.EqualFold(k, scheme) {
			known = k
		}
	}
	scheme = known
	m.attempts.WithLabelValues(scheme, outcome).Inc()
}

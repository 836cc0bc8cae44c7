package daemon

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-auth/gatehouse/krb"
)

// replayLogEvery: while the Kerberos replay cache keeps forgetting
// unexpired authenticators, say so at most this often — enough for an
// operator to see it, not a line per request under the load that causes
// it.
const replayLogEvery = time.Minute

// watchReplayCache exports how far back the Kerberos acceptance window
// reaches (gatehouse_kerberos_replay_window_seconds: clock_skew normally,
// less while the replay cache is full) and logs it, at most once a
// minute, while the full cache is forgetting authenticators.
func watchReplayCache(a *krb.Acceptor, c *krb.MemoryReplayCache, log *slog.Logger, reg prometheus.Registerer) {
	if reg != nil {
		replace(reg, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gatehouse_kerberos_replay_window_seconds",
			Help: "How far back a Kerberos authenticator's time may be and still be accepted: kerberos.clock_skew, less while the replay cache (kerberos.replay_cache_entries) is full.",
		}, func() float64 { return a.ReplayWindow().Seconds() }))
		replace(reg, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gatehouse_kerberos_replay_cache_entries",
			Help: "Authenticators held in the Kerberos replay cache.",
		}, func() float64 { return float64(c.Len()) }))
	}
	if log == nil {
		return
	}
	var last atomic.Int64
	c.OnEvict(func(time.Time) {
		now := time.Now().UnixNano()
		l := last.Load()
		if now-l < int64(replayLogEvery) || !last.CompareAndSwap(l, now) {
			return
		}
		w := a.ReplayWindow()
		log.Warn("kerberos replay cache full: forgetting the oldest authenticators; older ones are refused",
			"window", w.Round(time.Second).String(), "clock_skew", a.ClockSkew().String(),
			"accepts_since", time.Now().Add(-w).UTC().Format(time.RFC3339),
			"hint", "raise kerberos.replay_cache_entries")
	})
}

//go:build unix

package testenv

import (
	"syscall"
	"testing"
	"time"
)

// ReportCPU adds cpu-ns/op (user+system time of the process over the
// benchmark) beside ns/op: on a shared machine wall time measures the
// neighbours too. Use it as defer testenv.ReportCPU(b)().
func ReportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() {
		b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

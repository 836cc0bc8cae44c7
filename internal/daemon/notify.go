package daemon

import (
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// SdNotify sends state to systemd's notification socket (sd_notify(3)):
// READY=1 once listening, RELOADING=1 with MONOTONIC_USEC while a reload
// runs, STOPPING=1 on shutdown. Without NOTIFY_SOCKET it does nothing.
func SdNotify(state string) {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return
	}
	if addr[0] == '@' {
		addr = "\x00" + addr[1:] // abstract namespace
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return
	}
	defer c.Close()
	c.SetWriteDeadline(time.Now().Add(time.Second))
	c.Write([]byte(state))
}

// monotonicUsec is CLOCK_MONOTONIC in microseconds, which RELOADING=1
// carries (systemd 253 and later check it).
func monotonicUsec() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return ts.Nano() / 1000
}

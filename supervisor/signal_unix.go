//go:build unix

package supervisor

import (
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// stopSignal reads a Compose stop_signal ("SIGINT", "INT"); SIGTERM when
// it is empty or unknown.
func stopSignal(name string) syscall.Signal {
	if name == "" {
		return syscall.SIGTERM
	}
	n := strings.ToUpper(name)
	if !strings.HasPrefix(n, "SIG") {
		n = "SIG" + n
	}
	if s := unix.SignalNum(n); s != 0 {
		return s
	}
	return syscall.SIGTERM
}

//go:build linux

package sysmon

import (
	"os"
	"syscall"
)

// Reexec replaces the process with the same program, arguments and
// environment, plus the setting. It returns only if it did not: the
// setting is there already, or the exec failed (the server then runs as
// it would have, only with the monitor's wake-ups).
func Reexec() {
	env, ok := withSetting(os.Environ())
	if !ok {
		return
	}
	_ = syscall.Exec("/proc/self/exe", os.Args, env)
}

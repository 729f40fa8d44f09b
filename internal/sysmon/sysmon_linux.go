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
	// The program's own path, not /proc/self/exe: the process is named
	// after the file it runs ("tandem" in ps and top, not "exe").
	exe, err := os.Executable()
	if err != nil {
		return
	}
	_ = syscall.Exec(exe, os.Args, env)
}

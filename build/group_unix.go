//go:build unix

package build

import (
	"os/exec"
	"syscall"
)

// ownGroup runs cmd in a process group of its own, which canceling kills
// whole: npm and everything it ran.
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}

//go:build unix

package git

import (
	"os/exec"
	"syscall"
)

// detach gives git a session of its own: no controlling terminal, so ssh
// cannot prompt for a passphrase or a host key either, and canceling kills
// the whole group (git-remote-https, ssh, index-pack), not git alone.
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}

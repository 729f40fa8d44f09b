package git

import (
	"os/exec"
	"syscall"
)

// detach starts git without a console of its own to prompt on; canceling
// kills git (Windows has no process groups to kill at once).
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{HideWindow: true}
}

package build

import "os/exec"

// ownGroup: Windows has no process groups to kill at once; canceling kills
// the command itself.
func ownGroup(*exec.Cmd) {}

package supervisor

import "syscall"

// stopSignal: Windows has no signals to choose from; a service is killed.
func stopSignal(string) syscall.Signal { return syscall.SIGKILL }

//go:build linux

package process

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// A sandboxed command may not make a user namespace (in one it would hold
// every capability over namespaces of its own: where most kernel exploits
// start), nor reach the kernel's interfaces that no container needs and
// Docker's default seccomp profile also refuses: keyrings, BPF, perf,
// io_uring, module loading, mounts, kexec, swap. The calls fail with EPERM
// (clone3, whose flags a filter cannot read, with ENOSYS: libc then uses
// clone, whose flags it can). The shim's own setup is done by then.

// seccompDenied are the calls refused outright.
var seccompDenied = []uintptr{
	unix.SYS_KEYCTL, unix.SYS_ADD_KEY, unix.SYS_REQUEST_KEY,
	unix.SYS_BPF, unix.SYS_PERF_EVENT_OPEN, unix.SYS_USERFAULTFD,
	unix.SYS_IO_URING_SETUP, unix.SYS_IO_URING_ENTER, unix.SYS_IO_URING_REGISTER,
	unix.SYS_INIT_MODULE, unix.SYS_FINIT_MODULE, unix.SYS_DELETE_MODULE,
	unix.SYS_KEXEC_LOAD, unix.SYS_KEXEC_FILE_LOAD, unix.SYS_REBOOT,
	unix.SYS_MOUNT, unix.SYS_UMOUNT2, unix.SYS_PIVOT_ROOT, unix.SYS_SETNS,
	unix.SYS_OPEN_TREE, unix.SYS_MOVE_MOUNT, unix.SYS_FSOPEN, unix.SYS_FSCONFIG,
	unix.SYS_FSMOUNT, unix.SYS_FSPICK, unix.SYS_MOUNT_SETATTR,
	unix.SYS_SWAPON, unix.SYS_SWAPOFF, unix.SYS_ACCT, unix.SYS_OPEN_BY_HANDLE_AT,
	unix.SYS_QUOTACTL,
}

// auditArch is this architecture's, for the filter to refuse calls made
// under another ABI; 0 where tandem has no filter.
func auditArch() uint32 {
	switch runtime.GOARCH {
	case "amd64":
		return unix.AUDIT_ARCH_X86_64
	case "arm64":
		return unix.AUDIT_ARCH_AARCH64
	}
	return 0
}

// seccompProgram assembles the filter.
func seccompProgram(arch uint32) ([]bpf.RawInstruction, error) {
	const (
		allow  = unix.SECCOMP_RET_ALLOW
		eperm  = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
		enosys = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	)
	// seccomp_data: nr at 0, arch at 4, args from 16 (the low half of
	// args[0] at 16 on little-endian machines, as both of ours are).
	p := []bpf.Instruction{
		bpf.LoadAbsolute{Off: 4, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: arch, SkipTrue: 1},
		bpf.RetConstant{Val: enosys},
		bpf.LoadAbsolute{Off: 0, Size: 4},
	}
	if arch == unix.AUDIT_ARCH_X86_64 { // the x32 ABI's calls
		p = append(p, bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: 0x40000000, SkipFalse: 1}, bpf.RetConstant{Val: enosys})
	}
	p = append(p,
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.SYS_CLONE3, SkipFalse: 1},
		bpf.RetConstant{Val: enosys})
	for _, nr := range []uintptr{unix.SYS_UNSHARE, unix.SYS_CLONE} {
		p = append(p,
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(nr), SkipFalse: 4},
			bpf.LoadAbsolute{Off: 16, Size: 4},
			bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: unix.CLONE_NEWUSER, SkipFalse: 1},
			bpf.RetConstant{Val: eperm},
			bpf.RetConstant{Val: allow})
	}
	for _, nr := range seccompDenied {
		p = append(p, bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(nr), SkipFalse: 1}, bpf.RetConstant{Val: eperm})
	}
	return bpf.Assemble(append(p, bpf.RetConstant{Val: allow}))
}

// installSeccomp applies the filter to the calling thread, and so to the
// command it forks. It needs no_new_privs set first.
func installSeccomp() error {
	arch := auditArch()
	if arch == 0 {
		return nil
	}
	raw, err := seccompProgram(arch)
	if err != nil {
		return err
	}
	filter := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		filter[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&prog)), 0, 0); err != nil {
		return fmt.Errorf("seccomp: %w", err)
	}
	return nil
}

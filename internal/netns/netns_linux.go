//go:build linux

// Package netns dials into another network namespace from the calling
// thread, so tandem reaches a service bound to loopback inside an instance
// without any address outside it. The process and docker runtimes both use
// it: one for namespaces it makes, the other for a container's.
package netns

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/tandem-dev/tandem"
)

// host is this process's own network namespace, captured before any thread
// moves, so a thread that entered another one can return.
var host, hostErr = unix.Open("/proc/self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)

// Usable reports whether this process may enter network namespaces: it
// enters its own, which changes nothing but needs the privilege.
func Usable() error {
	if hostErr != nil {
		return fmt.Errorf("open own network namespace: %w", hostErr)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.Setns(host, unix.CLONE_NEWNET); err != nil {
		return tandem.Errorf(tandem.EUNSUPPORTED, "entering a network namespace needs root (or CAP_SYS_ADMIN): %v", err)
	}
	return nil
}

// OfPid opens the network namespace of process pid (a container's init).
// The file keeps the namespace even after the process is gone.
func OfPid(pid int) (*os.File, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/ns/net")
	if err != nil {
		return nil, fmt.Errorf("network namespace of pid %d: %w", pid, err)
	}
	return f, nil
}

// DialIn connects to addr from inside the namespace ns. The socket is
// created by the calling thread while it is inside ns, so it belongs to ns
// for its whole life; the thread returns to the host namespace before it
// runs anything else.
//
// It runs on the caller's own thread rather than on a goroutine of its own:
// a connection is made per request to servers that close each one, and the
// hand-off between threads costs more than the dial. A thread that could
// not return would run the caller's code in the wrong network; that cannot
// be allowed to go on, so tandem stops, and its services with it.
func DialIn(ctx context.Context, ns *os.File, d *net.Dialer, network, addr string) (net.Conn, error) {
	runtime.LockOSThread()
	if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("enter network namespace: %w", err)
	}
	c, err := d.DialContext(ctx, network, addr)
	if rerr := unix.Setns(host, unix.CLONE_NEWNET); rerr != nil {
		fmt.Fprintf(os.Stderr, "tandem: a thread cannot return to the host network namespace (%v): stopping\n", rerr)
		os.Exit(70)
	}
	runtime.UnlockOSThread()
	return c, err
}

//go:build linux

// Package netns dials into another network namespace from the calling
// thread, so tandem reaches a service bound to loopback inside an instance
// without any address outside it. The process and docker runtimes both use
// it: one for namespaces it makes, the other for a container's.
package netns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"syscall"

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

// DialIn connects to addr from inside the namespace ns. Only the socket
// needs the namespace: it belongs to the one its thread was in when it was
// made, for its whole life. So the calling thread enters ns, makes the
// socket, and returns to the host namespace before connecting: the wait for
// the connection then parks an ordinary goroutine, not a locked thread,
// which the scheduler would have to wake and hand back (two thread switches
// per dial, and a dial per request to servers that close every connection,
// like gunicorn's sync workers).
//
// It runs on the caller's own thread rather than on a goroutine of its own:
// the hand-off between threads costs more than the dial. A thread that could
// not return would run the caller's code in the wrong network; that cannot
// be allowed to go on, so tandem stops, and its services with it.
//
// The connection stays on this machine, so unless d asks for TCP keep-alive
// probes it gets none (Go's default costs four setsockopt calls per dial).
// An IP literal (what Target returns) with a dialer that asks for nothing
// more is dialed by dialLiteral, with the system calls alone; anything else
// by net.Dialer.
func DialIn(ctx context.Context, ns *os.File, d *net.Dialer, network, addr string) (net.Conn, error) {
	if ap, err := netip.ParseAddrPort(addr); err == nil && plain(d) && (network == "tcp" || network == "tcp4" && ap.Addr().Is4() || network == "tcp6" && ap.Addr().Is6()) {
		return dialLiteral(ctx, ns, d, network, ap)
	}
	dd := *d
	if dd.KeepAlive == 0 {
		dd.KeepAlive = -1
	}
	runtime.LockOSThread()
	if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("enter network namespace: %w", err)
	}
	inside := true
	leave := func() {
		goHome()
		inside = false
	}
	// The net package calls Control right after making the socket, before
	// connecting it, on the dialing goroutine; without Fast Fallback every
	// attempt is made on this one, in turn.
	dd.FallbackDelay = -1
	dd.Control = nil
	dd.ControlContext = func(ctx context.Context, network, address string, c syscall.RawConn) error {
		if !inside {
			// A second address: its socket would be made outside ns.
			return errors.New("a second socket would be made outside the namespace")
		}
		leave()
		if d.ControlContext != nil {
			return d.ControlContext(ctx, network, address, c)
		}
		if d.Control != nil {
			return d.Control(network, address, c)
		}
		return nil
	}
	// Not Dialer.DialTCP, though it would skip the resolver: it binds its
	// zero local address explicitly, a bind to an ephemeral port per dial
	// (BenchmarkDialIn: 300-380 µs a dial against 58).
	c, err := dd.DialContext(ctx, network, addr)
	if inside { // no socket was made
		leave()
	}
	return c, err
}

// plain: d asks for nothing dialLiteral does not do (a local address, a
// hook on the socket, keep-alive probes).
func plain(d *net.Dialer) bool {
	return d.LocalAddr == nil && d.Control == nil && d.ControlContext == nil && d.KeepAlive <= 0 && !d.KeepAliveConfig.Enable
}

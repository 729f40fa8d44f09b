//go:build linux

package process

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/internal/netns"
)

// hostNetns is this process's own network namespace, captured before any
// thread moves, so a thread that entered an instance's namespace can return.
var hostNetns, hostNetnsErr = unix.Open("/proc/self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)

// errPrivilege says what the process runtime needs and does not have.
var errPrivilege = tandem.Errorf(tandem.EUNSUPPORTED,
	"the process runtime makes a network namespace per stack instance and enters it, which needs root (or CAP_SYS_ADMIN): run tandem as root, for example with sudo")

// Available reports whether this process may make and enter network
// namespaces, before any work that would be wasted if it may not.
func Available() error {
	if hostNetnsErr != nil {
		return fmt.Errorf("open own network namespace: %w", hostNetnsErr)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// Entering our own namespace changes nothing but needs the privilege
	// every dial into an instance needs.
	if err := unix.Setns(hostNetns, unix.CLONE_NEWNET); err != nil {
		return errPrivilege
	}
	return nil
}

// newNetns creates a network namespace with loopback up and returns it as an
// open file. The namespace lives as long as the file or a process in it: no
// name in /var/run/netns, so nothing outlives tandem by accident.
func newNetns() (*os.File, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	var f *os.File
	err := onOwnThread(func() (err error) {
		f, err = unshareNetns()
		return err
	})
	if err != nil && f != nil {
		f.Close()
		f = nil
	}
	return f, err
}

// onOwnThread runs f on a goroutine locked to its thread; f may move the
// thread into another network namespace, and the thread returns to the host
// namespace before the scheduler may use it again. The rest of the process
// never leaves the host namespace.
func onOwnThread(f func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		err := f()
		if rerr := unix.Setns(hostNetns, unix.CLONE_NEWNET); rerr != nil {
			// The thread is stuck in a foreign namespace. Exiting a locked
			// goroutine would end the thread, and with it the Pdeathsig of
			// any child it once started: park it forever instead.
			ch <- fmt.Errorf("return to host network namespace: %w", rerr)
			select {}
		}
		runtime.UnlockOSThread()
		ch <- err
	}()
	return <-ch
}

func unshareNetns() (*os.File, error) {
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return nil, errPrivilege
	}
	fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open new network namespace: %w", err)
	}
	f := os.NewFile(uintptr(fd), "netns")
	if err := loopbackUp(); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// loopbackUp sets "lo" up in the calling thread's network namespace.
func loopbackUp() error {
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	defer unix.Close(s)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(s, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(s, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("set loopback up: %w", err)
	}
	return nil
}

// dialIn connects to addr from inside the namespace ns (netns.DialIn).
func dialIn(ctx context.Context, ns *os.File, d *net.Dialer, network, addr string) (net.Conn, error) {
	return netns.DialIn(ctx, ns, d, network, addr)
}

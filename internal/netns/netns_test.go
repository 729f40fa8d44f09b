//go:build linux

package netns

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// newNamespace makes a network namespace with loopback up and a listener
// on 127.0.0.1 inside it that writes "inside" to each connection.
func newNamespace(t *testing.T) (*os.File, string) {
	t.Helper()
	if err := Usable(); err != nil {
		t.Skip(err)
	}
	var ns *os.File
	var ln net.Listener
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		errc <- func() error {
			if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
				return err
			}
			defer func() {
				// Home again, or the thread ends with its goroutine.
				if unix.Setns(host, unix.CLONE_NEWNET) == nil {
					runtime.UnlockOSThread()
				}
			}()
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			ifr, err := unix.NewIfreq("lo")
			if err != nil {
				return err
			}
			if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
				return err
			}
			ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
			if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
				return err
			}
			if ns, err = os.Open("/proc/thread-self/ns/net"); err != nil {
				return err
			}
			ln, err = net.Listen("tcp4", "127.0.0.1:0")
			return err
		}()
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close(); ns.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, "inside")
			c.Close()
		}
	}()
	return ns, ln.Addr().String()
}

func TestDialInReachesTheNamespace(t *testing.T) {
	ns, addr := newNamespace(t)
	// The same port on the host's loopback belongs to nobody, or to
	// someone else: reaching "inside" proves the socket was made in ns.
	for range 50 {
		c, err := DialIn(context.Background(), ns, &net.Dialer{}, "tcp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(c)
		if err != nil || string(b) != "inside" {
			t.Fatalf("read %q, %v; want \"inside\"", b, err)
		}
		// No keep-alive probes unless asked for.
		rc, _ := c.(syscall.Conn).SyscallConn()
		var ka int
		_ = rc.Control(func(fd uintptr) { ka, err = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_KEEPALIVE) })
		if err != nil || ka != 0 {
			t.Fatalf("SO_KEEPALIVE = %d, %v; want 0", ka, err)
		}
		c.Close()
	}
	assertAllThreadsHome(t)
}

func TestDialInRefusedLeavesTheThreadHome(t *testing.T) {
	ns, _ := newNamespace(t)
	// Port 1 inside ns: nothing listens, the dial fails after the socket
	// was made; a bad address fails before.
	if _, err := DialIn(context.Background(), ns, &net.Dialer{}, "tcp4", "127.0.0.1:1"); err == nil {
		t.Fatal("dial to a closed port inside the namespace succeeded")
	}
	if _, err := DialIn(context.Background(), ns, &net.Dialer{}, "tcp4", "no-port"); err == nil {
		t.Fatal("dial to an address without a port succeeded")
	}
	assertAllThreadsHome(t)
}

func TestDialInKeepsTheCallersControl(t *testing.T) {
	ns, addr := newNamespace(t)
	called := 0
	d := &net.Dialer{KeepAlive: -1, Control: func(network, address string, c syscall.RawConn) error {
		called++
		return nil
	}}
	c, err := DialIn(context.Background(), ns, d, "tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if called != 1 {
		t.Fatalf("the caller's Control ran %d times, want 1", called)
	}
}

// assertAllThreadsHome checks that no thread of the process was left in
// another network namespace.
func assertAllThreadsHome(t *testing.T) {
	t.Helper()
	home, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	tasks, _ := filepath.Glob("/proc/self/task/*/ns/net")
	for _, f := range tasks {
		if id, err := os.Readlink(f); err == nil && id != home {
			t.Errorf("%s is in %s, not in the host's %s", f, id, home)
		}
	}
}

//go:build linux

package netns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

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

func TestDialInConnectionBehavesAsNets(t *testing.T) {
	ns, addr := newNamespace(t)
	c, err := DialIn(context.Background(), ns, &net.Dialer{}, "tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.RemoteAddr().String(); got != addr {
		t.Errorf("RemoteAddr %s, want %s", got, addr)
	}
	if la, ok := c.LocalAddr().(*net.TCPAddr); !ok || la.Port == 0 || !la.IP.IsLoopback() {
		t.Errorf("LocalAddr %v", c.LocalAddr())
	}
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "inside" {
		t.Fatalf("read %q, %v", b, err)
	}
	c2, err := DialIn(context.Background(), ns, &net.Dialer{}, "tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	io.ReadFull(c2, make([]byte, len("inside")))
	// The server closed its side: EOF, then after our Close, net.ErrClosed.
	if n, err := c2.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("read after the server closed: %d, %v; want EOF", n, err)
	}
	c2.Close()
	_, err = c2.Read(make([]byte, 1))
	var op *net.OpError
	if !errors.Is(err, net.ErrClosed) || !errors.As(err, &op) || op.Op != "read" {
		t.Errorf("read after Close: %v; want a *net.OpError around net.ErrClosed", err)
	}
	c.Close()
}

func TestDialInRefusedIsConnectionRefused(t *testing.T) {
	ns, _ := newNamespace(t)
	_, err := DialIn(context.Background(), ns, &net.Dialer{}, "tcp4", "127.0.0.1:1")
	var op *net.OpError
	if !errors.Is(err, syscall.ECONNREFUSED) || !errors.As(err, &op) || op.Op != "dial" {
		t.Errorf("dial to a closed port: %v; want a dial *net.OpError around ECONNREFUSED", err)
	}
	assertAllThreadsHome(t)
}

// A connection the listener has no room for stays in progress: the dial
// waits for it, within the dialer's timeout or until its context ends.
func TestDialInWaitsForAConnectionInProgress(t *testing.T) {
	ns, _ := newNamespace(t)
	addr, queued := fullListener(t, ns)
	// A deadline ends a read with a timeout, as net's does.
	queued.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := queued.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read past the deadline: %v; want os.ErrDeadlineExceeded", err)
	}
	if n, err := queued.Write([]byte("GET / HTTP/1.1\r\n\r\n")); err != nil || n != 18 {
		t.Errorf("write: %d, %v", n, err)
	}
	d := &net.Dialer{Timeout: 300 * time.Millisecond}
	start := time.Now()
	_, err := DialIn(context.Background(), ns, d, "tcp4", addr)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("dial to a full listener: %v; want a timeout", err)
	}
	if took := time.Since(start); took < 250*time.Millisecond || took > 5*time.Second {
		t.Errorf("the timeout of 300ms took %v", took)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	if _, err := DialIn(ctx, ns, &net.Dialer{}, "tcp4", addr); !errors.Is(err, context.Canceled) {
		t.Errorf("dial canceled while waiting: %v; want context.Canceled", err)
	}
	assertAllThreadsHome(t)
}

// fullListener listens in ns with no room for a connection nobody
// accepted: the first connection (returned) fills its queue, and the SYN
// of any other is dropped.
func fullListener(t *testing.T, ns *os.File) (string, net.Conn) {
	t.Helper()
	runtime.LockOSThread()
	if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	goHome()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := unix.Getsockname(fd)
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*unix.SockaddrInet4).Port)
	var first net.Conn
	for i := 0; i < 4; i++ { // fill the queue, whatever its exact size
		d := &net.Dialer{Timeout: 200 * time.Millisecond}
		c, err := DialIn(context.Background(), ns, d, "tcp4", addr)
		if err != nil && first != nil {
			return addr, first
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if first == nil {
			first = c
		}
	}
	t.Fatal("the listener with a backlog of 0 took 4 connections")
	return "", nil
}

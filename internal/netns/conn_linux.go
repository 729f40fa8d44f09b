//go:build linux

package netns

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// dialLiteral connects to ap, an IP literal, from inside ns with the
// system calls a TCP dial needs and nothing else: socket (in ns), connect,
// and the runtime poller's registration of the descriptor (os.NewFile).
//
// Written by hand, not net.Dialer, because the proxy dials once per request
// to servers that close every connection (gunicorn's sync workers), and
// net.Dialer spends about 25 µs of CPU a dial on this machine above those
// system calls (address resolution of a literal, a cancelation hook on the
// context, a write deadline set and cleared, getsockname and getpeername):
// a third of what the gateway's whole hop costs beside nginx's. The
// connection it returns behaves as net's does: reads, writes, deadlines,
// SyscallConn, net.OpError errors.
func dialLiteral(ctx context.Context, ns *os.File, d *net.Dialer, network string, ap netip.AddrPort) (net.Conn, error) {
	raddr := net.TCPAddrFromAddrPort(ap)
	fail := func(err error) error {
		return &net.OpError{Op: "dial", Net: network, Addr: raddr, Err: err}
	}
	if err := ctx.Err(); err != nil {
		return nil, fail(err)
	}
	family := unix.AF_INET
	if ap.Addr().Is6() {
		family = unix.AF_INET6
	}
	runtime.LockOSThread()
	if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, fail(os.NewSyscallError("setns", err))
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	goHome()
	if err != nil {
		return nil, fail(os.NewSyscallError("socket", err))
	}
	// As net does for every TCP connection: a request goes out at once.
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	var sa unix.Sockaddr
	if family == unix.AF_INET {
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	} else {
		sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	// Connect, and on loopback connect again: the kernel runs the peer's
	// side of the handshake before the first call returns, so the second
	// answers at once (0: connected), where a wait for the poller would park
	// the goroutine. Elsewhere it answers EALREADY, and the wait follows.
	err = connect(fd, sa)
	if err == unix.EINPROGRESS {
		err = connect(fd, sa)
	}
	if err != nil && err != unix.EALREADY && err != unix.EINPROGRESS {
		unix.Close(fd)
		return nil, fail(os.NewSyscallError("connect", err))
	}
	f := os.NewFile(uintptr(fd), "tcp") // non-blocking: the runtime poller takes it
	c := &conn{f: f, raddr: raddr, net: network}
	if err != nil {
		if err := c.wait(ctx, d, sa); err != nil {
			f.Close()
			return nil, fail(err)
		}
	}
	return c, nil
}

// connect is connect(2), which on Linux also reports on a connection in
// progress when called again: 0 once it is made, EALREADY while it is
// not, or why it failed.
func connect(fd int, sa unix.Sockaddr) error {
	for {
		err := unix.Connect(fd, sa)
		if err == unix.EISCONN {
			return nil
		}
		if err != unix.EINTR {
			return err
		}
	}
}

// goHome returns the calling thread to the host's namespace and unlocks it.
// A thread that could not return would run the caller's code in the wrong
// network; that cannot be allowed to go on, so tandem stops, and its
// services with it.
func goHome() {
	if err := unix.Setns(host, unix.CLONE_NEWNET); err != nil {
		os.Stderr.WriteString("tandem: a thread cannot return to the host network namespace (" + err.Error() + "): stopping\n")
		os.Exit(70)
	}
	runtime.UnlockOSThread()
}

// wait waits for c's connection in progress to be made, within d's
// timeout and ctx.
func (c *conn) wait(ctx context.Context, d *net.Dialer, sa unix.Sockaddr) error {
	rc, err := c.f.SyscallConn()
	if err != nil {
		return err
	}
	deadline := time.Time{}
	if d.Timeout > 0 {
		deadline = time.Now().Add(d.Timeout)
	}
	if t, ok := ctx.Deadline(); ok && (deadline.IsZero() || t.Before(deadline)) {
		deadline = t
	}
	_ = c.f.SetWriteDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = c.f.SetWriteDeadline(time.Unix(1, 0)) })
	var cerr error
	err = rc.Write(func(fd uintptr) bool {
		cerr = connect(int(fd), sa)
		return cerr != unix.EALREADY && cerr != unix.EINPROGRESS
	})
	if !stop() && ctx.Err() != nil {
		return ctx.Err() // canceled, whatever the wait saw: the deadline may be poisoned
	}
	if err != nil {
		return err
	}
	if cerr != nil {
		return os.NewSyscallError("connect", cerr)
	}
	return c.f.SetWriteDeadline(time.Time{})
}

// conn is a connected TCP socket with the poller's reads and writes of an
// *os.File, and net's addresses and errors.
type conn struct {
	f     *os.File
	raddr *net.TCPAddr
	net   string
}

var _ syscall.Conn = (*conn)(nil)

func (c *conn) Read(b []byte) (int, error) {
	n, err := c.f.Read(b)
	if err != nil && err != io.EOF {
		return n, c.opError("read", err)
	}
	return n, err
}

func (c *conn) Write(b []byte) (int, error) {
	n, err := c.f.Write(b)
	if err != nil {
		return n, c.opError("write", err)
	}
	return n, nil
}

func (c *conn) Close() error {
	if err := c.f.Close(); err != nil {
		return c.opError("close", err)
	}
	return nil
}

func (c *conn) LocalAddr() net.Addr {
	var addr net.Addr = &net.TCPAddr{}
	if rc, err := c.f.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			if sa, err := unix.Getsockname(int(fd)); err == nil {
				switch sa := sa.(type) {
				case *unix.SockaddrInet4:
					addr = &net.TCPAddr{IP: sa.Addr[:], Port: sa.Port}
				case *unix.SockaddrInet6:
					addr = &net.TCPAddr{IP: sa.Addr[:], Port: sa.Port}
				}
			}
		})
	}
	return addr
}

func (c *conn) RemoteAddr() net.Addr                  { return c.raddr }
func (c *conn) SetDeadline(t time.Time) error         { return c.f.SetDeadline(t) }
func (c *conn) SetReadDeadline(t time.Time) error     { return c.f.SetReadDeadline(t) }
func (c *conn) SetWriteDeadline(t time.Time) error    { return c.f.SetWriteDeadline(t) }
func (c *conn) SyscallConn() (syscall.RawConn, error) { return c.f.SyscallConn() }

// opError is err as net reports it: a *net.OpError around the cause (the
// *fs.PathError of os removed), net.ErrClosed for a closed connection.
func (c *conn) opError(op string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	if errors.Is(err, os.ErrClosed) {
		err = net.ErrClosed
	}
	return &net.OpError{Op: op, Net: c.net, Addr: c.raddr, Err: err}
}

//go:build linux

package process

import (
	"context"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
)

// BenchmarkDialIn is a new connection into an instance's namespace, as
// the gateway makes one per request to a server that closes each (gunicorn's
// sync workers), against the same on the host's network.
func BenchmarkDialIn(b *testing.B) {
	port := 18777
	sb, err := New().NewSandbox(context.Background(), tandem.SandboxSpec{Name: "bench", Services: []string{"api"}, DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer sb.Close()
	p, err := sb.Start(context.Background(), &tandem.Service{Name: "api", Context: "/", Command: []string{"/usr/bin/python3", "-c",
		fmt.Sprintf("import socket\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', %d)); s.listen(4096)\nwhile True:\n  c,_=s.accept(); c.close()", port)}}, io.Discard, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Stop(context.Background(), 0)
	addr := fmt.Sprintf("api:%d", port)
	for deadline := time.Now().Add(5 * time.Second); ; {
		if c, err := sb.DialContext(context.Background(), "tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("server did not listen")
		}
		time.Sleep(50 * time.Millisecond)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	target := fmt.Sprintf("127.0.0.1:%d", port)
	b.Run("namespace", func(b *testing.B) {
		dialEvery(b, func() (net.Conn, error) { return sb.DialContext(context.Background(), "tcp", addr) })
	})
	// The same through net.Dialer, which DialIn uses when the dialer asks
	// for more than a connection (here: a Control hook that does nothing).
	b.Run("namespace-net.Dialer", func(b *testing.B) {
		d := &net.Dialer{Control: func(string, string, syscall.RawConn) error { return nil }}
		dialEvery(b, func() (net.Conn, error) {
			return dialIn(context.Background(), sb.(*Sandbox).ns, d, "tcp4", target)
		})
	})
	b.Run("host", func(b *testing.B) {
		var d net.Dialer
		dialEvery(b, func() (net.Conn, error) { return d.DialContext(context.Background(), "tcp", ln.Addr().String()) })
	})
}

// dialEvery dials and closes, with a pause of 200 µs after each: a proxy
// waits between requests, and what a dial costs depends on it (a goroutine
// that parks on a connect, on a process that has been idle, wakes more
// than on a busy one). It reports the process's CPU time per dial: the
// dialing side's alone into a namespace, where the server is another
// process; the host's case counts its in-process server too. Run it with
// GODEBUG=schedtrace=2147483647, as tandem up runs (package sysmon).
func dialEvery(b *testing.B, dial func() (net.Conn, error)) {
	defer cpuPerOp(b)()
	for b.Loop() {
		c, err := dial()
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
		time.Sleep(200 * time.Microsecond)
	}
}

// cpuPerOp reports the process's CPU time (user and system, every thread)
// per operation of b, as cpu-µs/op, when the returned func is called.
func cpuPerOp(b *testing.B) func() {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(cpu()-start)/float64(b.N)/1e3, "cpu-µs/op")
		}
	}
}

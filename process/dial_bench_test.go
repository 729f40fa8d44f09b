//go:build linux

package process

import (
	"context"
	"fmt"
	"io"
	"net"
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
	b.Run("namespace", func(b *testing.B) {
		for b.Loop() {
			c, err := sb.DialContext(context.Background(), "tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			c.Close()
		}
	})
	b.Run("host", func(b *testing.B) {
		var d net.Dialer
		for b.Loop() {
			c, err := d.DialContext(context.Background(), "tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			c.Close()
		}
	})
}

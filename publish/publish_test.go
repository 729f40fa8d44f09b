package publish

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
)

// instance stands for a stack instance: service names resolve to servers
// on loopback, as the runtime's dialer resolves them inside a namespace.
type instance map[string]string // "web:3000" → "127.0.0.1:PORT"

func (in instance) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	real, ok := in[addr]
	if !ok {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "no service at %s", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, real)
}

// upperServer reads until EOF, then answers with what it read in capitals:
// it works only if the client's half-close arrives.
func upperServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, _ := io.ReadAll(c)
				c.Write([]byte(strings.ToUpper(string(b))))
			}()
		}
	}()
	return ln.Addr().String()
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func published(name string, host, port int, proto string) *tandem.Service {
	return &tandem.Service{Name: name, Publish: []tandem.PortBinding{
		{HostIP: "127.0.0.1", HostPort: host, Port: port, Protocol: proto, Pos: tandem.Pos{File: "compose.yml", Line: 7}},
	}}
}

func TestForwardsBothWaysWithHalfClose(t *testing.T) {
	host := freePort(t)
	p, skipped, err := Listen([]*tandem.Service{published("web", host, 3000, "tcp"), published("dns", freePort(t), 53, "udp")},
		instance{"web:3000": upperServer(t)}.dial, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if len(skipped) != 1 || skipped[0].Port != 53 {
		t.Errorf("skipped %+v, want the udp port", skipped)
	}
	p.Serve()
	if got := p.Addrs(); len(got) != 1 || got[0] != "127.0.0.1:"+strconv.Itoa(host)+" → web:3000" {
		t.Errorf("Addrs %v", got)
	}
	for i := 0; i < 3; i++ { // a connection each, one after another
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(host))
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write([]byte("hello "))
		c.Write([]byte("web"))
		c.(*net.TCPConn).CloseWrite()
		b, err := io.ReadAll(c)
		c.Close()
		if err != nil || string(b) != "HELLO WEB" {
			t.Fatalf("answer %q, %v", b, err)
		}
	}
}

func TestServiceNotListeningClosesTheConnection(t *testing.T) {
	host := freePort(t)
	p, _, err := Listen([]*tandem.Service{published("web", host, 3000, "tcp")}, instance{}.dial, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.Serve()
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(host))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read %d, %v: want the connection closed", n, err)
	}
}

func TestPortTakenNamesServiceAndLine(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := ln.Addr().(*net.TCPAddr).Port
	free := freePort(t)
	_, _, err = Listen([]*tandem.Service{published("a", free, 1, "tcp"), published("web", taken, 3000, "tcp")}, instance{}.dial, nil)
	var te *tandem.Error
	if !errors.As(err, &te) || te.Code != tandem.ECONFLICT || !strings.HasPrefix(err.Error(), `compose.yml:7: service "web" publishes port `+strconv.Itoa(taken)+":") {
		t.Fatalf("err = %v", err)
	}
	// All or none: the port bound before the failure is free again.
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(free))
	if err != nil {
		t.Fatalf("port %d still held after the failed Listen: %v", free, err)
	}
	l.Close()
}

func TestCloseEndsOpenConnections(t *testing.T) {
	// A service that never answers and never closes.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	held := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			held <- c
		}
	}()
	host := freePort(t)
	p, _, err := Listen([]*tandem.Service{published("web", host, 3000, "tcp")}, instance{"web:3000": ln.Addr().String()}.dial, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.Serve()
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(host))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var up net.Conn
	select {
	case up = <-held:
		defer up.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("the connection was not forwarded")
	}
	closed := make(chan error, 1)
	go func() { closed <- p.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return while a connection was open")
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := bufio.NewReader(c).ReadByte(); err == nil {
		t.Error("the client's connection is still open after Close")
	}
	if _, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(host)); err == nil {
		t.Error("still listening after Close")
	}
}

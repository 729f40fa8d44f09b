package kube

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

// Ways the gateway reaches pods (Runtime.Dial).
const (
	// DialPodIP connects to the pod's address: tandem runs in the cluster
	// or on its node.
	DialPodIP = "pod-ip"
	// DialPortForward goes through the API server's pods/portforward, as
	// kubectl port-forward does: tandem runs anywhere the API server
	// answers, a developer's machine included. Every connection crosses
	// the API server and the kubelet, so it is for development, not load.
	DialPortForward = "port-forward"
)

// tunnels are the port-forward connections to an instance's pods, one per
// pod, each carrying the streams of many dials.
//
// client-go's PortForwarder serves only local listeners (it accepts on a
// port and forwards what arrives); the gateway wants a net.Conn per dial,
// so this speaks the same stream protocol — an error stream and a data
// stream per connection, told apart by request id — on client-go's
// connection.
type tunnels struct {
	mu   sync.Mutex
	byID map[string]*tunnel // by pod name
}

type tunnel struct {
	conn httpstream.Connection
	next int // request id
}

// dialForward connects to port of pod through the API server.
func (s *Sandbox) dialForward(ctx context.Context, pod, port string) (net.Conn, error) {
	conn, id, err := s.tunnel(ctx, pod)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set(corev1.StreamType, corev1.StreamTypeError)
	h.Set(corev1.PortHeader, port)
	h.Set(corev1.PortForwardRequestIDHeader, strconv.Itoa(id))
	errs, err := conn.CreateStream(h)
	if err != nil {
		s.forget(pod, conn)
		return nil, errorf("port-forward to %s:%s: %w", pod, port, err)
	}
	errs.Close() // nothing is written to it
	h.Set(corev1.StreamType, corev1.StreamTypeData)
	data, err := conn.CreateStream(h)
	if err != nil {
		conn.RemoveStreams(errs)
		s.forget(pod, conn)
		return nil, errorf("port-forward to %s:%s: %w", pod, port, err)
	}
	return pipeStreams(conn, errs, data, pod+":"+port), nil
}

// tunnel returns the connection to pod, made on first use, and the next
// request id on it.
func (s *Sandbox) tunnel(ctx context.Context, pod string) (httpstream.Connection, int, error) {
	t := &s.tunnels
	t.mu.Lock()
	defer t.mu.Unlock()
	if c := t.byID[pod]; c != nil {
		select {
		case <-c.conn.CloseChan():
			delete(t.byID, pod)
		default:
			c.next++
			return c.conn, c.next, nil
		}
	}
	conn, err := s.forwardDial(ctx, pod)
	if err != nil {
		return nil, 0, errorf("port-forward to %s: %w", pod, err)
	}
	if t.byID == nil {
		t.byID = map[string]*tunnel{}
	}
	t.byID[pod] = &tunnel{conn: conn}
	return conn, 0, nil
}

// forwardDial opens pods/portforward as kubectl does: over WebSocket, or
// SPDY where the API server lacks it.
func (s *Sandbox) forwardDial(ctx context.Context, pod string) (httpstream.Connection, error) {
	cfg := s.rt.config
	u := s.cs.Core.RESTClient().Post().Resource("pods").Namespace(s.ns).Name(pod).SubResource("portforward").URL()
	transport, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		return nil, err
	}
	legacy := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)
	ws, err := portforward.NewSPDYOverWebsocketDialer(u, cfg)
	if err != nil {
		return nil, err
	}
	d := portforward.NewFallbackDialer(ws, legacy, upgradeRefused)
	// The dialers take no context: dial aside, and stop waiting when ctx
	// ends (closing what the dial made, if it ever does).
	type result struct {
		c   httpstream.Connection
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, _, err := d.Dial(portforward.PortForwardProtocolV1Name)
		done <- result{c, err}
	}()
	select {
	case r := <-done:
		return r.c, r.err
	case <-ctx.Done():
		go func() {
			if r := <-done; r.c != nil {
				r.c.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// forget drops pod's connection (if it is still conn), closing it.
func (s *Sandbox) forget(pod string, conn httpstream.Connection) {
	t := &s.tunnels
	t.mu.Lock()
	if c := t.byID[pod]; c != nil && (conn == nil || c.conn == conn) {
		delete(t.byID, pod)
		conn = c.conn
	}
	t.mu.Unlock()
	if conn != nil {
		conn.Close()
	}
}

// closeTunnels closes every connection of the instance.
func (s *Sandbox) closeTunnels() {
	t := &s.tunnels
	t.mu.Lock()
	all := t.byID
	t.byID = nil
	t.mu.Unlock()
	for _, c := range all {
		c.conn.Close()
	}
}

// pipeStreams is the data stream as a net.Conn (a net.Pipe, so deadlines
// work as the gateway expects); when the stream ends, what the error stream
// said (the kubelet's "connection refused") is the reader's error.
func pipeStreams(conn httpstream.Connection, errs, data httpstream.Stream, addr string) net.Conn {
	local, remote := net.Pipe()
	c := &forwardConn{Conn: local, addr: addr}
	said := make(chan error, 1)
	go func() {
		msg, err := io.ReadAll(errs)
		switch {
		case len(msg) > 0:
			said <- fmt.Errorf("port-forward to %s: %s", addr, msg)
		case err != nil:
			said <- fmt.Errorf("port-forward to %s: %w", addr, err)
		default:
			said <- nil
		}
	}()
	go func() {
		defer data.Close() // no more to send
		io.Copy(data, remote)
	}()
	go func() {
		io.Copy(remote, data)
		data.Reset()
		select {
		case err := <-said:
			c.failed.Store(&err)
		case <-time.After(time.Second):
		}
		conn.RemoveStreams(errs, data)
		remote.Close()
	}()
	return c
}

// forwardConn names its far end, and reads the error stream's complaint
// where the data ended.
type forwardConn struct {
	net.Conn
	addr   string
	failed atomic.Pointer[error]
}

func (c *forwardConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err == io.EOF {
		if e := c.failed.Load(); e != nil && *e != nil {
			return n, *e
		}
	}
	return n, err
}

func (c *forwardConn) RemoteAddr() net.Addr { return forwardAddr(c.addr) }

type forwardAddr string

func (a forwardAddr) Network() string { return "port-forward" }
func (a forwardAddr) String() string  { return string(a) }

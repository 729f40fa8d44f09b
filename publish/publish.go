// Package publish puts services' ports on the host, as Compose's ports:
// does ("3000:3000"), for tools that bypass the gateway: a database client
// on 5432, a debugger, a script that talks to the dev server directly.
//
// Each published port is a listener on the host that forwards every
// connection to the service inside its instance, through the instance's
// dialer, so it works the same on every runtime. It is written by hand
// because it is a listener and two copies; no library would be smaller.
package publish

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/tandem-dev/tandem"
)

// DialFunc connects to "service:port" inside the instance.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// dialTimeout bounds the connect into the instance: a service that does not
// listen yet refuses at once, but one whose backlog is full could hang.
const dialTimeout = 10 * time.Second

// Publisher forwards the published ports of a stack's services.
type Publisher struct {
	dial DialFunc
	log  *slog.Logger
	fwds []forward

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
}

type forward struct {
	ln     net.Listener
	target string // "web:3000"
}

// Listen binds the TCP ports that services publish, all or none: a port
// another program holds is an ECONFLICT error naming the service, the port
// and where the file publishes it. UDP ports are not published: they are
// returned as skipped so the caller can say so.
func Listen(services []*tandem.Service, dial DialFunc, log *slog.Logger) (p *Publisher, skipped []tandem.PortBinding, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p = &Publisher{dial: dial, log: log, conns: map[net.Conn]struct{}{}}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	for _, svc := range services {
		for _, b := range svc.Publish {
			if b.Protocol != "tcp" {
				skipped = append(skipped, b)
				continue
			}
			ln, err := net.Listen("tcp", net.JoinHostPort(b.HostIP, strconv.Itoa(b.HostPort)))
			if err != nil {
				p.Close()
				return nil, nil, tandem.Errorf(tandem.ECONFLICT, "%s: service %q publishes port %d: %w", b.Pos, svc.Name, b.HostPort, err)
			}
			p.fwds = append(p.fwds, forward{ln: ln, target: net.JoinHostPort(svc.Name, strconv.Itoa(b.Port))})
		}
	}
	return p, skipped, nil
}

// Serve forwards connections until Close.
func (p *Publisher) Serve() {
	for _, f := range p.fwds {
		p.wg.Add(1)
		go p.accept(f)
	}
}

// Addrs are the addresses listened on, with what each reaches: "0.0.0.0:3000 → web:3000".
func (p *Publisher) Addrs() []string {
	out := make([]string, len(p.fwds))
	for i, f := range p.fwds {
		out[i] = f.ln.Addr().String() + " → " + f.target
	}
	return out
}

func (p *Publisher) accept(f forward) {
	defer p.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and the like pass; wait a moment rather than spin.
			p.log.Warn("publish: accept", "addr", f.ln.Addr().String(), "err", err)
			select {
			case <-p.ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		if !p.track(c) {
			c.Close()
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer p.untrack(c)
			p.pipe(c, f.target)
		}()
	}
}

// pipe connects c to target and copies both ways; each side's end of
// input reaches the other as a half-close, as a TCP proxy should.
func (p *Publisher) pipe(c net.Conn, target string) {
	ctx, cancel := context.WithTimeout(p.ctx, dialTimeout)
	up, err := p.dial(ctx, "tcp", target)
	cancel()
	if err != nil {
		// As under Docker: the client sees the connection close.
		p.log.Info("publish: dial", "target", target, "err", err)
		c.Close()
		return
	}
	if !p.track(up) {
		up.Close()
		c.Close()
		return
	}
	defer p.untrack(up)
	done := make(chan struct{}, 2)
	copyHalf := func(dst, src net.Conn) {
		io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		} else {
			dst.Close()
		}
		done <- struct{}{}
	}
	go copyHalf(up, c)
	go copyHalf(c, up)
	<-done
	<-done
	c.Close()
	up.Close()
}

func (p *Publisher) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx.Err() != nil {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Publisher) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// Close stops listening, ends every forwarded connection and waits for
// them to be gone.
func (p *Publisher) Close() error {
	p.mu.Lock()
	p.cancel()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	var errs []error
	for _, f := range p.fwds {
		if err := f.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, fmt.Errorf("close %s: %w", f.ln.Addr(), err))
		}
	}
	p.wg.Wait()
	return errors.Join(errs...)
}

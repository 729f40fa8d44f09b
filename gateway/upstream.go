package gateway

import (
	"context"
	"net"
	"sync"
	"time"
)

// sitePool holds the upstreams of one *Site, kept across Sets while the
// site is. Upstreams are created on first use.
type sitePool struct {
	g    *Gateway
	name string
	dial func(ctx context.Context, network, addr string) (net.Conn, error)

	mu     sync.Mutex
	ups    map[string]*upstream // by target, "api:8000"
	closed bool
}

func newSitePool(g *Gateway, s *Site) *sitePool {
	dial := s.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	return &sitePool{g: g, name: s.Name, dial: dial}
}

// get returns the upstream of target, creating it.
func (p *sitePool) get(service, target string) *upstream {
	p.mu.Lock()
	defer p.mu.Unlock()
	if u, ok := p.ups[target]; ok {
		return u
	}
	if p.ups == nil {
		p.ups = map[string]*upstream{}
	}
	u := &upstream{pool: p, service: service, target: target, closed: p.closed}
	p.ups[target] = u
	return u
}

// close closes the idle connections of a site that left the table; the
// connections of requests in flight are closed when they end.
func (p *sitePool) close() {
	p.mu.Lock()
	p.closed = true
	ups := make([]*upstream, 0, len(p.ups))
	for _, u := range p.ups {
		ups = append(ups, u)
	}
	p.mu.Unlock()
	for _, u := range ups {
		u.close()
	}
}

// upstream is one service of one site ("api:8000" of pr-7): its idle
// connections and its passive health.
type upstream struct {
	pool    *sitePool
	service string
	target  string
	health  health

	mu     sync.Mutex
	idle   []*upConn // most recently used last
	closed bool
	trim   *time.Timer // closes connections idle too long, armed while some are
}

// upConn is a connection to a service.
type upConn struct {
	net.Conn
	idleSince time.Time
}

// takeIdle returns the most recently used idle connection, if any. With
// check, connections the service has closed (or sent something on
// unasked) are closed and passed over: a request that cannot be retried
// must not be lost on one.
func (u *upstream) takeIdle(now time.Time, check bool) *upConn {
	for {
		u.mu.Lock()
		n := len(u.idle)
		if n == 0 {
			u.mu.Unlock()
			return nil
		}
		c := u.idle[n-1]
		u.idle[n-1] = nil
		u.idle = u.idle[:n-1]
		u.mu.Unlock()
		if now.Sub(c.idleSince) >= u.pool.g.opts.IdleConnTimeout {
			// The freshest is stale, so all are: the trim timer is about to run.
			c.Close()
			return nil
		}
		if !check || quiet(c.Conn) {
			return c
		}
		c.Close()
	}
}

// dial connects through the site's Dial, within ctx's deadline (the dial
// timeout).
func (u *upstream) dial(ctx context.Context) (*upConn, error) {
	c, err := u.pool.dial(ctx, "tcp", u.target)
	if err != nil {
		return nil, &dialError{err: err, timeout: ctx.Err() == context.DeadlineExceeded || isTimeout(err)}
	}
	return &upConn{Conn: c}, nil
}

// put returns a connection whose exchange is complete to the idle pool.
func (u *upstream) put(c *upConn) {
	c.idleSince = time.Now()
	u.mu.Lock()
	if u.closed || len(u.idle) >= u.pool.g.opts.MaxIdleConnsPerHost {
		u.mu.Unlock()
		c.Close()
		return
	}
	u.idle = append(u.idle, c)
	if len(u.idle) == 1 {
		u.armTrim()
	}
	u.mu.Unlock()
}

// armTrim schedules the closing of idle connections; u.mu is held.
func (u *upstream) armTrim() {
	d := u.pool.g.opts.IdleConnTimeout
	if u.trim == nil {
		u.trim = time.AfterFunc(d, u.trimIdle)
		return
	}
	u.trim.Reset(d)
}

// trimIdle closes the connections idle for longer than IdleConnTimeout.
func (u *upstream) trimIdle() {
	timeout := u.pool.g.opts.IdleConnTimeout
	var stale []*upConn
	u.mu.Lock()
	i := 0
	for i < len(u.idle) && time.Since(u.idle[i].idleSince) >= timeout {
		i++
	}
	stale = append(stale, u.idle[:i]...)
	n := copy(u.idle, u.idle[i:])
	clear(u.idle[n:])
	u.idle = u.idle[:n]
	if n > 0 {
		u.trim.Reset(timeout - time.Since(u.idle[0].idleSince) + time.Millisecond)
	}
	u.mu.Unlock()
	for _, c := range stale {
		c.Close()
	}
}

// close closes the idle connections and makes put close the others.
func (u *upstream) close() {
	u.mu.Lock()
	u.closed = true
	idle := u.idle
	u.idle = nil
	if u.trim != nil {
		u.trim.Stop()
	}
	u.mu.Unlock()
	for _, c := range idle {
		c.Close()
	}
}

// dialError marks a failure to connect, as opposed to a failure of a
// connection that was made: the first means the service is not there (503,
// or 504 on timeout), the second that it broke the exchange (502).
type dialError struct {
	err     error
	timeout bool
}

func (e *dialError) Error() string { return "dial: " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

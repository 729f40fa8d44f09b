package gateway

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// StatusClientClosedRequest is nginx's 499: the client went away before the
// response was complete. It is only ever logged, never sent.
const StatusClientClosedRequest = 499

// exchange is one request through the gateway, on either engine: what the
// access log and the Observer need, and the upstream connection in use, so
// that a client that leaves can have it closed.
type exchange struct {
	g      *Gateway
	start  time.Time
	site   *site
	route  *route
	up     *upstream
	method string // as sent, for the log
	path   string // escaped, without the query, for the log (set only when logging)
	client string // for the log (set only when logging)
	status int
	bytes  int64
	err    error  // why the gateway answered for the service: logged as a warning
	kind   string // the upstream error kind reported to the Observer

	principal  string // who the site's Gate let in, for the log
	generation int

	mu     sync.Mutex
	conn   net.Conn           // the upstream connection in use
	spent  net.Conn           // read to its end, closed once the response is out
	cancel context.CancelFunc // aborts a dial in progress
	gone   bool               // the client left
	ended  bool
	gen    uint64 // counts the requests a pooled exchange served, for late callbacks

	watch watcher // the client socket, on the fasthttp path
	uri   []byte  // scratch for the service's request-target, kept with the pooled exchange
}

var exchanges = sync.Pool{New: func() any { return new(exchange) }}

func (g *Gateway) newExchange() *exchange {
	x := exchanges.Get().(*exchange)
	x.g = g
	x.start = time.Now()
	x.mu.Lock()
	x.ended, x.gone = false, false
	x.mu.Unlock()
	return x
}

// setConn records the upstream connection in use; false if the client has
// already left.
func (x *exchange) setConn(c net.Conn) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.gone && c != nil {
		return false
	}
	x.conn = c
	return true
}

func (x *exchange) setCancel(cancel context.CancelFunc) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.gone && cancel != nil {
		return false
	}
	x.cancel = cancel
	return true
}

func (x *exchange) isGone() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.gone
}

// abort is called when the client has left: the service's request is ended
// by closing its connection (or canceling its dial).
func (x *exchange) abort() { x.abortGen(0, false) }

func (x *exchange) abortGen(gen uint64, check bool) {
	x.mu.Lock()
	if x.gone || x.ended || check && x.gen != gen {
		x.mu.Unlock()
		return
	}
	x.gone = true
	c, cancel := x.conn, x.cancel
	x.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if c != nil {
		c.Close()
	}
}

// abortFunc is abort for a callback that may run late, when the pooled
// exchange already serves another request: it then does nothing.
func (x *exchange) abortFunc() func() {
	x.mu.Lock()
	gen := x.gen
	x.mu.Unlock()
	return func() { x.abortGen(gen, true) }
}

// gone499 records that the client left.
func (x *exchange) gone499() *failure {
	x.status = StatusClientClosedRequest
	return &failure{status: StatusClientClosedRequest}
}

// fail records that the gateway answers for the service, and why.
func (x *exchange) fail(f failure, err error) *failure {
	if err == nil {
		err = errorString(f.msg)
	}
	x.err = err
	x.kind = f.kind
	return &f
}

type errorString string

func (e errorString) Error() string { return string(e) }

// finish ends the exchange: Observer, access log, and back to the pool.
func (x *exchange) finish() {
	x.mu.Lock()
	if x.ended {
		x.mu.Unlock()
		return
	}
	x.ended = true
	x.gen++
	x.conn, x.cancel = nil, nil
	x.mu.Unlock()
	x.watch.stop()
	if x.spent != nil {
		x.spent.Close()
		x.spent = nil
	}

	g := x.g
	d := time.Since(x.start)
	status := x.status
	if status == 0 {
		status = http.StatusOK
	}
	var siteName, prefix, service string
	if x.site != nil {
		siteName = x.site.name
		if x.site.inUse != nil {
			x.site.inUse(-1)
		}
	}
	if x.route != nil {
		prefix, service = x.route.Path, x.route.Service
	}
	if g.obs != nil {
		if x.kind != "" {
			g.obs.UpstreamError(siteName, service, x.kind)
		}
		g.obs.RequestDone(RequestInfo{Site: siteName, Route: prefix, Service: service, Method: methodLabel(x.method),
			Status: status, Duration: d, BytesOut: x.bytes})
	}
	if g.log != nil {
		level := slog.LevelInfo
		if x.err != nil && status != StatusClientClosedRequest {
			level = slog.LevelWarn
		}
		// The record is handed to the handler as Logger.LogAttrs would, less
		// the caller's program counter it looks up for a source nobody logs.
		if h := g.log.Handler(); h.Enabled(context.Background(), level) {
			attrs := []slog.Attr{
				slog.String("site", siteName),
				slog.String("route", prefix),
				slog.String("service", service),
				slog.String("method", x.method),
				slog.String("path", x.path),
				slog.Int("status", status),
				slog.Duration("duration", d),
				slog.Int64("bytes", x.bytes),
				slog.String("client", x.client),
			}
			if x.principal != "" {
				attrs = append(attrs, slog.String("principal", x.principal))
			}
			if x.generation > 0 {
				attrs = append(attrs, slog.Int("generation", x.generation))
			}
			if level == slog.LevelWarn {
				attrs = append(attrs, slog.String("error", x.err.Error()))
			}
			r := slog.NewRecord(time.Now(), level, "request", 0)
			r.AddAttrs(attrs...)
			_ = h.Handle(context.Background(), r)
		}
	}
	// Fields a late watcher callback reads are reset under the lock; the
	// rest belong to the request's own goroutines.
	x.mu.Lock()
	x.gone = false
	x.watch.conn = nil
	x.mu.Unlock()
	x.g, x.site, x.route, x.up = nil, nil, nil, nil
	x.method, x.path, x.client, x.kind, x.principal, x.generation = "", "", "", "", "", 0
	x.status, x.bytes, x.err = 0, 0, nil
	exchanges.Put(x)
}

// methodLabel bounds the method for metrics.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// decision is what becomes of a request: an answer given at once, a
// failure (the service cannot take it), a redirect (the prefix without its
// slash), a Gate's Handler, or its route, and the path to forward.
type decision struct {
	answer   *answer
	failure  *failure
	redirect string
	handler  http.Handler
	client   netip.Addr // for handler
	clean    string
	changed  bool
	host     []byte // the host routed by, forwarded as Host and X-Forwarded-Host
	cookie   string // the Gate's cookie, kept from the service
}

// resolve decides what becomes of r, whatever front-end (fasthttp or
// net/http) took it, in the table t: it finds the request's site, and its
// route.
func (x *exchange) resolve(t *table, r *request) decision {
	host, refused := r.check()
	if refused == nil && t != nil {
		x.site = t.lookup(host)
		if x.site != nil && x.site.inUse != nil {
			x.site.inUse(1) // and -1 in finish
		}
	}
	if x.g.obs != nil {
		x.g.obs.RequestStarted(x.siteName())
	}
	switch {
	case refused != nil:
		return decision{answer: refused}
	case t == nil:
		return decision{answer: &notStarted}
	case x.site == nil:
		return decision{answer: &notFound}
	}
	var cookie string
	if gate := x.site.gate; gate != nil {
		var h http.Handler
		var client netip.Addr
		if h, client, cookie = x.runGate(gate, r, host); h != nil {
			return decision{handler: h, client: client, host: host}
		}
	}
	p, ok := decodePath(r.tg.path)
	if !ok {
		return decision{answer: &badRequest}
	}
	clean, changed, _ := cleanPath(p)
	rt, redirect := x.site.match(clean)
	if rt == nil {
		return decision{answer: &notFound}
	}
	x.route = rt
	if redirect {
		loc := rt.location
		if r.tg.hasQuery {
			loc += "?" + r.tg.query
		}
		return decision{redirect: loc}
	}
	if ready := x.site.ready; ready != nil {
		if err := ready(rt.Service); err != nil {
			return decision{failure: x.fail(failure{http.StatusServiceUnavailable, publicMessage(err), ""}, err)}
		}
	}
	return decision{clean: clean, changed: changed, host: host, cookie: cookie}
}

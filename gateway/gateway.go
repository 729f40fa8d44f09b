// Package gateway is tandem's edge: an http.Handler that routes each request
// by path prefix to a service of a stack instance, as the production reverse
// proxy (nginx "location /prefix/") would, and answers for the service when
// it cannot.
//
// Upstreams live inside the instances' own networks, so the gateway never
// dials an address itself: each Site brings the function that does.
package gateway

import (
	"context"
	"errors"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Gateway. The zero value is usable.
type Options struct {
	// Logger receives one record per request ("request", level Info; Warn
	// when the gateway answered for a failing service) and proxy errors.
	// nil logs nothing.
	Logger *slog.Logger

	// TrustedProxies are the peers whose X-Forwarded-For, -Proto and -Host
	// are believed (a load balancer in front of the gateway). From anyone
	// else those headers are replaced.
	TrustedProxies []netip.Prefix

	// Timeouts towards services. Zero picks the default; a negative
	// ResponseHeaderTimeout waits forever.
	DialTimeout           time.Duration // default 10s
	ResponseHeaderTimeout time.Duration // default 60s, nginx's proxy_read_timeout
	IdleConnTimeout       time.Duration // default 90s

	// MaxIdleConnsPerHost is how many idle connections to keep per service.
	// Default 64.
	MaxIdleConnsPerHost int
}

// Defaults for zero Options fields.
const (
	DefaultDialTimeout           = 10 * time.Second
	DefaultResponseHeaderTimeout = 60 * time.Second
	DefaultIdleConnTimeout       = 90 * time.Second
	DefaultMaxIdleConnsPerHost   = 64
)

// Gateway routes requests to the sites of its current Table.
type Gateway struct {
	opts   Options
	log    *slog.Logger // nil: no access log
	errLog *log.Logger  // for httputil.ReverseProxy's own messages
	pool   bufferPool

	table atomic.Pointer[table]

	mu         sync.Mutex // serialises Set
	transports map[*Site]*http.Transport
}

// New returns a gateway that serves nothing until Set is called (503).
func New(opts Options) *Gateway {
	if opts.DialTimeout == 0 {
		opts.DialTimeout = DefaultDialTimeout
	}
	if opts.ResponseHeaderTimeout == 0 {
		opts.ResponseHeaderTimeout = DefaultResponseHeaderTimeout
	}
	if opts.IdleConnTimeout == 0 {
		opts.IdleConnTimeout = DefaultIdleConnTimeout
	}
	if opts.MaxIdleConnsPerHost == 0 {
		opts.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost
	}
	opts.TrustedProxies = slices.Clone(opts.TrustedProxies) // read on every request
	g := &Gateway{opts: opts, log: opts.Logger, transports: map[*Site]*http.Transport{}}
	if g.log != nil {
		g.errLog = slog.NewLogLogger(g.log.Handler(), slog.LevelWarn)
	} else {
		g.errLog = log.New(io.Discard, "", 0)
	}
	return g
}

// Set compiles t and makes it the table every new request is routed by.
// Requests already in flight finish on the table they started with. A *Site
// present in the previous table keeps its transport and idle connections;
// the idle connections of sites that left are closed. nil serves nothing.
func (g *Gateway) Set(t *Table) {
	g.mu.Lock()
	defer g.mu.Unlock()

	next := &table{}
	transports := make(map[*Site]*http.Transport)
	pages := make(map[string][]byte)
	if t != nil && t.Default != nil {
		next.def = g.compile(t.Default, g.transport(t.Default, transports), pages)
	}
	g.table.Store(next)

	for s, tr := range g.transports {
		if _, kept := transports[s]; !kept {
			tr.CloseIdleConnections()
		}
	}
	g.transports = transports
}

// transport returns s's transport from the previous Set, or a new one, and
// records it in next.
func (g *Gateway) transport(s *Site, next map[*Site]*http.Transport) *http.Transport {
	tr, ok := next[s]
	if !ok {
		if tr, ok = g.transports[s]; !ok {
			tr = g.newTransport(s)
		}
		next[s] = tr
	}
	return tr
}

// ServeHTTP routes r by its cleaned path to the matching route's service.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	lw := &logWriter{ResponseWriter: w, start: time.Now()}
	// Deferred so that it also runs when ReverseProxy aborts a response
	// with panic(http.ErrAbortHandler).
	defer g.finish(lw, r)
	g.serve(lw, r)
	lw.done = true
}

func (g *Gateway) serve(w *logWriter, r *http.Request) {
	t := g.table.Load()
	if t == nil {
		writePage(w, http.StatusServiceUnavailable, "tandem is starting", "No stack is being served yet.", true)
		return
	}
	s := t.lookup(r.Host)
	if s == nil {
		notFound(w)
		return
	}
	w.site = s.name
	if r.Method == http.MethodConnect {
		writePage(w, http.StatusMethodNotAllowed, "Method not allowed", "The gateway does not tunnel CONNECT requests.", false)
		return
	}
	p, _, ok := cleanPath(r.URL.Path)
	if !ok {
		notFound(w)
		return
	}
	rt, redirect := s.match(p)
	if rt == nil {
		notFound(w)
		return
	}
	w.route = rt
	if redirect {
		loc := rt.location
		if r.URL.RawQuery != "" {
			loc += "?" + r.URL.RawQuery
		}
		w.Header().Set("Location", loc)
		w.WriteHeader(http.StatusMovedPermanently)
		return
	}
	if s.ready != nil {
		if err := s.ready(rt.Service); err != nil {
			w.err = err
			rt.writeError(w, failure{http.StatusServiceUnavailable, publicMessage(err)})
			return
		}
	}
	rt.proxy.ServeHTTP(w, r)
}

// finish writes the access log record.
func (g *Gateway) finish(w *logWriter, r *http.Request) {
	if !w.done { // ReverseProxy aborted the response
		if w.clientGone(r) {
			w.status = StatusClientClosedRequest
		} else if w.err == nil {
			w.err = errAborted
		}
	}
	if g.log == nil {
		return
	}
	ctx := context.WithoutCancel(r.Context()) // the record outlives a client that left
	level := slog.LevelInfo
	if w.err != nil && w.status != StatusClientClosedRequest {
		level = slog.LevelWarn
	}
	if !g.log.Enabled(ctx, level) {
		return
	}
	status := w.status
	if status == 0 {
		status = http.StatusOK // what net/http sends for a handler that wrote nothing
	}
	var prefix, service string
	if w.route != nil {
		prefix, service = w.route.Path, w.route.Service
	}
	attrs := []slog.Attr{
		slog.String("site", w.site),
		slog.String("route", prefix),
		slog.String("service", service),
		slog.String("method", r.Method),
		slog.String("path", r.URL.EscapedPath()),
		slog.Int("status", status),
		slog.Duration("duration", time.Since(w.start)),
		slog.Int64("bytes", w.bytes),
		slog.String("client", g.clientIP(r)),
	}
	if level == slog.LevelWarn {
		attrs = append(attrs, slog.String("error", w.err.Error()))
	}
	g.log.LogAttrs(ctx, level, "request", attrs...)
}

var errAborted = errors.New("response aborted: the service failed mid-body")

// warn logs a problem that is not about one request.
func (g *Gateway) warn(msg string, args ...any) {
	if g.log != nil {
		g.log.Warn(msg, args...)
	}
}

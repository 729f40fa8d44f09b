// Package gateway is tandem's edge: it routes each request by host to a
// stack instance (a Site) and by path prefix to one of its services, as the
// production reverse proxy (nginx "location /prefix/") would, and answers
// for the service when it cannot.
//
// Plain HTTP/1.1 and HTTP/1.1 over TLS are served by fasthttp on both sides
// (the standard library's client is the largest cost of a Go proxy); HTTP/2
// is served by golang.org/x/net/http2 through ServeHTTP, on the same routing
// and the same upstream connections.
//
// Upstreams live inside the instances' own networks, so the gateway never
// dials an address itself: each Site brings the function that does.
package gateway

import (
	"log/slog"
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

	// Observer receives every request's outcome, for metrics. nil: none.
	Observer Observer

	// TrustedProxies are the peers whose X-Forwarded-For, -Proto and -Host
	// are believed (a load balancer in front of the gateway). From anyone
	// else those headers are replaced.
	TrustedProxies []netip.Prefix

	// Timeouts towards services. Zero picks the default; a negative
	// ResponseHeaderTimeout waits forever.
	DialTimeout           time.Duration // default 10s
	ResponseHeaderTimeout time.Duration // default 60s, nginx's proxy_read_timeout
	IdleConnTimeout       time.Duration // default 90s: idle connections to a service are closed after it

	// Timeouts towards clients. Zero picks the default.
	ClientHeaderTimeout time.Duration // default 60s to send the request head (and the TLS handshake)
	ClientIdleTimeout   time.Duration // default 75s between two requests on a keep-alive connection

	// MaxIdleConnsPerHost is how many idle connections to keep per service.
	// Default 64.
	MaxIdleConnsPerHost int

	// Passive health: MaxFails connection failures in a row (refused, timed
	// out, reset before a response) mark a service down for FailTimeout,
	// during which it is answered at once with 503; then one request may try
	// it again. Defaults 3 and 5s; a negative MaxFails never marks one down.
	MaxFails    int
	FailTimeout time.Duration

	// MaxHeaderBytes limits the request line and headers (431 beyond).
	// Default 16 KiB.
	MaxHeaderBytes int
	// MaxRequestBodySize limits request bodies (413 beyond). Default 0: no
	// limit, bodies stream to the service as they arrive.
	MaxRequestBodySize int64
}

// Defaults for zero Options fields.
const (
	DefaultDialTimeout           = 10 * time.Second
	DefaultResponseHeaderTimeout = 60 * time.Second
	DefaultIdleConnTimeout       = 90 * time.Second
	DefaultClientHeaderTimeout   = 60 * time.Second
	DefaultClientIdleTimeout     = 75 * time.Second
	DefaultMaxIdleConnsPerHost   = 64
	DefaultMaxFails              = 3
	DefaultFailTimeout           = 5 * time.Second
	DefaultMaxHeaderBytes        = 16 << 10
)

// Observer receives every request's outcome, for metrics. Calls must be
// cheap and safe for concurrent use.
type Observer interface {
	// RequestStarted: a request is in flight, once its host matched a site
	// ("" when none did).
	RequestStarted(site string)
	// RequestDone: the request is over (a WebSocket when its tunnel closes).
	RequestDone(r RequestInfo)
	// UpstreamError: the gateway could not get an answer from a service.
	// kind is "dial", "timeout", "reset", "bad_response" or "down" (passive
	// health answered for it).
	UpstreamError(site, service, kind string)
	// SitesChanged: the number of sites after each Set.
	SitesChanged(n int)
}

// RequestInfo is one request's outcome. Its strings come from the routing
// table, never from the request, so metric labels stay bounded.
type RequestInfo struct {
	Site, Route, Service string // Route is the route's path prefix; "" when none matched
	Method               string // one of the standard methods, or "OTHER"
	Status               int
	Duration             time.Duration
	BytesOut             int64
}

// Gateway routes requests to the sites of its current Table.
type Gateway struct {
	opts Options
	log  *slog.Logger // nil: no access log
	obs  Observer     // nil: none

	table atomic.Pointer[table]

	mu    sync.Mutex      // serialises Set
	sites map[*Site]*site // what the last Set compiled, to reuse

	srv srvState // listeners and connections, see serve.go
}

// New returns a gateway that serves nothing until Set is called (503).
func New(opts Options) *Gateway {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&opts.DialTimeout, DefaultDialTimeout)
	def(&opts.ResponseHeaderTimeout, DefaultResponseHeaderTimeout)
	def(&opts.IdleConnTimeout, DefaultIdleConnTimeout)
	def(&opts.ClientHeaderTimeout, DefaultClientHeaderTimeout)
	def(&opts.ClientIdleTimeout, DefaultClientIdleTimeout)
	def(&opts.FailTimeout, DefaultFailTimeout)
	if opts.MaxIdleConnsPerHost <= 0 {
		opts.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost
	}
	if opts.MaxFails == 0 {
		opts.MaxFails = DefaultMaxFails
	}
	if opts.MaxHeaderBytes <= 0 {
		opts.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	opts.TrustedProxies = slices.Clone(opts.TrustedProxies) // read on every request
	g := &Gateway{opts: opts, log: opts.Logger, obs: opts.Observer, sites: map[*Site]*site{}}
	g.srv.init(g)
	return g
}

// warn logs a problem that is not about one request.
func (g *Gateway) warn(msg string, args ...any) {
	if g.log != nil {
		g.log.Warn(msg, args...)
	}
}

package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http2"
)

// srvState is the gateway's listeners and connections.
type srvState struct {
	fast    *fasthttp.Server // HTTP/1.1, plain and over TLS
	h2      *http2.Server
	hs      *http.Server // h2's base configuration, and its graceful shutdown
	closing atomic.Bool

	mu        sync.Mutex
	listeners map[net.Listener]struct{} // TLS listeners (fasthttp tracks its own)
	h2conns   map[net.Conn]struct{}
	tunnels   map[*func()]struct{}
	redirects []*fasthttp.Server // ServeRedirect's
}

func (s *srvState) init(g *Gateway) {
	o := &g.opts
	quiet := quietLogger{}
	s.fast = &fasthttp.Server{
		Handler:                      g.serveFast,
		ErrorHandler:                 g.clientError,
		NoDefaultServerHeader:        true,
		NoDefaultDate:                true,
		NoDefaultContentType:         true,
		ReadBufferSize:               o.MaxHeaderBytes, // the whole request head must fit: 431 beyond
		ReadTimeout:                  o.ClientHeaderTimeout,
		IdleTimeout:                  o.ClientIdleTimeout,
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		SecureErrorLogMessage:        true,
		Logger:                       quiet,
	}
	s.hs = &http.Server{
		Handler:           g,
		MaxHeaderBytes:    o.MaxHeaderBytes,
		ReadHeaderTimeout: o.ClientHeaderTimeout,
		IdleTimeout:       o.ClientIdleTimeout,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	// Frames up to HTTP/2's default 16 KiB, as nginx reads them: a larger
	// one is the FRAME_SIZE_ERROR RFC 9113 section 4.2 asks for, where x/net
	// would accept up to 1 MiB.
	s.h2 = &http2.Server{IdleTimeout: o.ClientIdleTimeout, MaxReadFrameSize: 16 << 10}
	_ = http2.ConfigureServer(s.hs, s.h2) // registers h2's GOAWAY with hs.Shutdown
	s.listeners = map[net.Listener]struct{}{}
	s.h2conns = map[net.Conn]struct{}{}
	s.tunnels = map[*func()]struct{}{}
}

// Serve answers plain HTTP/1.1 on ln until Shutdown (http.ErrServerClosed).
func (g *Gateway) Serve(ln net.Listener) error {
	if g.srv.closing.Load() {
		ln.Close()
		return http.ErrServerClosed
	}
	err := g.srv.fast.Serve(ln)
	if g.srv.closing.Load() {
		return http.ErrServerClosed
	}
	return err
}

// ServeRedirect answers every request on ln with a 308 to the same host
// and path over https (on httpsPort, left out when 0 or 443), until
// Shutdown.
func (g *Gateway) ServeRedirect(ln net.Listener, httpsPort int) error {
	if g.srv.closing.Load() {
		ln.Close()
		return http.ErrServerClosed
	}
	port := ""
	if httpsPort != 0 && httpsPort != 443 {
		port = ":" + strconv.Itoa(httpsPort)
	}
	o := &g.opts
	rs := &fasthttp.Server{
		Handler:               func(ctx *fasthttp.RequestCtx) { redirectTo(ctx, port) },
		ErrorHandler:          g.clientError,
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
		ReadBufferSize:        o.MaxHeaderBytes,
		ReadTimeout:           o.ClientHeaderTimeout,
		IdleTimeout:           o.ClientIdleTimeout,
		Logger:                quietLogger{},
	}
	g.srv.mu.Lock()
	g.srv.redirects = append(g.srv.redirects, rs)
	g.srv.mu.Unlock()
	err := rs.Serve(ln)
	if g.srv.closing.Load() {
		return http.ErrServerClosed
	}
	return err
}

func redirectTo(ctx *fasthttp.RequestCtx, port string) {
	host := string(hostKey(nil, ctx.Request.Header.Host()))
	if host == "" {
		ctx.SetStatusCode(http.StatusBadRequest)
		return
	}
	uri := ctx.Request.Header.RequestURI()
	if len(uri) == 0 || uri[0] != '/' {
		uri = []byte("/")
	}
	ctx.Response.Header.Set("Location", "https://"+host+port+string(uri))
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.SetStatusCode(http.StatusPermanentRedirect)
}

// ServeTLS answers HTTPS on ln with the certificate in certFile and
// keyFile (re-read when they change on disk), until Shutdown: HTTP/2 for
// clients that offer it (ALPN h2), HTTP/1.1 otherwise.
func (g *Gateway) ServeTLS(ln net.Listener, certFile, keyFile string) error {
	certs, err := newCertReloader(certFile, keyFile, g.warn)
	if err != nil {
		ln.Close()
		return err
	}
	cfg := &tls.Config{
		GetCertificate: certs.get,
		NextProtos:     []string{"h2", "http/1.1"},
		MinVersion:     tls.VersionTLS12,
	}
	s := &g.srv
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		ln.Close()
		return http.ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()

	h1 := newConnListener(ln.Addr())
	served := make(chan error, 1)
	go func() { served <- s.fast.Serve(h1) }()
	defer func() {
		h1.Close()
		<-served
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			if s.closing.Load() {
				return http.ErrServerClosed
			}
			return err
		}
		go g.handshake(c, cfg, h1)
	}
}

// handshake completes TLS on c and hands it to the server of the protocol
// the client chose.
func (g *Gateway) handshake(c net.Conn, cfg *tls.Config, h1 *connListener) {
	tc := tls.Server(c, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), g.opts.ClientHeaderTimeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		c.Close()
		return
	}
	if tc.ConnectionState().NegotiatedProtocol == http2.NextProtoTLS {
		g.serveH2(tc)
		return
	}
	h1.push(tc)
}

func (g *Gateway) serveH2(c net.Conn) {
	s := &g.srv
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		c.Close()
		return
	}
	s.h2conns[c] = struct{}{}
	s.mu.Unlock()
	s.h2.ServeConn(c, &http2.ServeConnOpts{Handler: g, BaseConfig: s.hs})
	c.Close()
	s.mu.Lock()
	delete(s.h2conns, c)
	s.mu.Unlock()
}

// trackTunnel registers a tunnel's closer for Shutdown; the returned
// function unregisters it.
func (s *srvState) trackTunnel(closer func()) func() {
	p := &closer
	s.mu.Lock()
	closing := s.closing.Load()
	if !closing {
		s.tunnels[p] = struct{}{}
	}
	s.mu.Unlock()
	if closing {
		closer()
	}
	return func() {
		s.mu.Lock()
		delete(s.tunnels, p)
		s.mu.Unlock()
	}
}

// Shutdown stops accepting connections, closes idle ones and tunnels, and
// waits for the requests in flight to finish, or ctx to end (its error is
// returned then). Idle connections to services are closed last.
func (g *Gateway) Shutdown(ctx context.Context) error {
	s := &g.srv
	s.mu.Lock()
	s.closing.Store(true)
	for ln := range s.listeners {
		ln.Close()
	}
	var tunnels []func()
	for p := range s.tunnels {
		tunnels = append(tunnels, *p)
	}
	s.mu.Unlock()
	for _, closeTunnel := range tunnels {
		closeTunnel()
	}
	_ = s.hs.Shutdown(ctx) // sends GOAWAY on every HTTP/2 connection

	s.mu.Lock()
	servers := append([]*fasthttp.Server{s.fast}, s.redirects...)
	s.mu.Unlock()
	errc := make(chan error, len(servers))
	for _, fs := range servers {
		go func() { errc <- fs.ShutdownWithContext(ctx) }()
	}
	var err error
	for range servers {
		if e := <-errc; e != nil && err == nil && ctx.Err() != nil {
			err = ctx.Err()
		}
	}
	for {
		s.mu.Lock()
		n := len(s.h2conns)
		s.mu.Unlock()
		if n == 0 {
			break
		}
		select {
		case <-ctx.Done():
			s.mu.Lock()
			for c := range s.h2conns {
				c.Close()
			}
			s.mu.Unlock()
			err = ctx.Err()
		case <-time.After(20 * time.Millisecond):
			continue
		}
		break
	}

	g.mu.Lock()
	for _, cs := range g.sites {
		cs.pool.close()
	}
	g.mu.Unlock()
	return err
}

// clientError answers a request fasthttp could not read.
func (g *Gateway) clientError(ctx *fasthttp.RequestCtx, err error) {
	var a answer
	var small *fasthttp.ErrSmallBuffer
	switch {
	case errors.As(err, &small):
		a = headersLarge
		drainRequest(ctx.Conn())
	case isTimeout(err):
		a = clientTimout
	default:
		a = badRequest
	}
	a.writeFast(&ctx.Response)
}

// drainRequest reads what the client is still sending of a request the
// gateway refuses, for a moment: closing a connection with unread data
// resets it, and the client would see the reset instead of the answer.
func drainRequest(c net.Conn) {
	if c == nil {
		return
	}
	_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	_, _ = io.CopyN(io.Discard, c, 1<<20)
}

// quietLogger drops fasthttp's own messages (a client that resets its
// connection is not news); the access log says what matters.
type quietLogger struct{}

func (quietLogger) Printf(string, ...any) {}

// connListener is a net.Listener fed with connections whose TLS handshake
// chose HTTP/1.1, so that fasthttp serves (and shuts down) them as its own.
type connListener struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newConnListener(addr net.Addr) *connListener {
	return &connListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *connListener) push(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.done:
		c.Close()
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed // fasthttp ends Serve quietly on this one
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return l.addr }

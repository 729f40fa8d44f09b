package gateway

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// The usual stack: Django under /api/ (stripped, JSON errors), Next.js at /.
var (
	apiRoute = tandem.Route{Path: "/api/", Service: "api", Port: 8000, StripPrefix: true, Errors: tandem.ErrorsJSON}
	webRoute = tandem.Route{Path: "/", Service: "web", Port: 3000}
)

// via is a path a request can take into the gateway. Every pitfall test
// runs on each.
type via string

const (
	viaH1  via = "h1"     // plain HTTP/1.1: fasthttp
	viaTLS via = "tls-h1" // HTTP/1.1 over TLS: fasthttp
	viaH2  via = "h2"     // HTTP/2 over TLS: x/net/http2 into ServeHTTP
	viaStd via = "std"    // ServeHTTP under net/http's HTTP/1.1 server: the gateway embedded
)

var allPaths = []via{viaH1, viaTLS, viaH2, viaStd}

// h1Paths are those a browser opens a WebSocket on.
var h1Paths = []via{viaH1, viaTLS, viaStd}

// eachPath runs f as a subtest on every path.
func eachPath(t *testing.T, f func(t *testing.T, v via)) {
	forPaths(t, allPaths, f)
}

func forPaths(t *testing.T, paths []via, f func(t *testing.T, v via)) {
	for _, v := range paths {
		t.Run(string(v), func(t *testing.T) { f(t, v) })
	}
}

func (v via) tls() bool { return v == viaTLS || v == viaH2 }

// harness is a gateway on a real loopback listener in front of httptest
// services, reached through a Dial that maps "service:port" to them as a
// sandbox's DialContext would.
type harness struct {
	t    testing.TB
	via  via
	gw   *Gateway
	URL  string // "http://127.0.0.1:port" or "https://..."
	Addr string // the gateway's listener
	logs *logSink
	site *Site
	addr map[string]string // "api:8000" → "127.0.0.1:41234"

	mu      sync.Mutex
	dials   int
	hanging atomic.Int32 // dials to "hang" still waiting
}

// newHarness serves routes, with services ("api:8000" → handler) started as
// httptest servers. opts.Logger defaults to a sink the test can read.
func newHarness(t testing.TB, v via, opts Options, routes []tandem.Route, services map[string]http.Handler) *harness {
	t.Helper()
	h := &harness{t: t, via: v, addr: map[string]string{}}
	if opts.Logger == nil {
		h.logs = &logSink{}
		opts.Logger = slog.New(h.logs)
	}
	for target, handler := range services {
		up := httptest.NewServer(handler)
		t.Cleanup(up.Close)
		h.addr[target] = up.Listener.Addr().String()
	}
	h.site = &Site{Name: "local", Routes: routes, Dial: h.dial}
	h.gw = New(opts)
	h.gw.Set(&Table{Default: h.site})
	h.URL, h.Addr = serveGateway(t, h.gw, v)
	return h
}

// serveGateway serves g on a loopback listener the way v says, until the
// test ends, and returns its base URL and address.
func serveGateway(t testing.TB, g *Gateway, v via) (string, string) {
	t.Helper()
	if v == viaStd {
		srv := httptest.NewUnstartedServer(g)
		srv.Config.MaxHeaderBytes = g.opts.MaxHeaderBytes
		srv.Start()
		t.Cleanup(srv.Close)
		return srv.URL, srv.Listener.Addr().String()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	if v.tls() {
		cert, key := testCertFiles(t)
		go func() { done <- g.ServeTLS(ln, cert, key) }()
	} else {
		go func() { done <- g.Serve(ln) }()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := g.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != http.ErrServerClosed {
			t.Errorf("serve returned %v, want http.ErrServerClosed", err)
		}
	})
	scheme := "http://"
	if v.tls() {
		scheme = "https://"
	}
	return scheme + ln.Addr().String(), ln.Addr().String()
}

func (h *harness) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	h.mu.Lock()
	h.dials++
	real, ok := h.addr[addr]
	h.mu.Unlock()
	switch {
	case !ok:
		return nil, fmt.Errorf("no service at %s", addr)
	case real == "hang": // a namespace whose packets go nowhere
		h.hanging.Add(1)
		defer h.hanging.Add(-1)
		<-ctx.Done()
		return nil, ctx.Err()
	}
	var d net.Dialer
	return d.DialContext(ctx, network, real)
}

// setReady replaces the site by one with the same routes and ready.
func (h *harness) setReady(ready func(service string) error) {
	h.site = &Site{Name: h.site.Name, Routes: h.site.Routes, Dial: h.dial, Ready: ready}
	h.gw.Set(&Table{Default: h.site})
}

// setAddr points target ("api:8000") at addr: a listener, or "hang".
func (h *harness) setAddr(target, addr string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.addr[target] = addr
}

// refusedAddr returns an address nothing listens on.
func refusedAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func (h *harness) dialCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.dials
}

// transport returns a client transport for the harness's path.
func (h *harness) transport() *http.Transport {
	tr := clientTransport(h.via)
	h.t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// clientTransport speaks what v says: HTTP/2 only on viaH2.
func clientTransport(v via) *http.Transport {
	tr := &http.Transport{}
	switch v {
	case viaTLS:
		tr.TLSClientConfig = testClientTLS()
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{} // no h2
	case viaH2:
		tr.TLSClientConfig = testClientTLS()
		tr.ForceAttemptHTTP2 = true
	}
	return tr
}

// client returns an HTTP client of its own that does not follow redirects.
func (h *harness) client() *http.Client {
	return &http.Client{
		Transport:     h.transport(),
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// get fetches path through the gateway and returns the response and body.
func (h *harness) get(path string, hdr ...string) (*http.Response, string) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.URL+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	return h.do(req)
}

func (h *harness) do(req *http.Request) (*http.Response, string) {
	h.t.Helper()
	res, err := h.client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	if h.via == viaH2 && res.ProtoMajor != 2 {
		h.t.Errorf("%s: response over %s", h.via, res.Proto)
	}
	b, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return res, string(b)
}

// raw sends a request-target and headers exactly as written, for paths and
// headers a Go client would clean up, and returns the response and body.
// Over HTTP/2 the target goes as the :path pseudo-header, and the headers
// HTTP/2 forbids (connection-specific ones) cannot be sent at all.
func (h *harness) raw(target string, headers ...string) (*http.Response, string) {
	h.t.Helper()
	if h.via == viaH2 {
		return h.rawH2(target, headers...)
	}
	var c net.Conn
	var err error
	if h.via.tls() {
		c, err = tls.Dial("tcp", h.Addr, &tls.Config{RootCAs: testClientTLS().RootCAs, NextProtos: []string{"http/1.1"}, ServerName: "127.0.0.1"})
	} else {
		c, err = net.Dial("tcp", h.Addr)
	}
	if err != nil {
		h.t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET " + target + " HTTP/1.1\r\nHost: gateway.test\r\nConnection: close\r\n"
	for _, hd := range headers {
		req += hd + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		h.t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return res, string(b)
}

// h2Forbidden are the headers an HTTP/2 request cannot carry.
var h2Forbidden = map[string]bool{"connection": true, "keep-alive": true, "proxy-connection": true, "transfer-encoding": true, "upgrade": true}

func (h *harness) rawH2(target string, headers ...string) (*http.Response, string) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.URL+"/", nil)
	if err != nil {
		h.t.Fatal(err)
	}
	path, query, _ := strings.Cut(target, "?")
	req.URL.Opaque, req.URL.RawQuery = path, query
	req.Host = "gateway.test"
	for _, hd := range headers {
		k, v, _ := strings.Cut(hd, ":")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if h2Forbidden[strings.ToLower(k)] || strings.EqualFold(k, "te") && v != "trailers" {
			continue
		}
		req.Header.Add(k, v)
	}
	return h.do(req)
}

// echo answers with its name and the request URI it received.
func echo(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", name, r.RequestURI)
	})
}

// logSink is a slog.Handler that keeps records for tests to read.
type logSink struct {
	mu      sync.Mutex
	records []map[string]any
	attrs   []slog.Attr
}

func (s *logSink) Enabled(context.Context, slog.Level) bool { return true }

func (s *logSink) Handle(_ context.Context, r slog.Record) error {
	m := map[string]any{"level": r.Level.String(), "msg": r.Message}
	for _, a := range s.attrs {
		m[a.Key] = a.Value.Any()
	}
	r.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.Any()
		return true
	})
	s.mu.Lock()
	s.records = append(s.records, m)
	s.mu.Unlock()
	return nil
}

func (s *logSink) WithAttrs(as []slog.Attr) slog.Handler {
	return &logSink{attrs: append(append([]slog.Attr(nil), s.attrs...), as...)}
}

func (s *logSink) WithGroup(string) slog.Handler { return s }

// all returns the records so far.
func (s *logSink) all() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.records...)
}

// wait returns the first record with msg "request" for path, waiting for
// it: the access record is written after the client has its response.
func (s *logSink) wait(t testing.TB, path string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, r := range s.all() {
			if r["msg"] == "request" && r["path"] == path {
				return r
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no access record for %s; have %v", path, s.all())
	return nil
}

// contains fails unless body contains each of want.
func contains(t testing.TB, body string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("body does not contain %q:\n%s", w, body)
		}
	}
}

// serveOnce runs one GET through g without a network.
func serveOnce(g *Gateway, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	g.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

// send writes req to the gateway exactly as given, over h's HTTP/1 path
// (h1, TLS h1 or std), and returns the response and its body. The client
// waits at most 10 s: a gateway that stalls fails the test.
func (h *harness) send(req string) (*http.Response, string) {
	h.t.Helper()
	c := h.dialRaw()
	defer c.Close()
	if _, err := io.WriteString(c, req); err != nil {
		h.t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		h.t.Fatalf("%q: %v", req, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// h2Raw sends one request over HTTP/2 with exactly the header fields given
// as name, value pairs (pseudo-header fields included, nothing added), and
// returns the response's status, or the error code of the RST_STREAM or
// GOAWAY that refused it.
func (h *harness) h2Raw(fields ...string) (status int, code http2.ErrCode) {
	h.t.Helper()
	c, err := tls.Dial("tcp", h.Addr, &tls.Config{RootCAs: testClientTLS().RootCAs, NextProtos: []string{"h2"}, ServerName: "127.0.0.1"})
	if err != nil {
		h.t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for i := 0; i+1 < len(fields); i += 2 {
		_ = enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	fr := http2.NewFramer(c, c)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		h.t.Fatal(err)
	}
	_ = fr.WriteSettings()
	_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block.Bytes(), EndStream: true, EndHeaders: true})
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			h.t.Fatalf("h2: %v", err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = fr.WriteSettingsAck()
			}
		case *http2.MetaHeadersFrame:
			if f.StreamID == 1 {
				s, _ := strconv.Atoi(f.PseudoValue("status"))
				return s, 0
			}
		case *http2.RSTStreamFrame:
			return 0, f.ErrCode
		case *http2.GoAwayFrame:
			return 0, f.ErrCode
		}
	}
}

// counter is a service that counts the requests that reach it.
type counter struct {
	n atomic.Int32
	h http.Handler
}

func (c *counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.n.Add(1)
	c.h.ServeHTTP(w, r)
}

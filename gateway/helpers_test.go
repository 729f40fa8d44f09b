package gateway

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
)

// The usual stack: Django under /api/ (stripped, JSON errors), Next.js at /.
var (
	apiRoute = tandem.Route{Path: "/api/", Service: "api", Port: 8000, StripPrefix: true, Errors: tandem.ErrorsJSON}
	webRoute = tandem.Route{Path: "/", Service: "web", Port: 3000}
)

// harness is a gateway on a real listener in front of httptest services,
// reached through a Dial that maps "service:port" to them as a sandbox's
// DialContext would.
type harness struct {
	t    testing.TB
	gw   *Gateway
	srv  *httptest.Server // the gateway
	URL  string
	logs *logSink
	site *Site
	addr map[string]string // "api:8000" → "127.0.0.1:41234"

	mu    sync.Mutex
	dials int
}

// newHarness serves routes, with services ("api:8000" → handler) started as
// httptest servers. opts.Logger defaults to a sink the test can read.
func newHarness(t testing.TB, opts Options, routes []tandem.Route, services map[string]http.Handler) *harness {
	t.Helper()
	h := &harness{t: t, addr: map[string]string{}}
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
	h.srv = httptest.NewServer(h.gw)
	t.Cleanup(h.srv.Close)
	h.URL = h.srv.URL
	return h
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

// client returns an HTTP client of its own that does not follow redirects.
func (h *harness) client() *http.Client {
	tr := &http.Transport{}
	h.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     tr,
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
	b, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return res, string(b)
}

// raw sends a request line and headers exactly as written, for paths and
// headers a Go client would clean up, and returns the response and body.
func (h *harness) raw(target string, headers ...string) (*http.Response, string) {
	h.t.Helper()
	c, err := net.Dial("tcp", h.srv.Listener.Addr().String())
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

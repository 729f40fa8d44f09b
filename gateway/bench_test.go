package gateway

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/tandem-dev/tandem"
	"github.com/valyala/fasthttp"
)

// discardWriter is the cheapest ResponseWriter, so the benchmark measures
// the gateway and the loopback round trip rather than a recorder.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

func benchGateway(b *testing.B) *Gateway {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	b.Cleanup(up.Close)
	h := &harness{t: b, addr: map[string]string{"api:8000": up.Listener.Addr().String(), "web:3000": up.Listener.Addr().String()}}
	g := New(Options{})
	g.Set(&Table{Default: &Site{Name: "bench", Routes: []tandem.Route{apiRoute, webRoute}, Dial: h.dial}})
	return g
}

// BenchmarkServeHTTP proxies a tiny response from a loopback service.
func BenchmarkServeHTTP(b *testing.B) {
	g := benchGateway(b)
	req := httptest.NewRequest(http.MethodGet, "http://localhost:8080/api/users/42/?q=1", nil)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		g.ServeHTTP(w, req)
	}
}

func BenchmarkServeHTTPParallel(b *testing.B) {
	g := benchGateway(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := httptest.NewRequest(http.MethodGet, "http://localhost:8080/search/?q=1", nil)
		w := &discardWriter{h: http.Header{}}
		for pb.Next() {
			clear(w.h)
			g.ServeHTTP(w, req)
		}
	})
}

// BenchmarkServeFast proxies a tiny response through the fasthttp path:
// a real loopback listener, a fasthttp client in front and a loopback
// service behind.
func BenchmarkServeFast(b *testing.B) {
	up := fasthttpUpstream(b)
	h := &harness{t: b, addr: map[string]string{"web:3000": up}}
	g := New(Options{})
	g.Set(&Table{Default: &Site{Name: "bench", Routes: []tandem.Route{apiRoute, webRoute}, Dial: h.dial}})
	_, addr := serveGateway(b, g, viaH1)
	client := &fasthttp.HostClient{Addr: addr, MaxConns: 256}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI("http://" + addr + "/search/?q=1")
		for pb.Next() {
			if err := client.Do(req, resp); err != nil || resp.StatusCode() != 200 {
				b.Fatalf("%v %d", err, resp.StatusCode())
			}
		}
	})
}

// BenchmarkSet10000 is one reload of ten thousand sites of which one changed.
func BenchmarkSet10000(b *testing.B) {
	previews := make(map[string]*Site, 10000)
	for i := range 10000 {
		previews[strconv.Itoa(i)] = &Site{Name: strconv.Itoa(i), Routes: []tandem.Route{apiRoute, webRoute}}
	}
	g := New(Options{})
	t := &Table{Previews: map[string]map[string]*Site{"previews.example.com": previews}}
	g.Set(t)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		previews["0"] = &Site{Name: "0", Routes: []tandem.Route{apiRoute, webRoute}}
		g.Set(t)
	}
}

// fasthttpUpstream is a minimal service on loopback.
func fasthttpUpstream(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") }}
	go s.Serve(ln)
	b.Cleanup(func() { _ = s.Shutdown() })
	return ln.Addr().String()
}

// browserHead is a browser's request head, without its request line.
var browserHead = []byte("Host: pr-7.previews.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
	"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.5\r\n" +
	"Accept-Encoding: gzip, deflate, br, zstd\r\nConnection: keep-alive\r\nCookie: sessionid=abc; csrftoken=def\r\n" +
	"Upgrade-Insecure-Requests: 1\r\nSec-Fetch-Dest: document\r\nSec-Fetch-Mode: navigate\r\n\r\n")

// BenchmarkRequestCheck is what every request pays for the strict checks:
// the request-target split, the pass over the head, Host and framing.
func BenchmarkRequestCheck(b *testing.B) {
	host := []byte("pr-7.previews.example.com")
	b.ReportAllocs()
	for b.Loop() {
		r := request{tg: splitTarget("/api/users/42/?q=1"), host: host, head: scanHead(browserHead)}
		if _, a := r.check(); a != nil {
			b.Fatal(a.status)
		}
	}
}

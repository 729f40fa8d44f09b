package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tandem-dev/tandem"
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

package gateway

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/tandem-dev/tandem"
)

// Hop-by-hop headers, and any header the Connection header names, belong to
// one connection and must not cross the gateway in either direction.
func TestHopByHopHeaders(t *testing.T) {
	svc := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Connection", "X-Backend-Secret")
		h.Set("X-Backend-Secret", "internal")
		h.Set("Keep-Alive", "timeout=5")
		h.Set("Proxy-Authenticate", "Basic")
		h.Set("X-End-To-End", "kept")
		_ = json.NewEncoder(w).Encode(r.Header)
	})
	eachPath(t, func(t *testing.T, v via) {
		h := newHarness(t, v, Options{}, []tandem.Route{webRoute}, map[string]http.Handler{"web:3000": svc})

		// HTTP/2 has no Connection header (raw leaves out what HTTP/2
		// forbids): there X-Client-Secret is an ordinary header, and only
		// "TE: trailers" can be sent.
		te := "Te: trailers, deflate"
		if v == viaH2 {
			te = "Te: trailers"
		}
		res, body := h.raw("/",
			"Connection: keep-alive, X-Client-Secret",
			"X-Client-Secret: s3cret",
			"Keep-Alive: timeout=30",
			"Proxy-Connection: keep-alive",
			"Proxy-Authorization: Basic Zm9vOmJhcg==",
			"Upgrade: h2c",
			te,
			"X-End-To-End: kept",
		)
		var got http.Header
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		for _, k := range []string{"Connection", "X-Client-Secret", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "Upgrade"} {
			if k == "X-Client-Secret" && v == viaH2 {
				continue
			}
			if v, ok := got[k]; ok {
				t.Errorf("service received hop-by-hop %s: %q", k, v)
			}
		}
		if v := got.Get("Te"); v != "trailers" {
			t.Errorf("service received Te %q, want only trailers", v)
		}
		if v := got.Get("X-End-To-End"); v != "kept" {
			t.Errorf("service received X-End-To-End %q", v)
		}

		for _, k := range []string{"X-Backend-Secret", "Keep-Alive", "Proxy-Authenticate"} {
			if v, ok := res.Header[k]; ok {
				t.Errorf("client received hop-by-hop %s: %q", k, v)
			}
		}
		if v := res.Header.Get("X-End-To-End"); v != "kept" {
			t.Errorf("client received X-End-To-End %q", v)
		}
	})
}

// gunicorn's sync workers answer every request with "Connection: close" and
// close their end: that ends the service's connection, never the client's,
// and a new one is dialed for each request.
func TestServiceConnectionCloseStaysWithTheService(t *testing.T) {
	eachPath(t, func(t *testing.T, v via) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		var accepted atomic.Int32
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				accepted.Add(1)
				go func() {
					defer c.Close()
					if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
						return
					}
					_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nServer: gunicorn\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\nok")
				}()
			}
		}()
		h := newHarness(t, v, Options{}, []tandem.Route{webRoute}, nil)
		h.setAddr("web:3000", ln.Addr().String())
		for i := range 3 {
			res, body := h.get("/")
			if res.StatusCode != 200 || body != "ok" {
				t.Fatalf("request %d: %d %q", i, res.StatusCode, body)
			}
			if res.Close || res.Header.Get("Connection") != "" {
				t.Errorf("request %d: the client was told Connection %q (close: %v)", i, res.Header.Get("Connection"), res.Close)
			}
		}
		if n := accepted.Load(); n != 3 {
			t.Errorf("the service accepted %d connections, want 3", n)
		}
	})
}

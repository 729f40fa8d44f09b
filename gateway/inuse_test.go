package gateway

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/tandem-dev/tandem"
)

// InUse counts a request from when it comes until it is answered, and a
// WebSocket until its tunnel closes (a preview does not sleep while one is
// open); every kind of answer gives back what it took.
func TestInUseCountsRequestsUntilTheyEnd(t *testing.T) {
	release := make(chan struct{})
	svc := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ws":
			c, err := websocket.Accept(w, r, nil)
			if err != nil {
				return
			}
			defer c.CloseNow()
			c.Read(r.Context()) // until the client leaves
		case "/slow":
			w.Write([]byte("first of a stream\n"))
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
			}
		default:
			w.Write([]byte("ok"))
		}
	})
	forPaths(t, h1Paths, func(t *testing.T, v via) {
		// api:8000 runs nothing: its requests are answered by the gateway.
		h := newHarness(t, v, Options{}, []tandem.Route{apiRoute, webRoute}, map[string]http.Handler{"web:3000": svc})
		var n atomic.Int32
		h.site = &Site{Name: "pr-7", Routes: h.site.Routes, Dial: h.dial, InUse: func(d int) { n.Add(int32(d)) }}
		h.gw.Set(&Table{Default: h.site})
		settled := func(want int32) {
			t.Helper()
			for deadline := time.Now().Add(5 * time.Second); n.Load() != want; time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("in use: %d, want %d", n.Load(), want)
				}
			}
		}
		for path, want := range map[string]int{"/": 200, "/api/articles/": 503} {
			if res, _ := h.get(path); res == nil || res.StatusCode != want {
				t.Fatalf("GET %s: %v, want %d", path, res, want)
			}
		}
		settled(0)

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, _, err := websocket.Dial(ctx, h.wsURL("/ws"), &websocket.DialOptions{HTTPClient: h.client()})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		settled(1)
		c.Close(websocket.StatusNormalClosure, "")
		settled(0)

		res, err := h.client().Get(h.URL + "/slow")
		if err != nil {
			t.Fatal(err)
		}
		settled(1) // its head is answered, its body still streams
		release <- struct{}{}
		res.Body.Close()
		settled(0)
	})
}

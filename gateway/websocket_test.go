package gateway

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/tandem-dev/tandem"
)

// Next.js dev mode reloads the page over a WebSocket at /_next/webpack-hmr;
// it must pass through the gateway, both ways.
func TestWebSocket(t *testing.T) {
	hmr := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			t.Errorf("accept: %v", err)
			return
		}
		defer c.CloseNow()
		ctx := r.Context()
		if err := c.Write(ctx, websocket.MessageText, []byte(`{"action":"built"}`)); err != nil {
			return
		}
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				return
			}
			if err := c.Write(ctx, typ, append([]byte("echo "), msg...)); err != nil {
				return
			}
		}
	})
	forPaths(t, h1Paths, func(t *testing.T, v via) {
		h := newHarness(t, v, Options{}, []tandem.Route{apiRoute, webRoute}, map[string]http.Handler{"web:3000": hmr, "api:8000": hmr})

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, path := range []string{"/_next/webpack-hmr", "/api/ws/"} {
			c, res, err := websocket.Dial(ctx, h.wsURL(path), &websocket.DialOptions{HTTPClient: h.client()})
			if err != nil {
				t.Fatalf("dial %s: %v", path, err)
			}
			if res.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("%s: status %d", path, res.StatusCode)
			}
			if _, msg, err := c.Read(ctx); err != nil || string(msg) != `{"action":"built"}` {
				t.Fatalf("%s: first message %q, %v", path, msg, err)
			}
			for _, send := range []string{"ping", strings.Repeat("x", 30<<10)} {
				if err := c.Write(ctx, websocket.MessageText, []byte(send)); err != nil {
					t.Fatal(err)
				}
				if _, msg, err := c.Read(ctx); err != nil || string(msg) != "echo "+send {
					t.Fatalf("%s: echo of %d bytes: got %d bytes, %v", path, len(send), len(msg), err)
				}
			}
			if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
				t.Errorf("%s: close: %v", path, err)
			}
			if rec := h.logs.wait(t, path); rec["status"] != int64(http.StatusSwitchingProtocols) {
				t.Errorf("%s: access log status %v, want 101", path, rec["status"])
			}
		}
	})
}

// A WebSocket to a service that is down gets the same answer as a page.
func TestWebSocketServiceDown(t *testing.T) {
	forPaths(t, h1Paths, func(t *testing.T, v via) {
		h := newHarness(t, v, Options{}, []tandem.Route{webRoute}, nil) // web:3000 is not there
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, res, err := websocket.Dial(ctx, h.wsURL("/_next/webpack-hmr"), &websocket.DialOptions{HTTPClient: h.client()})
		if err == nil || res == nil || res.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("dial: %v, response %v; want a 503", err, res)
		}
	})
}

// wsURL is the ws:// or wss:// URL of path through the gateway.
func (h *harness) wsURL(path string) string {
	return "ws" + strings.TrimPrefix(h.URL, "http") + path
}

// Tunnels are not the table's: Sets, even one replacing the site by an
// equal *Site, leave an open WebSocket working.
func TestWebSocketSurvivesSet(t *testing.T) {
	echoWS := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, msg); err != nil {
				return
			}
		}
	})
	forPaths(t, h1Paths, func(t *testing.T, v via) {
		h := newHarness(t, v, Options{}, []tandem.Route{webRoute}, map[string]http.Handler{"web:3000": echoWS})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, _, err := websocket.Dial(ctx, h.wsURL("/ws"), &websocket.DialOptions{HTTPClient: h.client()})
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		roundTrip := func(msg string) {
			t.Helper()
			if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
				t.Fatal(err)
			}
			if _, got, err := c.Read(ctx); err != nil || string(got) != msg {
				t.Fatalf("echo %q: %q, %v", msg, got, err)
			}
		}
		roundTrip("before")
		for i := range 50 {
			other := &Site{Name: "other", Routes: []tandem.Route{webRoute}}
			h.gw.Set(&Table{Default: h.site, Hosts: map[string]*Site{"other" + strconv.Itoa(i) + ".test": other}})
		}
		roundTrip("after 50 Sets")
		h.setReady(nil) // the same routes on a new *Site
		roundTrip("after the site was replaced")
	})
}

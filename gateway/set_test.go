package gateway

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
)

// siteFor returns a site named name whose web:3000 is handler, and a
// counter of the connections opened to it.
func siteFor(t *testing.T, name string, handler http.Handler) (*Site, *atomic.Int32) {
	up := httptest.NewServer(handler)
	t.Cleanup(up.Close)
	var dials atomic.Int32
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		dials.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, network, up.Listener.Addr().String())
	}
	return &Site{Name: name, Routes: []tandem.Route{webRoute}, Dial: dial}, &dials
}

func gatewayServer(t *testing.T, g *Gateway) *httptest.Server {
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return srv
}

// Swapping tables while requests run never fails one.
func TestSetUnderLoad(t *testing.T) {
	a, _ := siteFor(t, "a", echo("a"))
	b, _ := siteFor(t, "b", echo("b"))
	g := New(Options{})
	g.Set(&Table{Default: a})
	srv := gatewayServer(t, g)
	client := srv.Client()

	stop := make(chan struct{})
	var swaps sync.WaitGroup
	swaps.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i%2 == 0 {
				g.Set(&Table{Default: b})
			} else {
				g.Set(&Table{Default: a})
			}
			time.Sleep(100 * time.Microsecond) // leave the requests some CPU
		}
	})

	var clients sync.WaitGroup
	for range 8 {
		clients.Go(func() {
			for range 100 {
				res, err := client.Get(srv.URL + "/x")
				if err != nil {
					t.Error(err)
					return
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != 200 || (string(body) != "a /x" && string(body) != "b /x") {
					t.Errorf("during swaps: %d %q", res.StatusCode, body)
					return
				}
			}
		})
	}
	clients.Wait()
	close(stop)
	swaps.Wait()

	g.Set(&Table{Default: b})
	if res := serveOnce(g, "/x"); res.Body.String() != "b /x" {
		t.Errorf("after the last Set: %q", res.Body.String())
	}
}

// A request in flight finishes on the table it started with.
func TestSetInFlightFinishes(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	a, _ := siteFor(t, "a", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
		_, _ = io.WriteString(w, "a")
	}))
	b, _ := siteFor(t, "b", echo("b"))
	g := New(Options{})
	g.Set(&Table{Default: a})
	srv := gatewayServer(t, g)

	got := make(chan string, 1)
	go func() {
		res, err := srv.Client().Get(srv.URL + "/slow")
		if err != nil {
			got <- err.Error()
			return
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		got <- res.Status + " " + string(body)
	}()
	<-arrived
	g.Set(&Table{Default: b})
	if res := serveOnce(g, "/"); res.Body.String() != "b /" {
		t.Errorf("new request after Set: %q", res.Body.String())
	}
	close(release)
	if s := <-got; s != "200 OK a" {
		t.Errorf("in-flight request: %q", s)
	}
}

// The same *Site keeps its connection pool and idle connections across Sets; a
// new one starts afresh, and the idle connections of a site that left are
// closed.
func TestSetKeepsConnections(t *testing.T) {
	var closed atomic.Int32
	up := httptest.NewUnstartedServer(echo("a"))
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			closed.Add(1)
		}
	}
	up.Start()
	t.Cleanup(up.Close)
	var dials atomic.Int32
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		dials.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, network, up.Listener.Addr().String())
	}
	a := &Site{Name: "a", Routes: []tandem.Route{webRoute}, Dial: dial}
	g := New(Options{})
	g.Set(&Table{Default: a})

	// The transport returns a connection to its pool just after the body's
	// EOF, asynchronously: give it a moment before the next request.
	get := func(path string) *httptest.ResponseRecorder {
		res := serveOnce(g, path)
		time.Sleep(20 * time.Millisecond)
		return res
	}
	pool := g.sites[a].pool
	get("/")
	get("/")
	// Routes are read again by Set. The new one goes to the same service:
	// connections are pooled per "service:port".
	a.Routes = []tandem.Route{{Path: "/new/", Service: "web", Port: 3000, StripPrefix: true}, webRoute}
	g.Set(&Table{Default: a})
	if g.sites[a].pool != pool {
		t.Error("a site kept across Set got a new connection pool")
	}
	if res := get("/new/x"); res.Body.String() != "a /x" {
		t.Errorf("new route of a kept site: %q", res.Body.String())
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("%d dials for a site kept across Set, want 1", n)
	}

	b := &Site{Name: "b", Routes: a.Routes, Dial: dial}
	g.Set(&Table{Default: b})
	get("/")
	if n := dials.Load(); n != 2 {
		t.Errorf("%d dials after a new site, want 2", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for closed.Load() < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if closed.Load() != 1 {
		t.Errorf("%d connections closed; the site that left should have closed its idle one", closed.Load())
	}
}

package gateway

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
)

// A service that closes kept-alive connections on its own (gunicorn,
// Node's 5 s keepAliveTimeout) leaves the gateway's pool holding
// connections that are already closed. A POST sent on one is lost: it
// cannot be sent again, so the client got 502 where nginx, which notices
// the close while the connection idles, answered 200. The gateway now
// looks before it reuses a connection for a request it could not retry.
func TestStaleConnPOST(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the gateway peeks at idle sockets on Linux only")
	}
	eachPath(t, func(t *testing.T, v via) {
		up := startRawService(t, func(n int) (answer, closeAfter bool) { return true, true })
		h := newHarness(t, v, Options{}, []tandem.Route{webRoute}, nil)
		h.setAddr("web:3000", up.addr)
		for i := range 5 {
			if i > 0 {
				h.waitClosedIdle("web:3000")
			}
			req, _ := http.NewRequest(http.MethodPost, h.URL+"/form", strings.NewReader("name=tandem"))
			if res, body := h.do(req); res.StatusCode != 200 || body != "ok" {
				t.Fatalf("POST %d: %d %q", i, res.StatusCode, body)
			}
		}
		if n := up.requests.Load(); n != 5 {
			t.Errorf("the service read %d requests, want 5", n)
		}
	})
}

// When a kept-alive connection ends without a byte of response, only a
// request with an idempotent method and no body is sent again, on a new
// connection; a POST gets 502 and reached the service once (RFC 9110
// section 9.2.2: a proxy does not retry it; nginx neither).
func TestStaleConnRetry(t *testing.T) {
	eachPath(t, func(t *testing.T, v via) {
		// Each connection's second request is read and left unanswered.
		up := startRawService(t, func(n int) (answer, closeAfter bool) { return n == 1, n > 1 })
		h := newHarness(t, v, Options{}, []tandem.Route{webRoute}, nil)
		h.setAddr("web:3000", up.addr)

		if res, _ := h.get("/warm"); res.StatusCode != 200 {
			t.Fatalf("warm-up: %d", res.StatusCode)
		}
		if res, body := h.get("/again"); res.StatusCode != 200 || body != "ok" {
			t.Errorf("GET on a connection the service dropped: %d %q, want 200 from a second try", res.StatusCode, body)
		}
		if n := up.requests.Load(); n != 3 {
			t.Errorf("the service read %d requests, want 3", n)
		}

		req, _ := http.NewRequest(http.MethodPost, h.URL+"/pay", strings.NewReader("amount=1"))
		if res, _ := h.do(req); res.StatusCode != http.StatusBadGateway {
			t.Errorf("POST on a connection the service dropped: %d, want 502", res.StatusCode)
		}
		if n := up.requests.Load(); n != 4 {
			t.Errorf("the service read %d requests, want 4: the POST once", n)
		}

		// Without a body, a POST is no more idempotent.
		if res, _ := h.get("/warm"); res.StatusCode != 200 {
			t.Fatalf("warm-up: %d", res.StatusCode)
		}
		req, _ = http.NewRequest(http.MethodPost, h.URL+"/logout", nil)
		if res, _ := h.do(req); res.StatusCode != http.StatusBadGateway {
			t.Errorf("POST without a body on a connection the service dropped: %d, want 502", res.StatusCode)
		}
		if n := up.requests.Load(); n != 6 {
			t.Errorf("the service read %d requests, want 6: the POST once", n)
		}
	})
}

// rawService is an HTTP/1.1 service on a raw listener: for the nth
// request on a connection (from 1), decide says whether to answer it
// ("200 ok", announcing keep-alive) and whether to close the connection
// after.
type rawService struct {
	addr     string
	requests atomic.Int32
}

func startRawService(t *testing.T, decide func(n int) (answer, closeAfter bool)) *rawService {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := &rawService{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c, decide)
		}
	}()
	return s
}

func (s *rawService) serve(c net.Conn, decide func(int) (bool, bool)) {
	defer c.Close()
	br := bufio.NewReader(c)
	for n := 1; ; n++ {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		s.requests.Add(1)
		answer, closeAfter := decide(n)
		if answer {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok")
		}
		if closeAfter {
			return
		}
	}
}

// waitClosedIdle waits until the gateway's newest idle connection to
// target is one its service has closed: the state the next request meets.
func (h *harness) waitClosedIdle(target string) {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if c := h.newestIdle(target); c != nil && !quiet(c) {
			return
		}
		time.Sleep(time.Millisecond)
	}
	h.t.Fatalf("the gateway holds no closed idle connection to %s", target)
}

func (h *harness) newestIdle(target string) net.Conn {
	g := h.gw
	g.mu.Lock()
	cs := g.sites[h.site]
	g.mu.Unlock()
	if cs == nil {
		return nil
	}
	cs.pool.mu.Lock()
	u := cs.pool.ups[target]
	cs.pool.mu.Unlock()
	if u == nil {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.idle) == 0 {
		return nil
	}
	return u.idle[len(u.idle)-1].Conn
}

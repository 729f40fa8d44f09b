package gateway

import (
	"net/http"
	"slices"
	"testing"

	"github.com/tandem-dev/tandem"
	"golang.org/x/net/http2"
)

// A NUL in the path, raw or as %00, is refused with 400: a service written
// in C, or a file system under a static server, ends the path there,
// where the gateway routed by the whole of it ("/public/x%00/../../admin").
// Other raw control bytes are refused too; escaped ones other than NUL
// pass, as does %00 in the query. (nginx, same upstream: the same answers.)
func TestNULInPath(t *testing.T) {
	svc := &counter{h: echo("web")}
	refused := []string{"/a%00b", "/a%00/../admin", "/a\x00b", "/a?x=\x00", "/a\x01b", "/a\x7fb"}
	passed := []string{"/a?x=%00", "/a%0ab", "/a%01b"}
	forPaths(t, h1Paths, func(t *testing.T, v via) {
		h := newHarness(t, v, Options{}, []tandem.Route{webRoute}, map[string]http.Handler{"web:3000": svc})
		for _, target := range refused {
			before := svc.n.Load()
			res, _ := h.send("GET " + target + " HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
			if res.StatusCode != http.StatusBadRequest || svc.n.Load() != before {
				t.Errorf("%q: %d (service reached: %v), want 400", target, res.StatusCode, svc.n.Load() != before)
			}
		}
		for _, target := range passed {
			res, body := h.send("GET " + target + " HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
			if res.StatusCode != 200 || body != "web "+target {
				t.Errorf("%q: %d %q", target, res.StatusCode, body)
			}
		}
	})

	// Over HTTP/2 a raw control byte in :path is x/net's to refuse (it
	// resets the stream); %00 reaches the gateway, which answers 400.
	t.Run(string(viaH2), func(t *testing.T) {
		h := newHarness(t, viaH2, Options{}, []tandem.Route{webRoute}, map[string]http.Handler{"web:3000": svc})
		for _, target := range append(refused, passed...) {
			before := svc.n.Load()
			status, code := h.h2Raw(":method", "GET", ":scheme", "https", ":authority", "a.test", ":path", target)
			switch ok := status == 200; {
			case ok && slices.Contains(refused, target):
				t.Errorf("%q: 200, want 400 or PROTOCOL_ERROR", target)
			case !ok && slices.Contains(passed, target):
				t.Errorf("%q: %d %v, want 200", target, status, code)
			case !ok && status != http.StatusBadRequest && code != http2.ErrCodeProtocol:
				t.Errorf("%q: %d %v, want 400 or PROTOCOL_ERROR", target, status, code)
			case !ok && svc.n.Load() != before:
				t.Errorf("%q: refused, but the service was reached", target)
			}
		}
	})
}

package gateway

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tandem-dev/tandem"
)

const chunkedHead = "POST /upload HTTP/1.1\r\nHost: gateway.test\r\nTransfer-Encoding: chunked\r\n\r\n"

// A chunked request body that breaks its framing gets 400 at once and the
// connection closed. The gateway must neither read it differently from
// the service behind it (fasthttp took "0x5" for a last chunk) nor answer
// for the service with a 200 of its own making, nor wait a minute for
// bytes that will not come (all three happened). nginx, same upstream:
// 400 for each.
func TestChunkedMalformed(t *testing.T) {
	cases := map[string]string{
		"size zz":          "zz\r\nhello\r\n0\r\n\r\n",
		"size -5":          "-5\r\nhello\r\n0\r\n\r\n",
		"size  5":          " 5\r\nhello\r\n0\r\n\r\n",
		"size 0x5":         "0x5\r\nhello\r\n0\r\n\r\n",
		"size overflow":    "ffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
		"bare LF, size":    "5\nhello\r\n0\r\n\r\n", // nginx: 200
		"bare LF, data":    "5\r\nhello\n0\r\n\r\n", // nginx: 200
		"bare LF, last":    "5\r\nhello\r\n0\n\n",   // nginx: 200
		"bytes past chunk": "5\r\nhelloXX\r\n0\r\n\r\n",
		"ext with CTL":     "5;a\x01\r\nhello\r\n0\r\n\r\n",    // nginx: 200
		"trailer no colon": "5\r\nhello\r\n0\r\nhello\r\n\r\n", // fasthttp waited on it
	}
	svc := &bodyCounter{}
	forPaths(t, h1Paths, func(t *testing.T, v via) {
		h := newHarness(t, v, Options{}, []tandem.Route{webRoute}, map[string]http.Handler{"web:3000": svc})
		for name, body := range cases {
			if v == viaStd && (name == "ext with CTL" || name == "trailer no colon") {
				continue // net/http's decoder lets these through
			}
			whole := svc.whole.Load()
			res, _ := h.send(chunkedHead + body)
			if res.StatusCode != http.StatusBadRequest || !res.Close {
				t.Errorf("%s: %d (close %v), want 400 and the connection closed", name, res.StatusCode, res.Close)
			}
			if svc.whole.Load() != whole {
				t.Errorf("%s: the service read a whole body", name)
			}
		}
	})
}

// A client that stops sending before its body's end (and says so by
// closing its side) gets 400, as from nginx, not a 200 made up for it.
func TestBodyCutShort(t *testing.T) {
	svc := &bodyCounter{}
	forPaths(t, h1Paths, func(t *testing.T, v via) {
		h := newHarness(t, v, Options{}, []tandem.Route{webRoute}, map[string]http.Handler{"web:3000": svc})
		for name, req := range map[string]string{
			"chunked":        chunkedHead + "5\r\nhel",
			"Content-Length": "POST /x HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\n\r\nhel",
		} {
			c := h.dialRaw()
			if _, err := io.WriteString(c, req); err != nil {
				t.Fatal(err)
			}
			if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			res, err := http.ReadResponse(bufio.NewReader(c), nil)
			c.Close()
			if err != nil || res.StatusCode != http.StatusBadRequest {
				t.Errorf("%s: %v %v, want 400", name, res, err)
			}
		}
	})
}

// The shapes of request smuggling: a body framed two ways, chunked twice,
// chunked in HTTP/1.0, or by an encoding nobody can read. RFC 9112 section
// 6.1 allows the first to be processed by Transfer-Encoding alone; the
// gateway refuses it as nginx does. Where net/http reads the request (std)
// its own rules stand: it drops the Content-Length and ignores HTTP/1.0's
// Transfer-Encoding.
func TestChunkedFraming(t *testing.T) {
	svc := &bodyCounter{}
	forPaths(t, h1Paths, func(t *testing.T, v via) {
		h := newHarness(t, v, Options{}, []tandem.Route{webRoute}, map[string]http.Handler{"web:3000": svc})
		for _, c := range []struct {
			name, req string
			want      int
		}{
			{"with Content-Length", "POST /x HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400},
			{"twice", "POST /x HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400},
			{"in HTTP/1.0", "POST /x HTTP/1.0\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400},
			{"identity", "POST /x HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: identity\r\n\r\nhello", http.StatusNotImplemented},
		} {
			want := c.want
			switch {
			case v == viaStd && c.name == "twice":
				want = http.StatusNotImplemented
			case v == viaStd && (c.name == "with Content-Length" || c.name == "in HTTP/1.0"):
				continue
			}
			if res, _ := h.send(c.req); res.StatusCode != want || !res.Close {
				t.Errorf("%s: %d (close %v), want %d and the connection closed", c.name, res.StatusCode, res.Close, want)
			}
		}
	})
}

// Well-formed chunked bodies reach the service whole, whatever their
// extensions and trailers, and the connection serves the next request.
func TestChunkedValid(t *testing.T) {
	svc := &bodyCounter{}
	forPaths(t, h1Paths, func(t *testing.T, v via) {
		h := newHarness(t, v, Options{}, []tandem.Route{webRoute}, map[string]http.Handler{"web:3000": svc})
		for body, want := range map[string]string{
			"5\r\nhello\r\n0\r\n\r\n":                                     "hello",
			"5;name=value\r\nhello\r\nA \r\n0123456789\r\n000\r\n\r\n":    "hello0123456789",
			"00005;a=\"b c\"\r\nhello\r\n0\r\nX-Sum: 1\r\nX-B: 2\r\n\r\n": "hello",
			"0\r\n\r\n": "",
		} {
			c := h.dialRaw()
			req := chunkedHead + body + "GET /next HTTP/1.1\r\nHost: gateway.test\r\nConnection: close\r\n\r\n"
			if _, err := io.WriteString(c, req); err != nil {
				t.Fatal(err)
			}
			out, _ := io.ReadAll(c)
			c.Close()
			if got := string(out); !strings.Contains(got, fmt.Sprintf("POST %d %q", len(want), want)) || !strings.Contains(got, "GET 0 \"\"") {
				t.Errorf("%q: %s", body, got)
			}
		}
	})
}

// bodyCounter answers with the method and the body it read, and counts the
// bodies it read whole.
type bodyCounter struct{ whole atomic.Int32 }

func (s *bodyCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	s.whole.Add(1)
	fmt.Fprintf(w, "%s %d %q", r.Method, len(b), b)
}

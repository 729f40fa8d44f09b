package gateway

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

// h2c smuggling: a client asks the gateway to upgrade to cleartext HTTP/2,
// hoping for a tunnel to the service on which it could send requests the
// gateway never routes. The gateway drops the upgrade: the service, which
// would gladly switch, gets a plain request, and the connection stays
// HTTP/1.1 through the gateway.
func TestH2CSmugglingRefused(t *testing.T) {
	svc := h2c.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Proto+" upgrade="+r.Header.Get("Upgrade")+" settings="+r.Header.Get("Http2-Settings"))
	}), &http2.Server{})
	forPaths(t, h1Paths, func(t *testing.T, v via) {
		h := newHarness(t, v, Options{}, []tandem.Route{webRoute}, map[string]http.Handler{"web:3000": svc})
		c := h.dialRaw()
		defer c.Close()
		br := bufio.NewReader(c)
		send := func(extra string) *http.Response {
			t.Helper()
			req := "GET /admin HTTP/1.1\r\nHost: gateway.test\r\n" + extra + "\r\n"
			if _, err := io.WriteString(c, req); err != nil {
				t.Fatal(err)
			}
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		res := send("Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n")
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || string(body) != "HTTP/1.1 upgrade= settings=" {
			t.Fatalf("h2c upgrade: %d %q", res.StatusCode, body)
		}
		// Still HTTP/1.1 to the gateway on the same connection.
		res = send("")
		body, _ = io.ReadAll(res.Body)
		if res.StatusCode != 200 || string(body) != "HTTP/1.1 upgrade= settings=" {
			t.Fatalf("next request: %d %q", res.StatusCode, body)
		}
	})
}

// dialRaw opens a connection to the gateway as h's path does (HTTP/1.1).
func (h *harness) dialRaw() net.Conn {
	h.t.Helper()
	var c net.Conn
	var err error
	if h.via.tls() {
		c, err = tls.Dial("tcp", h.Addr, &tls.Config{RootCAs: testClientTLS().RootCAs, NextProtos: []string{"http/1.1"}, ServerName: "127.0.0.1"})
	} else {
		c, err = net.Dial("tcp", h.Addr)
	}
	if err != nil {
		h.t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

package gateway

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/tandem-dev/tandem"
	"golang.org/x/net/http2"
)

// An absolute-form request-target ("GET http://a.test/x HTTP/1.1") names
// its host itself, and RFC 9112 section 3.2.2 says that host wins over the
// Host header. The gateway routes by it, and the service receives it as
// Host and X-Forwarded-Host: were routing to follow one and the service
// the other, a request for one preview would be answered by a service
// that believes it serves another. A client's own X-Forwarded-Host never
// gets through, unless the client is a trusted proxy. (nginx, with
// proxy_set_header Host $host: the same Host; 400 for the malformed ones.)
func TestAbsoluteForm(t *testing.T) {
	svc := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Uri", r.RequestURI)
		headers(w, r)
	})
	forPaths(t, h1Paths, func(t *testing.T, v via) {
		h := newHarness(t, v, Options{}, []tandem.Route{webRoute}, map[string]http.Handler{"echo:80": svc})
		h.gw.Set(hostTable(t, h))
		res, body := h.send("GET http://App.Example.com:8443/x?q=1 HTTP/1.1\r\nHost: pr-7.previews.example.com\r\n" +
			"X-Forwarded-Host: evil.test\r\nConnection: close\r\n\r\n")
		if res.StatusCode != 200 {
			t.Fatalf("%d %s", res.StatusCode, body)
		}
		got := seen(t, body)
		if got["host"] != "App.Example.com:8443" || !equalList(got["fwd-host"], "App.Example.com:8443") || res.Header.Get("X-Uri") != "/x?q=1" {
			t.Errorf("the service saw Host %v, X-Forwarded-Host %v, target %q", got["host"], got["fwd-host"], res.Header.Get("X-Uri"))
		}
		if rec := h.logs.wait(t, "/x"); rec["site"] != "app" {
			t.Errorf("routed to site %v, want app (the target's host)", rec["site"])
		}

		for name, req := range map[string]string{
			"no authority":     "GET http:///x HTTP/1.1\r\nHost: app.example.com\r\n",
			"userinfo":         "GET http://user@app.example.com/x HTTP/1.1\r\nHost: app.example.com\r\n",
			"bad authority":    "GET http://a\\b/x HTTP/1.1\r\nHost: app.example.com\r\n",
			"other scheme":     "GET ftp://app.example.com/x HTTP/1.1\r\nHost: app.example.com\r\n", // nginx: 200
			"no Host header":   "GET http://app.example.com/x HTTP/1.1\r\n",
			"not a target":     "GET x HTTP/1.1\r\nHost: app.example.com\r\n",
			"asterisk, no GET": "OPTIONS * HTTP/1.1\r\nHost: app.example.com\r\n",
		} {
			if name == "asterisk, no GET" && v == viaStd {
				continue // net/http's server answers OPTIONS * itself
			}
			if res, _ := h.send(req + "Connection: close\r\n\r\n"); res.StatusCode != http.StatusBadRequest {
				t.Errorf("%s: %d, want 400", name, res.StatusCode)
			}
		}
	})

	// HTTP/2's :path is never absolute: x/net resets such a stream.
	t.Run(string(viaH2), func(t *testing.T) {
		h := newHarness(t, viaH2, Options{}, []tandem.Route{webRoute}, map[string]http.Handler{"web:3000": svc})
		status, code := h.h2Raw(":method", "GET", ":scheme", "https", ":authority", "a.test", ":path", "http://b.test/x")
		if status != http.StatusBadRequest && code != http2.ErrCodeProtocol {
			t.Errorf("absolute :path: status %d, reset %v", status, code)
		}
	})
}

// From a trusted proxy, X-Forwarded-Host is the proxy's word and stays; the
// absolute-form host still routes and is the Host.
func TestAbsoluteFormTrustedProxy(t *testing.T) {
	forPaths(t, []via{viaH1, viaStd}, func(t *testing.T, v via) {
		h := newHarness(t, v, Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
			[]tandem.Route{apiRoute}, map[string]http.Handler{"api:8000": headers})
		res, body := h.send("GET http://a.test/api/ HTTP/1.1\r\nHost: b.test\r\nX-Forwarded-Host: shop.test\r\nConnection: close\r\n\r\n")
		if res.StatusCode != 200 {
			t.Fatalf("%d %s", res.StatusCode, body)
		}
		if got := seen(t, body); got["host"] != "a.test" || !equalList(got["fwd-host"], "shop.test") {
			t.Errorf("the service saw Host %v, X-Forwarded-Host %v", got["host"], got["fwd-host"])
		}
	})
}

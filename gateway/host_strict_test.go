package gateway

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tandem-dev/tandem"
	"golang.org/x/net/http2"
)

// A request without a Host, with an empty one, with two, or with one that
// is not a host is refused with 400 and reaches no service: the service
// would build links, redirects and cookies from a name nobody can browse
// to, and two Hosts let the gateway route by one while the service
// believes the other. (nginx, same upstream: 400 where marked; it passes
// the others on, and the services behind it answered for it.)
func TestHostStrict(t *testing.T) {
	refused := []struct{ name, head string }{
		{"none", "GET /x HTTP/1.1\r\n"},                                           // nginx 400
		{"none, HTTP/1.0", "GET /x HTTP/1.0\r\n"},                                 // nginx routes it to its server_name
		{"empty", "GET /x HTTP/1.1\r\nHost:\r\n"},                                 // nginx 400
		{"two", "GET /x HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n"},            // nginx 400
		{"twice the same", "GET /x HTTP/1.1\r\nHost: a.test\r\nhost: a.test\r\n"}, // nginx 400
		{"space", "GET /x HTTP/1.1\r\nHost: a b\r\n"},                             // nginx 400
		{"slash", "GET /x HTTP/1.1\r\nHost: a/b\r\n"},                             // nginx 400
		{"dot dot", "GET /x HTTP/1.1\r\nHost: a..b\r\n"},                          // nginx 400
		{"dots only", "GET /x HTTP/1.1\r\nHost: .\r\n"},                           // nginx 400
		{"userinfo", "GET /x HTTP/1.1\r\nHost: user@a.test\r\n"},
		{"backslash", "GET /x HTTP/1.1\r\nHost: a\\b\r\n"},
		{"port not digits", "GET /x HTTP/1.1\r\nHost: a.test:xx\r\n"},
		{"open bracket", "GET /x HTTP/1.1\r\nHost: [::1\r\n"},
		{"not ASCII", "GET /x HTTP/1.1\r\nHost: \xc3\xa9.test\r\n"},
	}
	accepted := []string{"a_b.test", "A.Test:8443", "a.test.", "[::1]:8080", "127.0.0.1:80", "a.test:"}

	svc := &counter{h: headers}
	forPaths(t, h1Paths, func(t *testing.T, v via) {
		h := newHarness(t, v, Options{}, []tandem.Route{webRoute}, map[string]http.Handler{"web:3000": svc})
		for _, c := range refused {
			before := svc.n.Load()
			res, _ := h.send(c.head + "Connection: close\r\n\r\n")
			if res.StatusCode != http.StatusBadRequest {
				t.Errorf("%s: %d, want 400", c.name, res.StatusCode)
			}
			if svc.n.Load() != before {
				t.Errorf("%s: reached the service", c.name)
			}
		}
		for _, host := range accepted {
			res, body := h.send("GET /x HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n")
			if res.StatusCode != 200 {
				t.Errorf("%s: %d, want 200", host, res.StatusCode)
				continue
			}
			if got := seen(t, body); got["host"] != host || !equalList(got["fwd-host"], host) {
				t.Errorf("%s: the service saw Host %v, X-Forwarded-Host %v", host, got["host"], got["fwd-host"])
			}
		}
	})

	// HTTP/2 carries the host as :authority (or a Host field). x/net
	// resets the streams it finds malformed itself; the gateway answers
	// 400 for the rest.
	t.Run(string(viaH2), func(t *testing.T) {
		h := newHarness(t, viaH2, Options{}, []tandem.Route{webRoute}, map[string]http.Handler{"web:3000": svc})
		base := []string{":method", "GET", ":scheme", "https", ":path", "/x"}
		for name, fields := range map[string][]string{
			"none":                   nil,
			"empty":                  {":authority", ""},
			"port not digits":        {":authority", "a.test:xx"},
			"dot dot":                {":authority", "a..b"},
			"space":                  {":authority", "a b"},
			"userinfo":               {":authority", "user@a.test"},
			"Host beside :authority": {":authority", "a.test", "host", "b.test"},
		} {
			before := svc.n.Load()
			status, code := h.h2Raw(append(base, fields...)...)
			if status != http.StatusBadRequest && code != http2.ErrCodeProtocol {
				t.Errorf("%s: status %d, reset %v; want 400 or PROTOCOL_ERROR", name, status, code)
			}
			if svc.n.Load() != before {
				t.Errorf("%s: reached the service", name)
			}
		}
		if status, code := h.h2Raw(append(base, ":authority", "a.test:8443")...); status != 200 {
			t.Errorf("a.test:8443: status %d, reset %v", status, code)
		}
	})
}

// equalList reports whether a decoded JSON list is exactly [want].
func equalList(v any, want string) bool {
	l, ok := v.([]any)
	return ok && len(l) == 1 && l[0] == want
}

// FuzzValidHost checks validHost against RFC 3986's grammar for a host and
// port, written independently: whatever it accepts is an IP literal, or a
// name of unreserved, sub-delims and pct-encoded bytes without an empty
// label inside, then digits after a colon.
func FuzzValidHost(f *testing.F) {
	for _, s := range []string{"a.test", "[::1]:80", "a..b", "a:xx", "[::1", "a b", "user@a", "é.test", ".", "a.:", "[]", "[v1.x]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if validHost(s) != validHost([]byte(s)) {
			t.Fatalf("%q: string and bytes disagree", s)
		}
		if validHost(s) != oracleHost(s) {
			t.Fatalf("validHost(%q) = %v, the grammar says %v", s, validHost(s), oracleHost(s))
		}
	})
}

func oracleHost(s string) bool {
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 2 || strings.Trim(s[1:end], "0123456789abcdefABCDEF:.") != "" {
			return false
		}
		host, port = s[:end+1], s[end+1:]
		if port != "" && port[0] != ':' {
			return false
		}
		port = strings.TrimPrefix(port, ":")
	} else if i := strings.IndexByte(s, ':'); i >= 0 {
		host, port = s[:i], s[i+1:]
	}
	if strings.Trim(port, "0123456789") != "" {
		return false
	}
	if host == "" {
		return false
	}
	if host[0] == '[' {
		return true
	}
	const allowed = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=%"
	for _, r := range host {
		if !strings.ContainsRune(allowed, r) {
			return false
		}
	}
	return strings.Trim(host, ".") != "" && !strings.Contains(host, "..")
}

package gateway

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"testing"

	"github.com/tandem-dev/tandem"
)

// headers answers with the Host and forwarding headers it received.
var headers = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	_ = json.NewEncoder(w).Encode(map[string]any{
		"host":      r.Host,
		"real-ip":   r.Header.Values("X-Real-Ip"),
		"xff":       r.Header.Values("X-Forwarded-For"),
		"proto":     r.Header.Values("X-Forwarded-Proto"),
		"fwd-host":  r.Header.Values("X-Forwarded-Host"),
		"forwarded": r.Header.Values("Forwarded"),
	})
})

func forwardedHarness(t *testing.T, v via, trusted ...string) *harness {
	var opts Options
	for _, p := range trusted {
		opts.TrustedProxies = append(opts.TrustedProxies, netip.MustParsePrefix(p))
	}
	return newHarness(t, v, opts, []tandem.Route{apiRoute}, map[string]http.Handler{"api:8000": headers})
}

func seen(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return m
}

func one(v string) []any { return []any{v} }

func equal(t *testing.T, m map[string]any, key string, want any) {
	t.Helper()
	got, _ := json.Marshal(m[key])
	w, _ := json.Marshal(want)
	if string(got) != string(w) {
		t.Errorf("%s = %s, want %s", key, got, w)
	}
}

// Django checks Host against ALLOWED_HOSTS and builds absolute URLs from it:
// it must arrive exactly as the browser sent it, port and case included.
func TestHostPreserved(t *testing.T) {
	eachPath(t, func(t *testing.T, v via) {
		h := forwardedHarness(t, v)
		for _, host := range []string{"localhost:8080", "PR-7.previews.example.com", "[::1]:8443"} {
			req, _ := http.NewRequest(http.MethodGet, h.URL+"/api/", nil)
			req.Host = host
			_, body := h.do(req)
			m := seen(t, body)
			equal(t, m, "host", host)
			equal(t, m, "fwd-host", one(host))
		}
	})
}

// From an untrusted peer, whatever the client claims is replaced.
func TestForwardedFromUntrustedClient(t *testing.T) {
	eachPath(t, func(t *testing.T, v via) {
		h := forwardedHarness(t, v)
		_, body := h.get("/api/",
			"X-Forwarded-For", "203.0.113.9",
			"X-Real-IP", "203.0.113.9",
			"X-Forwarded-Proto", "https",
			"X-Forwarded-Host", "bank.example.com",
			"Forwarded", "for=203.0.113.9;proto=https")
		m := seen(t, body)
		equal(t, m, "real-ip", one("127.0.0.1"))
		equal(t, m, "xff", one("127.0.0.1"))
		equal(t, m, "proto", one(proto(v)))
		equal(t, m, "fwd-host", one(h.Addr))
		equal(t, m, "forwarded", nil)
	})
}

// Behind a trusted load balancer, its headers are kept and extended.
func TestForwardedFromTrustedProxy(t *testing.T) {
	eachPath(t, func(t *testing.T, v via) {
		h := forwardedHarness(t, v, "127.0.0.0/8", "10.0.0.0/8")
		_, body := h.get("/api/",
			"X-Forwarded-For", "203.0.113.9, 10.1.2.3",
			"X-Real-IP", "198.51.100.1", // not believed: derived from X-Forwarded-For
			"X-Forwarded-Proto", "https",
			"X-Forwarded-Host", "app.example.com",
			"Forwarded", "for=203.0.113.9;proto=https")
		m := seen(t, body)
		equal(t, m, "xff", one("203.0.113.9, 10.1.2.3, 127.0.0.1"))
		equal(t, m, "real-ip", one("203.0.113.9"))
		equal(t, m, "proto", one("https"))
		equal(t, m, "fwd-host", one("app.example.com"))
		equal(t, m, "forwarded", one("for=203.0.113.9;proto=https"))
		if rec := h.logs.wait(t, "/api/"); rec["client"] != "203.0.113.9" {
			t.Errorf("access log client = %v, want 203.0.113.9", rec["client"])
		}

		// A trusted proxy that says nothing gets the gateway's own view.
		_, body = h.get("/api/")
		m = seen(t, body)
		equal(t, m, "xff", one("127.0.0.1"))
		equal(t, m, "real-ip", one("127.0.0.1"))
		equal(t, m, "proto", one(proto(v)))
	})
}

func TestRealIP(t *testing.T) {
	g := New(Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}})
	for _, tc := range []struct {
		xff  []string
		want string
	}{
		{nil, "10.0.0.1"},
		{[]string{"203.0.113.9"}, "203.0.113.9"},
		{[]string{"198.51.100.7, 203.0.113.9"}, "203.0.113.9"}, // the rightmost untrusted, not the spoofable leftmost
		{[]string{"203.0.113.9, 10.9.9.9"}, "203.0.113.9"},
		{[]string{"203.0.113.9", "10.9.9.9"}, "203.0.113.9"},
		{[]string{"10.2.2.2, 10.9.9.9"}, "10.2.2.2"},
		{[]string{"junk, 10.9.9.9"}, "10.9.9.9"},
		{[]string{"::ffff:203.0.113.9"}, "203.0.113.9"},
	} {
		if got := g.realIP(tc.xff, "10.0.0.1"); got != tc.want {
			t.Errorf("realIP(%q) = %q, want %q", tc.xff, got, tc.want)
		}
	}
}

// proto is the X-Forwarded-Proto a client on v gets.
func proto(v via) string {
	if v.tls() {
		return "https"
	}
	return "http"
}

package gateway

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tandem-dev/tandem"
)

func routingHarness(t *testing.T, v via) *harness {
	return newHarness(t, v, Options{}, []tandem.Route{
		{Path: "/api/", Service: "api", Port: 8000},
		{Path: "/api/admin/", Service: "admin", Port: 8001},
		{Path: "/admin/", Service: "admin", Port: 8001},
		{Path: "/", Service: "web", Port: 3000},
	}, map[string]http.Handler{
		"api:8000":   echo("api"),
		"admin:8001": echo("admin"),
		"web:3000":   echo("web"),
	})
}

func TestLongestPrefixWins(t *testing.T) {
	eachPath(t, func(t *testing.T, v via) {
		h := routingHarness(t, v)
		for path, want := range map[string]string{
			"/":                  "web /",
			"/search/?q=django":  "web /search/?q=django",
			"/api/":              "api /api/",
			"/api/users/?q=1":    "api /api/users/?q=1",
			"/api/admin/login/":  "admin /api/admin/login/",
			"/apiary":            "web /apiary",
			"/_next/static/x.js": "web /_next/static/x.js",
		} {
			if res, body := h.get(path); res.StatusCode != 200 || body != want {
				t.Errorf("GET %s = %d %q, want %q", path, res.StatusCode, body, want)
			}
		}
	})
}

// nginx answers a request for a proxied "location /api/" without its slash
// with a 301 to the slashed path, query kept.
func TestTrailingSlashRedirect(t *testing.T) {
	eachPath(t, func(t *testing.T, v via) {
		h := routingHarness(t, v)
		for path, want := range map[string]string{
			"/api":           "/api/",
			"/api?q=1&x=%20": "/api/?q=1&x=%20",
			"/api/admin":     "/api/admin/",
			"/api/../admin":  "/admin/",
		} {
			res, _ := h.raw(path)
			if res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != want {
				t.Errorf("GET %s = %d Location %q, want 301 %q", path, res.StatusCode, res.Header.Get("Location"), want)
			}
		}
	})
}

func TestNoRouteIsFriendly404(t *testing.T) {
	eachPath(t, func(t *testing.T, v via) {
		h := newHarness(t, v, Options{}, []tandem.Route{apiRoute}, map[string]http.Handler{"api:8000": echo("api")})
		res, body := h.get("/nothing/here")
		if res.StatusCode != http.StatusNotFound || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("GET /nothing/here = %d %s", res.StatusCode, res.Header.Get("Content-Type"))
		}
		contains(t, body, "<title>404 Not Found</title>", "Page not found")
	})
}

// Dot segments are resolved before matching, however they are spelled, and
// the service receives the resolved path: "/api/../admin/" cannot reach
// the api service, and an encoded "%2e%2e" cannot climb out of /api/.
func TestDotSegments(t *testing.T) {
	eachPath(t, func(t *testing.T, v via) {
		h := routingHarness(t, v)
		for target, want := range map[string]string{
			"/api/../admin/":       "admin /admin/",
			"/api/%2e%2e/admin/":   "admin /admin/",
			"/api/%2E%2E/admin/x":  "admin /admin/x",
			"/api/.%2e/admin/":     "admin /admin/",
			"/api/..%2fadmin/":     "admin /admin/",
			"/api/x/../../admin/":  "admin /admin/",
			"/api/./users/":        "api /api/users/",
			"/api/users/..?q=1":    "api /api/?q=1",
			"/../../../etc/passwd": "web /etc/passwd",
			"/api/admin/../users/": "api /api/users/",
			"/.well-known/x":       "web /.well-known/x",
			"/api/..%252fadmin/":   "api /api/..%252fadmin/", // double-encoded: a name, not a dot segment
		} {
			if res, body := h.raw(target); res.StatusCode != 200 || body != want {
				t.Errorf("GET %s = %d %q, want %q", target, res.StatusCode, body, want)
			}
		}
	})
}

// An escaped path reaches the service as the client escaped it.
func TestEscapedPathKept(t *testing.T) {
	eachPath(t, func(t *testing.T, v via) {
		h := routingHarness(t, v)
		for target, want := range map[string]string{
			"/files/a%2Fb":      "web /files/a%2Fb",
			"/api/caf%C3%A9/":   "api /api/caf%C3%A9/",
			"/api/a%20b/?q=%2F": "api /api/a%20b/?q=%2F",
		} {
			if res, body := h.raw(target); res.StatusCode != 200 || body != want {
				t.Errorf("GET %s = %d %q, want %q", target, res.StatusCode, body, want)
			}
		}
	})
}

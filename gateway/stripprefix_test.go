package gateway

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/tandem-dev/tandem"
)

func TestStripPrefix(t *testing.T) {
	eachPath(t, func(t *testing.T, v via) {
		h := newHarness(t, v, Options{}, []tandem.Route{
			apiRoute,
			{Path: "/media", Service: "files", Port: 9000, StripPrefix: true}, // no trailing slash
			webRoute,
		}, map[string]http.Handler{
			"api:8000":   echo("api"),
			"files:9000": echo("files"),
			"web:3000":   echo("web"),
		})
		for target, want := range map[string]string{
			"/api/users/?q=1":       "api /users/?q=1",
			"/api/":                 "api /",
			"/api/?page=2":          "api /?page=2",
			"/api/caf%C3%A9/a%2Fb/": "api /caf%C3%A9/a%2Fb/", // escaping kept
			"/api/x/../users/":      "api /users/",
			"/media/img.png":        "files /img.png",
			"/media":                "files /",
			"/mediakit":             "files /kit",   // nginx's plain prefix semantics
			"/search/":              "web /search/", // not stripped
		} {
			if res, body := h.raw(target); res.StatusCode != 200 || body != want {
				t.Errorf("GET %s = %d %q, want %q", target, res.StatusCode, body, want)
			}
		}
	})
}

// A service behind a stripped prefix writes redirects in its own terms;
// the browser must get them under the prefix.
func TestStripPrefixLocation(t *testing.T) {
	redirect := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", r.URL.Query().Get("to"))
		w.WriteHeader(http.StatusFound)
	})
	eachPath(t, func(t *testing.T, v via) {
		h := newHarness(t, v, Options{}, []tandem.Route{apiRoute, webRoute},
			map[string]http.Handler{"api:8000": redirect, "web:3000": redirect})

		host := h.Addr
		for _, tc := range []struct{ path, to, want string }{
			{"/api/users/", "/users/2/", "/api/users/2/"},
			{"/api/", "/?next=/x", "/api/?next=/x"},
			{"/api/", "http://" + host + "/users/2/", "http://" + host + "/api/users/2/"},
			{"/api/", "https://" + host + "?x", "https://" + host + "/api/?x"},
			{"/api/", "//" + host + "/login/", "//" + host + "/api/login/"},
			{"/api/", "http://api:8000/users/", "/api/users/"}, // nginx's default proxy_redirect
			{"/api/", "https://accounts.example.com/o/auth", "https://accounts.example.com/o/auth"},
			{"/api/users/", "2/", "2/"},       // relative: already resolves under /api/
			{"/about/", "/login/", "/login/"}, // web is not stripped
		} {
			req, _ := http.NewRequest(http.MethodGet, h.URL+tc.path+"?to="+url.QueryEscape(tc.to), nil)
			res, _ := h.do(req)
			if got := res.Header.Get("Location"); res.StatusCode != http.StatusFound || got != tc.want {
				t.Errorf("%s redirecting to %q: %d Location %q, want %q", tc.path, tc.to, res.StatusCode, got, tc.want)
			}
		}
	})
}

func TestRewriteLocation(t *testing.T) {
	for _, tc := range []struct{ loc, want string }{
		{"/users/", "/api/users/"},
		{"/", "/api/"},
		{"http://gw.test/users/", "http://gw.test/api/users/"},
		{"HTTP://GW.TEST/users/", "HTTP://GW.TEST/api/users/"},
		{"http://gw.test", "http://gw.test/api/"},
		{"http://gw.test#top", "http://gw.test/api/#top"},
		{"http://gw.test.evil.com/x", "http://gw.test.evil.com/x"},
		{"http://api:8000/x?y", "/api/x?y"},
		{"ftp://gw.test/x", "ftp://gw.test/x"},
		{"x/y", "x/y"},
	} {
		got, _ := rewriteLocation(tc.loc, "/api", "gw.test", "api:8000")
		if got != tc.want {
			t.Errorf("rewriteLocation(%q) = %q, want %q", tc.loc, got, tc.want)
		}
	}
}

package gateway

import (
	"strings"
	"testing"

	"github.com/tandem-dev/tandem"
)

func TestCleanPath(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"/", "/", true},
		{"", "/", true},
		{"/api/users/", "/api/users/", true},
		{"/api/../admin/", "/admin/", true},
		{"/api/./users", "/api/users", true},
		{"/api/users/.", "/api/users/", true},
		{"/api/users/..", "/api/", true},
		{"/api/..", "/", true},
		{"/..", "/", true},
		{"/../../etc/passwd", "/etc/passwd", true},
		{"/a//../b", "/a/b", true}, // RFC 3986: ".." removes the empty segment
		{"//api/x", "//api/x", true},
		{"/.well-known/security.txt", "/.well-known/security.txt", true},
		{"/a/.../b", "/a/.../b", true},
		{"/a/..b/c.", "/a/..b/c.", true},
		{"*", "*", false},
	} {
		got, changed, ok := cleanPath(tc.in)
		if got != tc.want || ok != tc.ok || changed != (got != tc.in) {
			t.Errorf("cleanPath(%q) = %q, %v, %v; want %q, %v", tc.in, got, changed, ok, tc.want, tc.ok)
		}
	}
}

var matchRoutes = []tandem.Route{
	{Path: "/api/", Service: "api", Port: 8000},
	{Path: "/api/admin/", Service: "admin", Port: 8001},
	{Path: "/auth/callback/", Service: "api", Port: 8000},
	{Path: "/static", Service: "files", Port: 9000},
	{Path: "/", Service: "web", Port: 3000},
}

func testSite(tb testing.TB, routes []tandem.Route) *site {
	tb.Helper()
	g := New(Options{})
	s := &Site{Name: "t", Routes: routes}
	return g.compile(s, newSitePool(g, s), map[string][]byte{})
}

func TestMatch(t *testing.T) {
	s := testSite(t, matchRoutes)
	for _, tc := range []struct {
		path     string
		want     string // matched Path, "" for none
		redirect bool
	}{
		{"/", "/", false},
		{"/about", "/", false},
		{"/api/", "/api/", false},
		{"/api/users/1", "/api/", false},
		{"/api/admin/", "/api/admin/", false},
		{"/api/admin/x", "/api/admin/", false},
		{"/api", "/api/", true},                     // nginx: 301 to /api/
		{"/api/admin", "/api/admin/", true},         // even though /api/ matches
		{"/auth/callback", "/auth/callback/", true}, //
		{"/apiary", "/", false},                     // a prefix is not a path segment
		{"/static", "/static", false},               // no slash: plain prefix
		{"/staticfiles/x.css", "/static", false},    //
		{"/auth/", "/", false},                      // /auth/ itself has no route
		{"/API/", "/", false},                       // case matters, as in nginx
		{"//api/", "/", false},                      // slashes are not merged
	} {
		rt, redirect := s.match(tc.path)
		got := ""
		if rt != nil {
			got = rt.Path
		}
		if got != tc.want || redirect != tc.redirect {
			t.Errorf("match(%q) = %q, redirect %v; want %q, %v", tc.path, got, redirect, tc.want, tc.redirect)
		}
	}

	none := testSite(t, []tandem.Route{{Path: "/api/", Service: "api", Port: 8000}})
	if rt, _ := none.match("/other"); rt != nil {
		t.Errorf("match without a / route = %q, want none", rt.Path)
	}
	// A route that is exactly the path beats the redirect to its slashed twin.
	both := testSite(t, []tandem.Route{{Path: "/api/", Service: "a", Port: 1}, {Path: "/api", Service: "b", Port: 2}})
	if rt, redirect := both.match("/api"); rt.Service != "b" || redirect {
		t.Errorf("match(/api) = %s, redirect %v; want the /api route", rt.Service, redirect)
	}
}

// FuzzMatch checks cleanPath against RFC 3986's own algorithm and match
// against a brute-force longest prefix, over a fixed table plus one route
// the fuzzer chooses.
func FuzzMatch(f *testing.F) {
	for _, s := range []string{"/", "/api", "/api/../admin/", "/a/./b/..", "/..", "//x/../", "/api/%2e%2e/", "", "*", "/.well-known"} {
		f.Add(s, "/api/v2/")
	}
	f.Fuzz(func(t *testing.T, p, extra string) {
		routes := matchRoutes
		if strings.HasPrefix(extra, "/") {
			routes = append(append([]tandem.Route(nil), matchRoutes...), tandem.Route{Path: extra, Service: "x", Port: 1})
		}
		s := testSite(t, routes)

		clean, changed, ok := cleanPath(p)
		if !ok {
			if strings.HasPrefix(p, "/") || p == "" {
				t.Fatalf("cleanPath(%q) refused an origin-form path", p)
			}
			return
		}
		if want := rfc3986(p); clean != want && p != "" {
			t.Fatalf("cleanPath(%q) = %q, RFC 3986 says %q", p, clean, want)
		}
		if changed != (clean != p) {
			t.Fatalf("cleanPath(%q) changed = %v, but %q", p, changed, clean)
		}
		if again, ch, _ := cleanPath(clean); ch || again != clean {
			t.Fatalf("cleanPath is not idempotent: %q → %q → %q", p, clean, again)
		}

		rt, redirect := s.match(clean)
		longest := ""
		exact, slashed := false, false
		for _, r := range routes {
			if strings.HasPrefix(clean, r.Path) && len(r.Path) >= len(longest) {
				longest = r.Path
			}
			exact = exact || r.Path == clean
			slashed = slashed || r.Path == clean+"/"
		}
		switch {
		case redirect:
			if rt.Path != clean+"/" || exact {
				t.Fatalf("match(%q) redirects to %q", clean, rt.Path)
			}
		case rt == nil:
			if longest != "" || slashed {
				t.Fatalf("match(%q) found nothing; %q prefixes it", clean, longest)
			}
		default:
			if !strings.HasPrefix(clean, rt.Path) {
				t.Fatalf("match(%q) = %q, not a prefix", clean, rt.Path)
			}
			if rt.Path != longest {
				t.Fatalf("match(%q) = %q, longest prefix is %q", clean, rt.Path, longest)
			}
			if slashed && !exact {
				t.Fatalf("match(%q) = %q, want a redirect to %q", clean, rt.Path, clean+"/")
			}
		}
	})
}

// rfc3986 is remove_dot_segments as RFC 3986 section 5.2.4 writes it, kept
// literal to serve as the oracle.
func rfc3986(in string) string {
	out := ""
	for in != "" {
		switch {
		case strings.HasPrefix(in, "../"):
			in = in[3:]
		case strings.HasPrefix(in, "./"):
			in = in[2:]
		case strings.HasPrefix(in, "/./"):
			in = in[2:]
		case in == "/.":
			in = "/"
		case strings.HasPrefix(in, "/../"):
			in = in[3:]
			out = out[:max(strings.LastIndexByte(out, '/'), 0)]
		case in == "/..":
			in = "/"
			out = out[:max(strings.LastIndexByte(out, '/'), 0)]
		case in == "." || in == "..":
			in = ""
		default:
			i := strings.IndexByte(in[1:], '/')
			if i < 0 {
				out, in = out+in, ""
			} else {
				out, in = out+in[:i+1], in[i+1:]
			}
		}
	}
	return out
}

func BenchmarkMatch(b *testing.B) {
	s := testSite(b, matchRoutes)
	paths := []string{"/", "/api/users/42/", "/api/admin/auth/user/", "/_next/static/chunks/main.js", "/api", "/search/?q=x"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p, _, _ := cleanPath(paths[i%len(paths)])
		if rt, _ := s.match(p); rt == nil {
			b.Fatal("no match")
		}
	}
}

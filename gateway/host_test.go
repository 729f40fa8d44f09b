package gateway

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/tandem-dev/tandem"
)

// hostTable: an exact host, a wildcard, two previews and a default, each
// answering with its own name.
func hostTable(t testing.TB, h *harness) *Table {
	site := func(name string) *Site {
		return &Site{Name: name, Routes: []tandem.Route{{Path: "/", Service: name, Port: 80}}, Dial: h.dial}
	}
	for _, n := range []string{"app", "wild", "pr-7", "pr-8", "default"} {
		h.addr[n+":80"] = h.addr["echo:80"]
	}
	return &Table{
		Default: site("default"),
		Hosts: map[string]*Site{
			"App.Example.com":       site("app"),
			"*.apps.example.com":    site("wild"),
			"pr-7.apps.example.com": site("pr-7"), // exact beats wildcard
		},
		Previews: map[string]map[string]*Site{
			"previews.example.com": {"pr-7": site("pr-7"), "PR-8": site("pr-8")},
		},
	}
}

// Each host reaches its site whatever its case, port or trailing dot; the
// access log says which site answered.
func TestHostRouting(t *testing.T) {
	eachPath(t, func(t *testing.T, v via) {
		h := newHarness(t, v, Options{}, []tandem.Route{webRoute}, map[string]http.Handler{"echo:80": echo("svc")})
		h.gw.Set(hostTable(t, h))
		for host, want := range map[string]string{
			"app.example.com":                "app",
			"APP.EXAMPLE.COM:8443":           "app",
			"app.example.com.":               "app",
			"x.apps.example.com":             "wild",
			"pr-7.apps.example.com":          "pr-7",
			"y.x.apps.example.com":           "default", // a wildcard covers one label
			"pr-7.previews.example.com":      "pr-7",
			"Pr-8.Previews.Example.Com.:443": "pr-8",
			"pr-9.previews.example.com":      "default",
			"example.com":                    "default",
			"127.0.0.1":                      "default",
			"[::1]:8080":                     "default",
		} {
			path := "/" + strconv.Itoa(len(h.logs.all())) + "/"
			req, _ := http.NewRequest(http.MethodGet, h.URL+path, nil)
			req.Host = host
			res, body := h.do(req)
			if res.StatusCode != 200 || body != "svc "+path {
				t.Errorf("%s: %d %q", host, res.StatusCode, body)
				continue
			}
			if rec := h.logs.wait(t, path); rec["site"] != want {
				t.Errorf("%s went to site %v, want %s", host, rec["site"], want)
			}
		}
	})
}

// Without a Default, a host nobody serves gets a 404 that names nothing
// served: no other preview's name, no address.
func TestUnknownHost(t *testing.T) {
	eachPath(t, func(t *testing.T, v via) {
		h := newHarness(t, v, Options{}, []tandem.Route{webRoute}, map[string]http.Handler{"echo:80": echo("svc")})
		tbl := hostTable(t, h)
		tbl.Default = nil
		h.gw.Set(tbl)
		for _, host := range []string{"pr-9.previews.example.com", "evil.test", "previews.example.com"} {
			req, _ := http.NewRequest(http.MethodGet, h.URL+"/", nil)
			req.Host = host
			res, body := h.do(req)
			if res.StatusCode != http.StatusNotFound {
				t.Errorf("%s: %d", host, res.StatusCode)
			}
			for _, leak := range []string{"pr-7", "pr-8", "app", "wild", "127.0.0.1", "previews"} {
				if strings.Contains(body, leak) {
					t.Errorf("%s: the 404 page names %q:\n%s", host, leak, body)
				}
			}
		}
	})
}

func TestHostKey(t *testing.T) {
	for in, want := range map[string]string{
		"Example.COM":        "example.com",
		"example.com:8080":   "example.com",
		"example.com.":       "example.com",
		"example.com.:443":   "example.com",
		"[::1]:8080":         "[::1]",
		"[::1]":              "[::1]",
		"::1":                "::1", // not a valid Host; left alone rather than cut
		"host:port":          "host:port",
		"":                   "",
		"PR-7.Previews.Test": "pr-7.previews.test",
	} {
		if got := string(hostKey(nil, []byte(in))); got != want {
			t.Errorf("hostKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzHost: host parsing and lookup never panic; port, case and trailing
// dots never change the answer; a host no exact or wildcard entry matches
// gets Default.
func FuzzHost(f *testing.F) {
	for _, s := range []string{"app.example.com", "PR-7.previews.example.com.:443", "[::1]:80", "x.apps.example.com", ".", ":", "*.apps.example.com", "a..b", ""} {
		f.Add(s, uint16(8080))
	}
	g := New(Options{})
	mk := func(name string) *Site { return &Site{Name: name, Routes: []tandem.Route{webRoute}} }
	tbl := &Table{
		Default:  mk("default"),
		Hosts:    map[string]*Site{"app.example.com": mk("app"), "*.apps.example.com": mk("wild")},
		Previews: map[string]map[string]*Site{"previews.example.com": {"pr-7": mk("pr-7")}},
	}
	g.Set(tbl)
	tab := g.table.Load()
	f.Fuzz(func(t *testing.T, host string, port uint16) {
		got := tab.lookup([]byte(host))
		if got == nil {
			t.Fatalf("lookup(%q) = nil with a Default", host)
		}
		base := strings.TrimRight(host, ".")
		if strings.ContainsAny(base, ":[]") {
			return // not a plain name: ports and brackets are its own business
		}
		for _, variant := range []string{
			strings.ToUpper(host), strings.ToLower(host), base, base + ".",
			base + ":" + strconv.Itoa(int(port)), base + ".:" + strconv.Itoa(int(port)),
		} {
			if v := tab.lookup([]byte(variant)); v != got {
				t.Fatalf("lookup(%q) = %s but lookup(%q) = %s", host, got.name, variant, v.name)
			}
		}
		k := strings.ToLower(base)
		_, exact := tbl.Hosts[k]
		name, domain, _ := strings.Cut(k, ".")
		_, preview := tbl.Previews[domain][name]
		_, wild := tbl.Hosts["*."+domain]
		if !exact && !preview && !(wild && name != "") && got.name != "default" {
			t.Fatalf("lookup(%q) = %s; only Default matches it", host, got.name)
		}
	})
}

func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			g := New(Options{})
			previews := make(map[string]*Site, n)
			routes := []tandem.Route{apiRoute, {Path: "/_next/", Service: "web", Port: 3000}, webRoute}
			for i := range n {
				name := "pr-" + strconv.Itoa(i)
				previews[name] = &Site{Name: name, Routes: routes}
			}
			g.Set(&Table{Previews: map[string]map[string]*Site{"previews.example.com": previews}})
			tab := g.table.Load()
			hosts := make([][]byte, 64)
			for i := range hosts {
				hosts[i] = []byte("PR-" + strconv.Itoa(i*n/len(hosts)) + ".previews.example.com:443")
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				s := tab.lookup(hosts[i%len(hosts)])
				p, _, _ := cleanPath("/api/users/42/")
				if rt, _ := s.match(p); rt == nil {
					b.Fatal("no route")
				}
			}
		})
	}
}

package nginxconf

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v4"

	"github.com/tandem-dev/tandem"
)

// nginx joins config lines, so a case can count them: the first is line 1.
func nginx(l ...string) string { return strings.Join(l, "\n") + "\n" }

type tcase struct {
	name  string
	conf  string
	pages map[string]string // container path → project file, for error pages
	// routes are each route as the YAML writes it, with "@LINE" for its
	// location's line.
	routes []string
	// notes are every note's String(), in order, each given by its start:
	// none may go unlisted.
	notes []string
}

func translate(t *testing.T, tc tcase) {
	t.Helper()
	var opts Options
	if tc.pages != nil {
		opts.ErrorPage = func(p string) (string, bool) { f, ok := tc.pages[p]; return f, ok }
	}
	res, err := Translate("nginx.conf", []byte(tc.conf), opts)
	if err != nil {
		t.Fatalf("Translate: %v", err)
	}
	var got []string
	for _, r := range res.Routes {
		got = append(got, routeYAML(r)+" @"+strconv.Itoa(r.Pos.Line))
	}
	if !reflect.DeepEqual(got, tc.routes) {
		t.Errorf("routes:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(tc.routes, "\n     "))
	}
	var notes []string
	for _, n := range res.Notes {
		notes = append(notes, n.String())
	}
	ok := len(notes) == len(tc.notes)
	for i := 0; ok && i < len(notes); i++ {
		ok = strings.HasPrefix(notes[i], tc.notes[i])
	}
	if !ok {
		t.Errorf("notes:\n got %s\nwant %s", strings.Join(notes, "\n     "), strings.Join(tc.notes, "\n     "))
	}
}

func run(t *testing.T, cases []tcase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { translate(t, tc) })
	}
}

// The seed article's nginx service, with the "server" its text lost.
var seed = nginx(
	"server {",
	"    listen 80;",
	"    location /search/ {",
	"        proxy_pass http://nextjs:3000;",
	"        proxy_set_header Host $host;",
	"        proxy_set_header X-Real-IP $remote_addr;",
	"    }",
	"    location /api/ {",
	"        proxy_pass http://django:8000;",
	"        proxy_set_header Host $host;",
	"    }",
	"    location / {",
	"        proxy_pass http://django:8000;",
	"    }",
	"}")

const jsonHint = "note: errors: json would answer this route's failures"

func TestProxyPass(t *testing.T) {
	run(t, []tcase{
		{
			name:   "the seed",
			conf:   seed,
			routes: []string{"{ path: /search/, to: nextjs:3000 } @3", "{ path: /api/, to: django:8000 } @8", "{ path: /, to: django:8000 } @12"},
			notes: []string{
				"nginx.conf:8: " + jsonHint,
				"nginx.conf:13: warning: nginx sends Host: django:8000 here (no proxy_set_header Host); tandem passes the browser's Host, which django must accept",
			},
		},
		{
			name: "a whole nginx.conf with upstreams",
			conf: nginx(
				"events { worker_connections 64; }",
				"http {",
				"  include mime.types;",
				"  upstream backend { server api:8000 weight=2; keepalive 8; }",
				"  upstream WEB {",
				"    server web; }",
				"  proxy_set_header Host $http_host;",
				"  server {",
				"    listen 80 default_server;",
				"    location /api/ { proxy_pass http://backend/; }",
				"    location /static/ { proxy_pass http://web/static/; }",
				"    location / { proxy_pass http://web; }",
				"  }",
				"}"),
			routes: []string{
				"{ path: /api/, to: api:8000, strip_prefix: true } @10",
				"{ path: /static/, to: web:80 } @11",
				"{ path: /, to: web:80 } @12",
			},
			notes: []string{"nginx.conf:10: " + jsonHint},
		},
		{
			name: "URIs a route cannot say",
			conf: nginx(
				"server {",
				"  location /old/ { proxy_pass http://api:8000/v1/; }",
				"  location /q/ { proxy_pass http://api:8000?x=1; }",
				"  location /app {",
				"    proxy_pass http://web:3000/;",
				"    proxy_set_header Host $host;",
				"  }",
				"  location / { proxy_pass http://web:3000; proxy_set_header Host $host; }",
				"}"),
			routes: []string{"{ path: /app, to: web:3000, strip_prefix: true } @4", "{ path: /, to: web:3000 } @8"},
			notes: []string{
				"nginx.conf:2: warning: proxy_pass http://api:8000/v1/ replaces /old/ with /v1/, which a route cannot say (it passes the path as it is, or strip_prefix replaces the prefix with /); location /old/ not converted; tandem sends these requests to the route for / (web:3000)",
				"nginx.conf:3: warning: proxy_pass http://api:8000?x=1 replaces /q/ with ?x=1",
				"nginx.conf:5: warning: nginx sends /app/x upstream as //x (the URI / replaces /app); with strip_prefix tandem sends /x",
			},
		},
		{
			name: "targets that are no service",
			conf: nginx(
				"server {",
				"  location /a/ { proxy_pass http://$backend; }",
				"  location /b/ { proxy_pass https://api:8443; }",
				"  location /c/ { proxy_pass http://unix:/run/app.sock; }",
				"  location /d/ { proxy_pass http://127.0.0.1:8000; }",
				"  location /e/ { proxy_pass http://api.example.com; }",
				"  location /f/ { proxy_pass http://api:99999; }",
				"  location /g/ { fastcgi_pass php:9000; }",
				"}"),
			notes: []string{
				"nginx.conf:2: warning: proxy_pass http://$backend uses variables, which a route cannot say; location /a/ not converted; tandem answers these requests 404",
				"nginx.conf:3: warning: proxy_pass https://api:8443: tandem's gateway speaks plain HTTP to services",
				"nginx.conf:4: warning: proxy_pass http://unix:/run/app.sock is a unix socket",
				"nginx.conf:5: warning: proxy_pass to 127.0.0.1:8000, an address rather than a Compose service",
				`nginx.conf:6: warning: proxy_pass to api.example.com: "api.example.com" is not a Compose service name`,
				"nginx.conf:7: warning: proxy_pass http://api:99999: bad port",
				"nginx.conf:8: warning: fastcgi_pass php:9000: not converted: tandem's gateway speaks HTTP to services",
				"nginx.conf:8: warning: location /g/ does not proxy_pass: not converted; tandem answers these requests 404",
			},
		},
		{
			name: "upstreams of several servers",
			conf: nginx(
				"upstream api {",
				"  server api-old:8000 backup;",
				"  server api:8000;",
				"  server api2:8000;",
				"}",
				"upstream gone { server x:1 down; }",
				"server {",
				"  location / { proxy_pass http://api; proxy_set_header Host $host; }",
				"  location /x/ { proxy_pass http://gone; }",
				"  location /y/ { proxy_pass http://api:8000; }",
				"}"),
			routes: []string{"{ path: /, to: api:8000 } @8"},
			notes: []string{
				`nginx.conf:1: warning: upstream "api" has 3 servers; tandem routes to the first, api:8000 (it does not balance between services)`,
				`nginx.conf:9: warning: upstream "gone" has no server to route to; location /x/ not converted; tandem sends these requests to the route for / (api:8000)`,
				`nginx.conf:10: warning: nginx refuses proxy_pass http://api:8000: upstream "api" may not have a port`,
			},
		},
	})
}

func TestLocationKinds(t *testing.T) {
	run(t, []tcase{
		{
			name: "exact, regex, named, static, return, nested",
			conf: nginx(
				"server {",
				"  location = /healthz { proxy_pass http://api:8000; proxy_set_header Host $host; }",
				"  location ~* \\.(png|css)$ { root /srv; }",
				"  location @fallback { proxy_pass http://web:3000; }",
				"  location /static/ {",
				"    root /srv;",
				"    try_files $uri =404;",
				"  }",
				"  location /old/ { return 301 /new/; }",
				"  location ^~ /web/ {",
				"    proxy_pass http://web:3000;",
				"    proxy_set_header Host $host;",
				"    location /web/admin/ { deny all; }",
				"    add_header X-Frame-Options DENY;",
				"  }",
				"  location = / { proxy_pass http://web:3000; }",
				"  location / { proxy_pass http://web:3000; proxy_set_header Host $host; }",
				"  location \"/with space/\" { proxy_pass http://web:3000; proxy_set_header Host $host; }",
				"}"),
			routes: []string{
				"{ path: /healthz, to: api:8000 } @2",
				"{ path: /web/, to: web:3000 } @10",
				"{ path: /, to: web:3000 } @17",
				"{ path: '/with space/', to: web:3000 } @18",
			},
			notes: []string{
				"nginx.conf:2: warning: location = /healthz is an exact match; tandem routes are prefixes, so this route also takes /healthz/... and /healthzx, which nginx would send elsewhere",
				`nginx.conf:3: warning: location ~* \.(png|css)$ is a regular expression: not converted`,
				"nginx.conf:4: warning: named location @fallback not converted",
				"nginx.conf:5: warning: location /static/ serves files from /srv: not converted; tandem sends these requests to the route for / (web:3000)",
				"nginx.conf:9: warning: location /old/ answers with return 301 /new/: not converted; tandem sends these requests to the route for / (web:3000)",
				"nginx.conf:13: warning: nested location not converted",
				"nginx.conf:14: warning: add_header X-Frame-Options DENY: not converted: tandem routes have no such setting",
				"nginx.conf:16: warning: location = / has the path of the location at line 17: tandem routes are prefixes and cannot tell an exact match from a prefix; not converted",
			},
		},
		{
			name: "duplicates",
			conf: nginx(
				"server {",
				"  location /a/ { proxy_pass http://a:1; proxy_set_header Host $host; }",
				"  location /a/ { proxy_pass http://b:1; }",
				"  location / { proxy_pass http://a:1; proxy_set_header Host $host; }",
				"}"),
			routes: []string{"{ path: /a/, to: a:1 } @2", "{ path: /, to: a:1 } @4"},
			notes:  []string{"nginx.conf:3: warning: location /a/ is already defined at line 2: nginx refuses this; not converted"},
		},
		{
			name: "no location /",
			conf: nginx(
				"server {",
				"  root /srv/www;",
				"  location /api/ { proxy_pass http://api:8000; proxy_set_header Host $host; }",
				"}"),
			routes: []string{"{ path: /api/, to: api:8000 } @3"},
			notes: []string{
				"nginx.conf:1: warning: no location / is converted: nginx answers the paths no location takes itself",
				"nginx.conf:3: " + jsonHint,
			},
		},
		{
			name: "rewrites and ifs",
			conf: nginx(
				"server {",
				"  rewrite ^/v1/(.*)$ /api/$1 last;",
				"  if ($http_x_debug) { return 403; }",
				"  location / {",
				"    rewrite ^/x$ /y break;",
				"    proxy_pass http://web:3000;",
				"    proxy_set_header Host $host;",
				"    proxy_set_header X-Tenant acme;",
				"    proxy_read_timeout 1h;",
				"  }",
				"}"),
			routes: []string{"{ path: /, to: web:3000 } @4"},
			notes: []string{
				"nginx.conf:2: warning: rewrite ^/v1/(.*)$ /api/$1 last rewrites paths before nginx picks a location: not converted",
				"nginx.conf:3: warning: if block not converted",
				"nginx.conf:5: warning: rewrite ^/x$ /y break: not converted: tandem routes by path prefix only",
				"nginx.conf:8: warning: proxy_set_header X-Tenant acme: not converted: tandem's gateway sets Host, X-Real-IP and X-Forwarded-* itself",
				"nginx.conf:9: warning: proxy_read_timeout 1h: not converted: tandem's gateway has its own timeouts",
			},
		},
	})
}

func TestErrorPages(t *testing.T) {
	conf := nginx(
		"server {",
		"  error_page 500 502 503 504 /50x.html;",
		"  location = /50x.html { root /usr/share/nginx/html; }",
		"  location /api/ {",
		"    proxy_pass http://api:8000/;",
		"    proxy_set_header Host $host;",
		"    error_page 404 /404.json;",
		"  }",
		"  location / { proxy_pass http://web:3000; proxy_set_header Host $host; }",
		"}")
	run(t, []tcase{
		{
			name:   "mounted into the project",
			conf:   conf,
			pages:  map[string]string{"/usr/share/nginx/html/50x.html": "errors/50x.html"},
			routes: []string{"{ path: /api/, to: api:8000, strip_prefix: true } @4", "{ path: /, to: web:3000, error_page: errors/50x.html } @9"},
			notes: []string{
				"nginx.conf:4: " + jsonHint,
				"nginx.conf:7: warning: error_page 404 /404.json: not converted: a route's error_page replaces only the gateway's own 502, 503 and 504 pages",
			},
		},
		{
			name:   "not found in the project",
			conf:   conf,
			routes: []string{"{ path: /api/, to: api:8000, strip_prefix: true } @4", "{ path: /, to: web:3000 } @9"},
			notes: []string{
				"nginx.conf:2: warning: error_page 500 502 503 504 /50x.html: the page is /usr/share/nginx/html/50x.html inside the nginx container and tandem found no project file mounted there",
				"nginx.conf:4: " + jsonHint,
				"nginx.conf:7: warning: error_page 404 /404.json: not converted",
			},
		},
		{
			name: "alias, default root, named, from a service",
			conf: nginx(
				"server {",
				"  location / {",
				"    proxy_pass http://web:3000; proxy_set_header Host $host;",
				"    error_page 502 /oops.html;",
				"    error_page 503 = /down.html;",
				"    error_page 504 @retry;",
				"  }",
				"  location = /oops.html { alias /pages/oops.html; }",
				"  location /app/ { proxy_pass http://web:3000; proxy_set_header Host $host; error_page 502 /; }",
				"}"),
			pages:  map[string]string{"/pages/oops.html": "pages/oops.html"},
			routes: []string{"{ path: /, to: web:3000, error_page: pages/oops.html } @2", "{ path: /app/, to: web:3000 } @9"},
			notes: []string{
				"nginx.conf:5: warning: error_page 503 = /down.html: nginx serves /down.html by proxy_pass http://web:3000: not converted",
				"nginx.conf:6: warning: error_page 504 @retry: not converted: a route's error_page is a file of the project",
				"nginx.conf:9: warning: error_page 502 /: nginx serves / by proxy_pass http://web:3000: not converted",
			},
		},
	})
}

func TestServerBlocks(t *testing.T) {
	run(t, []tcase{
		{
			name: "a redirect to https, then the site",
			conf: nginx(
				"server { listen 80; server_name shop.example.com; return 301 https://$host$request_uri; }",
				"server {",
				"  listen 443 ssl;",
				"  server_name shop.example.com;",
				"  ssl_certificate /etc/ssl/shop.pem;",
				"  location / { proxy_pass http://web:3000; proxy_set_header Host $host; }",
				"}"),
			routes: []string{"{ path: /, to: web:3000 } @6"},
			notes: []string{
				"nginx.conf:1: warning: the server block answers every request with return 301 https://$host$request_uri: not converted",
				"nginx.conf:5: warning: ssl_certificate /etc/ssl/shop.pem: not converted",
			},
		},
		{
			name: "two sites; the default one wins",
			conf: nginx(
				"server {",
				"  server_name admin.example.com;",
				"  location / { proxy_pass http://admin:8000; proxy_set_header Host $host; }",
				"}",
				"server {",
				"  listen 80 default_server;",
				"  location / { proxy_pass http://web:3000; proxy_set_header Host $host; }",
				"}",
				"server {",
				"  server_name www.example.com;",
				"  location / { proxy_pass http://web:3000; proxy_set_header Host $host; }",
				"}"),
			routes: []string{"{ path: /, to: web:3000 } @7"},
			notes: []string{
				"nginx.conf:1: warning: server block (server_name admin.example.com) not converted: x-tandem.routes route every host alike, and these come from the server block at line 5",
				"nginx.conf:9: note: server block (server_name www.example.com) routes as the one at line 5 does",
			},
		},
		{
			name: "includes",
			conf: nginx(
				"http {",
				"  include /etc/nginx/mime.types;",
				"  include /etc/nginx/conf.d/*.conf;",
				"  server { location / { include proxy_params; proxy_pass http://web:3000; } }",
				"}"),
			routes: []string{"{ path: /, to: web:3000 } @4"},
			notes: []string{
				"nginx.conf:3: warning: include /etc/nginx/conf.d/*.conf is not read: convert that file too",
				"nginx.conf:4: warning: nginx sends Host: web:3000 here",
			},
		},
		{
			name: "nothing to route",
			conf: nginx("server {", "  location / { root /srv; }", "}", "stream { server { listen 5432; proxy_pass db:5432; } }"),
			notes: []string{
				"nginx.conf:2: warning: location / serves files from /srv: not converted; tandem answers these requests 404",
				"nginx.conf:4: warning: stream block not converted: tandem's gateway routes HTTP only",
			},
		},
	})
}

// A config nginx would not read is an error at its line.
func TestBadConfigs(t *testing.T) {
	for _, tc := range []struct{ name, conf, want string }{
		{"the seed as printed, without server", nginx("{", "  listen 80;", "  location / { proxy_pass http://django:8000; }", "}"),
			`nginx.conf:1: a block without a name: nginx wants "server {"`},
		{"a stray brace", nginx("server {", "  location / { proxy_pass http://web:3000; }", "}", "}", "server { }"),
			`nginx.conf:4: "}" closes no block`},
		{"never closed", nginx("server {", "  location / {", "    proxy_pass http://web:3000;", "}"),
			`nginx.conf:1: block "server" is never closed`},
		{"no semicolon", nginx("server {", "  location / {", "    proxy_pass http://web:3000", "  }", "}"),
			`nginx.conf:4: directive "proxy_pass" has no ";"`},
		{"open quote", nginx("server {", `  location "/a {`, "}"),
			`nginx.conf:2: quoted string is never closed`},
		{"location without a path", nginx("server {", "  location { }", "}"),
			`nginx.conf: no enough parameter for location`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Translate("nginx.conf", []byte(tc.conf), Options{})
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) || tandem.ErrorCode(err) != tandem.EINVALID {
				t.Errorf("got %v\nwant %s", err, tc.want)
			}
		})
	}
}

// The example stack's own nginx config, for docker compose, routes as its
// x-tandem.routes do.
func TestTheExampleEdge(t *testing.T) {
	res, err := ReadFile("../examples/django-nextjs/edge/nginx.conf", Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []tandem.Route{
		{Path: "/api/", Service: "api", Port: 8000, StripPrefix: true, Errors: tandem.ErrorsJSON},
		{Path: "/", Service: "web", Port: 3000, Errors: tandem.ErrorsHTML},
	}
	for _, p := range []string{"/", "/api/", "/api/items/7", "/apix", "/_next/webpack-hmr", "/_next/static/x.js", "/search/"} {
		got, w := match(res.Routes, p), match(want, p)
		if got.Target() != w.Target() || got.StripPrefix != w.StripPrefix {
			t.Errorf("%s: nginx routes to %s (strip %v), the example to %s (strip %v)", p, got.Target(), got.StripPrefix, w.Target(), w.StripPrefix)
		}
	}
	for _, n := range res.Warnings() {
		if strings.Contains(n.Message, "Host") {
			t.Errorf("the example sets Host for every location: %s", n)
		}
	}
}

// match is the gateway's choice: the longest prefix.
func match(routes []tandem.Route, p string) tandem.Route {
	var best tandem.Route
	for _, r := range routes {
		if strings.HasPrefix(p, r.Path) && len(r.Path) >= len(best.Path) {
			best = r
		}
	}
	return best
}

func TestMountResolver(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"html/50x.html", "conf/nginx.conf"} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	outside := filepath.Join(t.TempDir(), "down.html")
	os.WriteFile(outside, []byte("x"), 0o644)
	mounts := []tandem.Mount{
		{Type: "bind", Source: filepath.Join(dir, "html"), Target: "/usr/share/nginx/html"},
		{Type: "bind", Source: filepath.Join(dir, "conf/nginx.conf"), Target: "/etc/nginx/conf.d/default.conf"},
		{Type: "bind", Source: filepath.Dir(outside), Target: "/usr/share/nginx/html/x"},
		{Type: "volume", Source: "data", Target: "/data"},
	}
	resolve := MountResolver(mounts, dir)
	for in, want := range map[string]string{
		"/usr/share/nginx/html/50x.html":           "html/50x.html",
		"/usr/share/nginx/html/x/down.html":        outside, // the longer target wins
		"/usr/share/nginx/html/../html/50x.html":   "html/50x.html",
		"/usr/share/nginx/html/missing.html":       "",
		"/usr/share/nginx/html":                    "", // a directory
		"/usr/share/nginx/html/../../../../passwd": "",
		"/data/50x.html":                           "",
	} {
		got, ok := resolve(in)
		if got != want || ok != (want != "") {
			t.Errorf("%s: got %q %v, want %q", in, got, ok, want)
		}
	}
	svc := &tandem.Service{Name: "edge", Mounts: mounts}
	if got := Mounting([]*tandem.Service{{Name: "api"}, svc}, filepath.Join(dir, "conf/nginx.conf")); got != svc {
		t.Errorf("Mounting found %v", got)
	}
	if got := Mounting([]*tandem.Service{svc}, filepath.Join(dir, "other.conf")); got != nil {
		t.Errorf("Mounting found %v for an unmounted file", got.Name)
	}
}

// The YAML says what the routes say: it is what gets pasted.
func TestYAMLRoundTrip(t *testing.T) {
	routes := []tandem.Route{
		{Path: "/api/", Service: "api", Port: 8000, StripPrefix: true, Pos: tandem.Pos{Line: 2}},
		{Path: "/it's here/#x", Service: "web", Port: 3000, ErrorPage: "errors/$HOME.html", Pos: tandem.Pos{Line: 5}},
		{Path: "/", Service: "web", Port: 3000, Errors: tandem.ErrorsJSON, ErrorPage: "true", Pos: tandem.Pos{Line: 9}},
	}
	res := &Result{File: "n.conf", Routes: routes, Notes: []Note{
		{Pos: tandem.Pos{File: "n.conf", Line: 1}, Route: -1, Message: "first\nsecond"},
		{Pos: tandem.Pos{File: "n.conf", Line: 4}, Route: 2, Message: "about /"},
		{Pos: tandem.Pos{File: "n.conf", Line: 20}, Route: -1, Message: "last"},
	}}
	var b bytes.Buffer
	if err := WriteYAML(&b, res); err != nil {
		t.Fatal(err)
	}
	got := decodeYAML(t, b.Bytes())
	if !reflect.DeepEqual(got, yamlRoutes(routes)) {
		t.Errorf("YAML\n%s\nsays %v", b.String(), got)
	}
	lines := strings.Split(b.String(), "\n")
	at := func(s string) int {
		for i, l := range lines {
			if strings.Contains(l, s) {
				return i
			}
		}
		t.Fatalf("no %q in\n%s", s, b.String())
		return -1
	}
	if !(at("n.conf:1: warning: first?second") < at("path: /api/") && at("path: /api/") < at("about /") && at("about /") < at("path: /,") && at("path: /,") < at("last")) {
		t.Errorf("comments out of place:\n%s", b.String())
	}
}

type yamlRoute struct {
	Path        string `yaml:"path"`
	To          string `yaml:"to"`
	StripPrefix bool   `yaml:"strip_prefix"`
	Errors      string `yaml:"errors"`
	ErrorPage   string `yaml:"error_page"`
}

func yamlRoutes(routes []tandem.Route) []yamlRoute {
	out := []yamlRoute{}
	for _, r := range routes {
		y := yamlRoute{Path: r.Path, To: r.Target(), StripPrefix: r.StripPrefix, ErrorPage: r.ErrorPage}
		if r.Errors == tandem.ErrorsJSON {
			y.Errors = "json"
		}
		out = append(out, y)
	}
	return out
}

// decodeYAML reads the routes back, undoing Compose's "$$".
func decodeYAML(t testing.TB, b []byte) []yamlRoute {
	t.Helper()
	var doc struct {
		X struct {
			Routes []yamlRoute `yaml:"routes"`
		} `yaml:"x-tandem"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("the YAML does not parse: %v\n%s", err, b)
	}
	out := []yamlRoute{}
	for _, r := range doc.X.Routes {
		r.Path = strings.ReplaceAll(r.Path, "$$", "$")
		r.ErrorPage = strings.ReplaceAll(r.ErrorPage, "$$", "$")
		out = append(out, r)
	}
	return out
}

// Whatever the config, what Translate returns holds together: routes a
// Compose file accepts, at lines that write a location, notes at lines of
// the file, and YAML that says exactly the routes.
func FuzzTranslate(f *testing.F) {
	edge, _ := os.ReadFile("../examples/django-nextjs/edge/nginx.conf")
	for _, s := range []string{seed, string(edge),
		"upstream a { server b:1; server c; }\nserver { location = /x { proxy_pass http://a/; error_page 502 /e.html; } location = /e.html { root /r; } }",
		"http { server { listen 80 default_server; location '/a b' { proxy_pass http://w:2/a b; } } server { location / { return 200; } } }",
		"server { location /a { proxy_pass http://x:1/; location /a/b/ { proxy_pass http://y; } } }\n",
		"server {\nlocation /a/ {\nproxy_pass http://a;\n} location /b/ { proxy_pass http://b; }\n}",
	} {
		f.Add(s)
	}
	pages := Options{ErrorPage: func(p string) (string, bool) { return strings.TrimPrefix(p, "/"), true }}
	f.Fuzz(func(t *testing.T, src string) {
		res, err := Translate("f.conf", []byte(src), pages)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.conf:") || tandem.ErrorCode(err) != tandem.EINVALID {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		lines := strings.Split(src, "\n")
		paths := map[string]bool{}
		for _, r := range res.Routes {
			if !strings.HasPrefix(r.Path, "/") || clean(r.Path) != r.Path || strings.Contains(r.Path, "$") || paths[r.Path] {
				t.Errorf("route path %q", r.Path)
			}
			paths[r.Path] = true
			if !serviceName.MatchString(r.Service) || r.Port < 1 || r.Port > 65535 {
				t.Errorf("route to %q", r.Target())
			}
			if r.Pos.Line < 1 || r.Pos.Line > len(lines) || !strings.Contains(lines[r.Pos.Line-1], "location") {
				t.Errorf("route %s at line %d, which writes no location", r.Path, r.Pos.Line)
			}
		}
		for _, n := range res.Notes {
			if n.Pos.File != "f.conf" || n.Pos.Line < 1 || n.Pos.Line > len(lines) || n.Route < -1 || n.Route >= len(res.Routes) || clean(n.Message) != n.Message {
				t.Errorf("note %+v", n)
			}
		}
		var b bytes.Buffer
		if err := WriteYAML(&b, res); err != nil {
			t.Fatal(err)
		}
		if got := decodeYAML(t, b.Bytes()); !reflect.DeepEqual(got, yamlRoutes(res.Routes)) {
			t.Errorf("the YAML\n%s\nsays %v, the routes are %v", b.String(), got, yamlRoutes(res.Routes))
		}
	})
}

func TestDeepNestingIsRefused(t *testing.T) {
	src := strings.Repeat("location /a/ {\n", 100000) + strings.Repeat("}\n", 100000)
	_, err := Translate("deep.conf", []byte(src), Options{})
	if err == nil || err.Error() != "deep.conf:65: blocks nested more than 64 deep" {
		t.Errorf("got %v", err)
	}
}

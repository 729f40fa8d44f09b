package compose

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tandem-dev/tandem"
)

// withXTandem is a stack file whose top-level x-tandem block is block,
// starting on line 2; services follow it.
func withXTandem(block ...string) string {
	return "x-tandem:\n" + lines(block...) + lines(
		"services:",
		"  api:",
		"    image: x",
	)
}

func TestLoadXTandemErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		want string
	}{
		{
			name: "unknown route key",
			file: withXTandem("  routes:", "    - path: /api/", "      to: api:8000", "      stripprefix: true"),
			want: `compose.yml:5: unknown key "stripprefix" in route; did you mean "strip_prefix"?`,
		},
		{
			name: "unknown key without suggestion",
			file: withXTandem("  routes:", "    - {path: /, to: api:80, flavour: vanilla}"),
			want: `compose.yml:3: unknown key "flavour" in route`,
		},
		{
			name: "unknown top-level key",
			file: withXTandem("  rutes: []"),
			want: `compose.yml:2: unknown key "rutes" in x-tandem; did you mean "routes"?`,
		},
		{
			name: "unknown preview key",
			file: withXTandem("  preview:", "    domian: previews.example.com"),
			want: `compose.yml:3: unknown key "domian" in x-tandem.preview; did you mean "domain"?`,
		},
		{
			name: "x-tandem not a mapping",
			file: withXTandem("  - routes"),
			want: `compose.yml:1: x-tandem must be a mapping, not a list`,
		},
		{
			name: "routes not a list",
			file: withXTandem("  routes:", "    path: /"),
			want: `compose.yml:2: x-tandem.routes must be a list, not a mapping`,
		},
		{
			name: "route not a mapping",
			file: withXTandem("  routes:", "    - /api/"),
			want: `compose.yml:3: route must be a mapping, not a string`,
		},
		{
			name: "path missing",
			file: withXTandem("  routes:", "    - to: api:8000"),
			want: `compose.yml:3: route has no path`,
		},
		{
			name: "path without slash",
			file: withXTandem("  routes:", "    - to: api:8000", "      path: api/"),
			want: `compose.yml:4: route path "api/" must start with "/"`,
		},
		{
			name: "path not a string",
			file: withXTandem("  routes:", "    - {to: api:8000, path: [a]}"),
			want: `compose.yml:3: route path must be a string, not a list`,
		},
		{
			name: "to missing",
			file: withXTandem("  routes:", "    - path: /"),
			want: `compose.yml:3: route has no "to" (service:port)`,
		},
		{
			name: "to without port",
			file: withXTandem("  routes:", "    - path: /", "      to: api"),
			want: `compose.yml:4: route to "api" needs a port: "api:PORT"`,
		},
		{
			name: "to with named port",
			file: withXTandem("  routes:", "    - path: /", "      to: api:http"),
			want: `compose.yml:4: route to "api:http": port "http" must be a number from 1 to 65535`,
		},
		{
			name: "to out of range",
			file: withXTandem("  routes:", "    - path: /", "      to: api:70000"),
			want: `compose.yml:4: route to "api:70000": port "70000" must be a number from 1 to 65535`,
		},
		{
			name: "to a URL",
			file: withXTandem("  routes:", "    - path: /", "      to: http://api:8000"),
			want: `compose.yml:4: route to "http://api:8000" must be "service:port"`,
		},
		{
			name: "to a number",
			file: withXTandem("  routes:", "    - path: /", "      to: 8000"),
			want: `compose.yml:4: route to must be a string, not a number`,
		},
		{
			name: "strip_prefix not a boolean",
			file: withXTandem("  routes:", "    - path: /", "      to: api:80", "      strip_prefix: yes please"),
			want: `compose.yml:5: route strip_prefix must be true or false, not "yes please"`,
		},
		{
			name: "errors",
			file: withXTandem("  routes:", "    - path: /", "      to: api:80", "      errors: xml"),
			want: `compose.yml:5: route errors must be "html" or "json", not "xml"`,
		},
		{
			name: "ttl",
			file: withXTandem("  preview:", "    ttl: 3 days"),
			want: `compose.yml:3: preview ttl "3 days" is not a duration, like "72h"`,
		},
		{
			name: "ttl a number",
			file: withXTandem("  preview:", "    ttl: 72"),
			want: `compose.yml:3: preview ttl must be a string, not a number`,
		},
		{
			name: "domain a URL",
			file: withXTandem("  preview:", "    domain: https://previews.example.com"),
			want: `compose.yml:3: preview domain "https://previews.example.com" must be a host name, like previews.example.com`,
		},
		{
			name: "access",
			file: withXTandem("  preview:", "    access: internal"),
			want: `compose.yml:3: preview access must be private or public, not "internal"`,
		},
		{
			name: "access not a string",
			file: withXTandem("  preview:", "    access: [public]"),
			want: `compose.yml:3: preview access must be a string, not a list`,
		},
		{
			name: "secret name",
			file: withXTandem("  preview:", "    secrets:", "      - DJANGO_SECRET_KEY", "      - api-key"),
			want: `compose.yml:5: preview secret "api-key" is not a variable name ([A-Z_][A-Z0-9_]*)`,
		},
		{
			name: "secret reserved",
			file: withXTandem("  preview:", "    secrets: [PREVIEW_HOST]"),
			want: `compose.yml:3: preview secret "PREVIEW_HOST" is a variable tandem sets itself`,
		},
		{
			name: "secrets not a list",
			file: withXTandem("  preview:", "    secrets: KEY"),
			want: `compose.yml:3: preview secrets must be a list of variable names, not a string`,
		},
		{
			name: "several problems, in line order",
			file: withXTandem("  routes:", "    - {path: api, to: api:8000}", "    - {path: /, to: web}"),
			want: "compose.yml:3: route path \"api\" must start with \"/\"\ncompose.yml:4: route to \"web\" needs a port: \"web:PORT\"",
		},
		{
			name: "service: unknown key",
			file: lines("services:", "  api:", "    image: x", "    x-tandem:", "      seeds: [make seed]"),
			want: `compose.yml:5: unknown key "seeds" in x-tandem of service "api"; did you mean "seed"?`,
		},
		{
			name: "service: seed not strings",
			file: lines("services:", "  api:", "    image: x", "    x-tandem:", "      seed:", "        - make seed", "        - {run: x}"),
			want: `compose.yml:7: x-tandem of service "api": seed must be a string or a list of strings, not a list of a mapping`,
		},
		{
			name: "service: build not a string",
			file: lines("services:", "  api:", "    image: x", "    x-tandem:", "      build: [npm, ci]"),
			want: `compose.yml:5: x-tandem of service "api": build must be a mapping, not a list`,
		},
		{
			name: "service: build without run",
			file: lines("services:", "  api:", "    image: x", "    x-tandem:", "      build: {env: [BASE_PATH]}"),
			want: `compose.yml:5: x-tandem of service "api": build: run is missing: the command that builds the service`,
		},
		{
			name: "service: build env not a name",
			file: lines("services:", "  api:", "    image: x", "    x-tandem:", "      build:", "        run: make", "        env: [BASE_PATH, base-path]"),
			want: `compose.yml:7: x-tandem of service "api": build env: "base-path" is not a variable name ([A-Z_][A-Z0-9_]*)`,
		},
		{
			name: "service: build unknown key",
			file: lines("services:", "  api:", "    image: x", "    x-tandem:", "      build: {run: make, cmd: x}"),
			want: `compose.yml:5: unknown key "cmd" in x-tandem of service "api": build`,
		},
		{
			name: "service: empty command",
			file: lines("services:", "  api:", "    image: x", "    x-tandem:", "      command: []"),
			want: `compose.yml:5: x-tandem of service "api": command is empty`,
		},
		{
			name: "service: x-tandem not a mapping",
			file: lines("services:", "  api:", "    image: x", "    x-tandem: make"),
			want: `compose.yml:4: x-tandem of service "api" must be a mapping, not a string`,
		},
		{
			name: "service: restart policy",
			file: lines("services:", "  api:", "    image: x", "    restart: sometimes"),
			want: `compose.yml:4: service "api": unknown restart policy "sometimes" (no, always, on-failure, unless-stopped)`,
		},
		{
			name: "service: expose",
			file: lines("services:", "  api:", "    image: x", "    expose: [\"80-70\"]"),
			want: `compose.yml:4: expose "80-70": not a port range`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stackDir(t, map[string]string{"compose.yml": tc.file})
			_, err := load(t, Options{})
			wantError(t, err, tc.want)
		})
	}
}

func TestLoadRouteDefaults(t *testing.T) {
	dir := stackDir(t, map[string]string{"errors/502.html": "<h1>down</h1>", "errors/json.html": "<h1>api down</h1>"})
	// An absolute error page is fine inside the project.
	writeTestFile(t, filepath.Join(dir, "compose.yml"), withXTandem(
		"  routes:",
		"    - path: /",
		"      to: api:8000",
		"      strip_prefix: ${STRIP:-false}",
		"      error_page: errors/502.html",
		"    - {path: /abs/, to: api:8000, error_page: "+filepath.Join(dir, "errors/json.html")+", errors: json}",
	))
	st := mustLoad(t, Options{})
	want := []tandem.Route{
		{Path: "/", Service: "api", Port: 8000, Errors: tandem.ErrorsHTML, ErrorPage: filepath.Join(dir, "errors/502.html"),
			ErrorPageBody: "<h1>down</h1>", Pos: tandem.Pos{File: "compose.yml", Line: 3}},
		{Path: "/abs/", Service: "api", Port: 8000, Errors: tandem.ErrorsJSON, ErrorPage: filepath.Join(dir, "errors/json.html"),
			ErrorPageBody: "<h1>api down</h1>", Pos: tandem.Pos{File: "compose.yml", Line: 7}},
	}
	if !reflect.DeepEqual(st.Routes, want) {
		t.Errorf("Routes:\n got %+v\nwant %+v", st.Routes, want)
	}
	if st.Preview.TTL != 0 || st.Preview.Domain != "" || st.Preview.Secrets != nil || st.Preview.Access != "" {
		t.Errorf("Preview = %+v, want zero", st.Preview)
	}
}

// The stack's access is read as written; what it means beside the
// repository's is tandem.EffectiveAccess's to say.
func TestLoadPreviewAccess(t *testing.T) {
	for _, want := range []tandem.PreviewAccess{tandem.AccessPrivate, tandem.AccessPublic} {
		stackDir(t, map[string]string{"compose.yml": withXTandem("  preview:", "    access: "+string(want))})
		if st := mustLoad(t, Options{}); st.Preview.Access != want {
			t.Errorf("access %s: got %q", want, st.Preview.Access)
		}
	}
}

func TestLoadBuildForms(t *testing.T) {
	stackDir(t, map[string]string{"compose.yml": lines(
		"services:",
		"  web:",
		"    build: .",
		"    command: npm start",
		"    x-tandem:",
		"      build: npm ci && npm run build",
		"  docs:",
		"    build: .",
		"    command: npm start",
		"    x-tandem:",
		"      build:",
		"        run: npm run build",
		"        env: [BASE_PATH, DOCS_VERSION]",
	)})
	st := mustLoad(t, Options{})
	if web := st.Service("web"); web.Build != "npm ci && npm run build" || web.BuildEnv != nil {
		t.Errorf("web: %q %q", web.Build, web.BuildEnv)
	}
	if docs := st.Service("docs"); docs.Build != "npm run build" || !reflect.DeepEqual(docs.BuildEnv, []string{"BASE_PATH", "DOCS_VERSION"}) {
		t.Errorf("docs: %q %q", docs.Build, docs.BuildEnv)
	}
}

func TestSplitCommand(t *testing.T) {
	got, err := splitCommand(`sh -c 'echo "a b"' c\ d`)
	if want := []string{"sh", "-c", `echo "a b"`, "c d"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("splitCommand = %q, %v; want %q", got, err, want)
	}
	if _, err := splitCommand(`echo 'unterminated`); err == nil || !strings.Contains(err.Error(), "invalid command line") {
		t.Errorf("unterminated quote: err = %v", err)
	}
}

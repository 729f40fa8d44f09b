package check

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/compose"
)

// lines joins YAML lines, so a test can count them: the first is line 1.
func lines(l ...string) string { return strings.Join(l, "\n") + "\n" }

type checkCase struct {
	name      string
	files     map[string]string // compose.yml and whatever it refers to
	profiles  []string
	supported func(*tandem.Service) error
	want      []string // Problem.String()s, in order
}

// run writes each case's files into a new directory, loads compose.yml
// from there with the real loader and checks it.
func run(t *testing.T, cases []checkCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tc.files {
				p := filepath.Join(dir, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			t.Chdir(dir)
			st, err := compose.Load(context.Background(), compose.Options{Files: []string{"compose.yml"}, Profiles: tc.profiles})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			var got []string
			for _, p := range Stack(st, tc.supported) {
				got = append(got, p.String())
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("problems:\n got %s\nwant %s", strings.Join(quoted(got), "\n     "), strings.Join(quoted(tc.want), "\n     "))
			}
		})
	}
}

func quoted(s []string) []string {
	out := make([]string, len(s))
	for i, e := range s {
		out[i] = "`" + e + "`"
	}
	if len(out) == 0 {
		return []string{"(none)"}
	}
	return out
}

// stack is a compose.yml with routes (one a line, from line 3) and the
// services after them.
func stack(routes []string, services ...string) string {
	var b strings.Builder
	b.WriteString("x-tandem:\n  routes:\n")
	for _, r := range routes {
		b.WriteString("    - " + r + "\n")
	}
	b.WriteString("services:\n")
	b.WriteString(lines(services...))
	return b.String()
}

var (
	api = []string{"  api:", "    image: api", "    expose: [8000]"}
	web = []string{"  web:", "    image: web", "    ports: [\"3000:3000\"]"}
)

func svcs(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestRoutesToUnknownServices(t *testing.T) {
	run(t, []checkCase{
		{
			name:  "known",
			files: map[string]string{"compose.yml": stack([]string{"{path: /api/, to: api:8000}", "{path: /, to: web:3000}"}, svcs(api, web)...)},
		},
		{
			name:  "typo",
			files: map[string]string{"compose.yml": stack([]string{"{path: /api/, to: apii:8000}", "{path: /, to: web:3000}"}, svcs(api, web)...)},
			want:  []string{`compose.yml:3: route to unknown service "apii" (services: api, web)`},
		},
		{
			name: "disabled by a profile",
			files: map[string]string{"compose.yml": stack([]string{"{path: /, to: edge:80}"},
				"  edge:", "    image: nginx", "    profiles: [docker]", "  api:", "    image: api")},
			want: []string{`compose.yml:3: service "edge" is only enabled with profile "docker"`},
		},
		{
			name: "disabled by two profiles",
			files: map[string]string{"compose.yml": stack([]string{"{path: /, to: edge:80}"},
				"  edge:", "    image: nginx", "    profiles: [docker, prod]", "  api:", "    image: api")},
			want: []string{`compose.yml:3: service "edge" is only enabled with profiles "docker" or "prod"`},
		},
		{
			name:     "enabled by its profile",
			profiles: []string{"docker"},
			files: map[string]string{"compose.yml": stack([]string{"{path: /, to: edge:80}"},
				"  edge:", "    image: nginx", "    profiles: [docker]")},
		},
	})
}

func TestRoutesToPorts(t *testing.T) {
	run(t, []checkCase{
		{
			name:  "listed port",
			files: map[string]string{"compose.yml": stack([]string{"{path: /api/, to: api:8000}"}, api...)},
		},
		{
			name: "unlisted port",
			files: map[string]string{"compose.yml": stack([]string{"{path: /api/, to: api:8080}", "{path: /, to: web:80}"},
				"  api:", "    image: api", "    expose: [8000, 9000]", "    ports: [\"7000:7001\"]",
				"  web:", "    image: web", "    ports: [\"3000:3000\"]")},
			want: []string{
				`compose.yml:3: service "api" does not listen on port 8080: the file says it listens on 7001, 8000 and 9000`,
				`compose.yml:4: service "web" does not listen on port 80: the file says it listens on 3000`,
			},
		},
		{
			name:  "no ports listed",
			files: map[string]string{"compose.yml": stack([]string{"{path: /, to: web:1234}"}, "  web:", "    build: .")},
		},
		{
			name:  "postgres",
			files: map[string]string{"compose.yml": stack([]string{"{path: /, to: db:5433}"}, "  db:", "    image: postgres:16")},
			want:  []string{`compose.yml:3: service "db" does not listen on port 5433: the file says it listens on 5432`},
		},
		{
			name:  "block style names the to line",
			files: map[string]string{"compose.yml": stack([]string{"path: /api/\n      to: api:1"}, api...)},
			want:  []string{`compose.yml:4: service "api" does not listen on port 1: the file says it listens on 8000`},
		},
	})
}

func TestDuplicateRoutes(t *testing.T) {
	run(t, []checkCase{
		{
			name: "distinct",
			files: map[string]string{"compose.yml": stack([]string{"{path: /api/, to: api:8000}", "{path: /apis/, to: api:8000}", "{path: /, to: web:3000}"},
				svcs(api, web)...)},
		},
		{
			name: "exact duplicate",
			files: map[string]string{"compose.yml": stack([]string{"{path: /api/, to: api:8000}", "{path: /, to: web:3000}", "{path: /api/, to: web:3000}"},
				svcs(api, web)...)},
			want: []string{`compose.yml:5: route "/api/" is already defined at line 3`},
		},
		{
			name: "trailing slash",
			files: map[string]string{"compose.yml": stack([]string{"{path: /api/, to: api:8000}", "{path: /api, to: web:3000}"},
				svcs(api, web)...)},
			want: []string{`compose.yml:4: warning: routes "/api" and "/api/" (line 3) differ only by a trailing slash: "/api" receives only "/api" itself and paths like "/apix"`},
		},
	})
}

func TestDuplicateRoutesAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for name, content := range map[string]string{
		"compose.yml": stack([]string{"{path: /api/, to: api:8000}"}, api...),
		"dev.yml":     lines("x-tandem:", "  routes:", "    - {path: /api/, to: api:8000, strip_prefix: true}"),
	} {
		if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	st, err := compose.Load(context.Background(), compose.Options{Files: []string{"compose.yml", "dev.yml"}})
	if err != nil {
		t.Fatal(err)
	}
	got := Stack(st, nil)
	want := []tandem.Problem{{Pos: tandem.Pos{File: "dev.yml", Line: 3}, Message: `route "/api/" is already defined at compose.yml:3`}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems = %v, want %v", got, want)
	}
}

func TestErrorPage(t *testing.T) {
	run(t, []checkCase{
		{
			name: "exists",
			files: map[string]string{
				"compose.yml":     stack([]string{"{path: /, to: api:8000, error_page: errors/502.html}"}, api...),
				"errors/502.html": "<h1>down</h1>",
			},
		},
		{
			name:  "missing",
			files: map[string]string{"compose.yml": stack([]string{"path: /\n      to: api:8000\n      error_page: errors/502.html"}, api...)},
			want:  []string{`compose.yml:5: error page "errors/502.html" does not exist`},
		},
		{
			name: "directory",
			files: map[string]string{
				"compose.yml":      stack([]string{"{path: /, to: api:8000, error_page: errors}"}, api...),
				"errors/keep.html": "",
			},
			want: []string{`compose.yml:3: error page "errors" is a directory`},
		},
	})
}

func TestUnsupportedImages(t *testing.T) {
	supported := func(svc *tandem.Service) error {
		if svc.Context == "" && !strings.HasPrefix(svc.Image, "postgres") {
			return tandem.Errorf(tandem.EUNSUPPORTED, "service %q: the process runtime cannot run image %q; give it a build context or x-tandem.command", svc.Name, svc.Image)
		}
		return nil
	}
	run(t, []checkCase{
		{
			name:      "supported",
			supported: supported,
			files:     map[string]string{"compose.yml": lines("services:", "  db:", "    image: postgres:16", "  api:", "    build: .")},
		},
		{
			name:      "unsupported",
			supported: supported,
			files: map[string]string{"compose.yml": lines("services:", "  db:", "    image: postgres:16",
				"  cache:", "    image: redis:7", "  search:", "    image: elasticsearch:8")},
			want: []string{
				`compose.yml:5: service "cache": the process runtime cannot run image "redis:7"; give it a build context or x-tandem.command`,
				`compose.yml:7: service "search": the process runtime cannot run image "elasticsearch:8"; give it a build context or x-tandem.command`,
			},
		},
		{
			name:  "no runtime to ask",
			files: map[string]string{"compose.yml": lines("services:", "  cache:", "    image: redis:7")},
		},
	})
}

func TestHealthyDependencies(t *testing.T) {
	run(t, []checkCase{
		{
			name: "has a healthcheck",
			files: map[string]string{"compose.yml": lines("services:",
				"  api:", "    image: api", "    depends_on:", "      db: {condition: service_healthy}",
				"  db:", "    image: postgres:16", "    healthcheck:", "      test: pg_isready")},
		},
		{
			name: "no healthcheck",
			files: map[string]string{"compose.yml": lines("services:",
				"  api:", "    image: api", "    depends_on:", "      db: {condition: service_healthy}", "      cache: {condition: service_started}",
				"  db:", "    image: postgres:16",
				"  cache:", "    image: redis")},
			want: []string{`compose.yml:5: service "api" waits for "db" to be healthy, but "db" has no healthcheck: docker compose would refuse to start "api"`},
		},
		{
			name: "disabled healthcheck",
			files: map[string]string{"compose.yml": lines("services:",
				"  db:", "    image: postgres:16", "    healthcheck:", "      disable: true",
				"  api:", "    image: api", "    depends_on:", "      db:", "        condition: service_healthy")},
			want: []string{`compose.yml:9: service "api" waits for "db" to be healthy, but "db" has no healthcheck: docker compose would refuse to start "api"`},
		},
	})
}

// Problems come sorted by line, whatever found them.
func TestSorted(t *testing.T) {
	run(t, []checkCase{{
		name: "mixed",
		files: map[string]string{"compose.yml": lines(
			"services:",
			"  api:",
			"    image: api",
			"    depends_on:",
			"      db: {condition: service_healthy}",
			"  db:",
			"    image: postgres:16",
			"x-tandem:",
			"  routes:",
			"    - {path: /, to: nope:1}",
		)},
		supported: func(s *tandem.Service) error {
			if s.Name == "db" {
				return tandem.Errorf(tandem.EUNSUPPORTED, "no postgres here")
			}
			return nil
		},
		want: []string{
			`compose.yml:5: service "api" waits for "db" to be healthy, but "db" has no healthcheck: docker compose would refuse to start "api"`,
			`compose.yml:7: no postgres here`,
			`compose.yml:10: route to unknown service "nope" (services: api, db)`,
		},
	}})
}

package compose

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
)

// The stack file of PRODUCT.md, as written there.
const productStack = `x-tandem:
  routes:                         # longest matching prefix wins
    - { path: /api/, to: api:8000, strip_prefix: true, errors: json }
    - { path: /auth/callback/, to: api:8000 }
    - { path: /, to: web:3000 }
  preview:
    domain: previews.example.com
    ttl: 72h
    secrets: [DJANGO_SECRET_KEY, NEXTAUTH_SECRET]
services:
  api:
    build: ./backend
    command: ./bin/api-entrypoint.sh
    environment:
      ALLOWED_HOSTS: ${PREVIEW_HOST},api
    x-tandem:
      seed: [python3 manage.py migrate --noinput, python3 manage.py seed_demo_data]
  web:
    build: ./frontend
    command: npm run start
    x-tandem:
      build: npm ci && npm run build
  db:
    image: postgres:16
`

func TestLoadProductStack(t *testing.T) {
	dir := stackDir(t, map[string]string{"compose.yml": productStack})
	st := mustLoad(t, Options{Vars: tandem.LocalVars(":8080"), ProjectName: "shop"})

	if st.Name != "shop" || st.Dir != dir || !reflect.DeepEqual(st.Files, []string{"compose.yml"}) {
		t.Errorf("Name, Dir, Files = %q, %q, %q", st.Name, st.Dir, st.Files)
	}
	want := []*tandem.Service{
		{
			Name: "api", Context: filepath.Join(dir, "backend"), WorkingDir: filepath.Join(dir, "backend"),
			DockerBuild: &tandem.DockerBuild{Dockerfile: "Dockerfile"},
			Command:     []string{"./bin/api-entrypoint.sh"},
			Environment: map[string]string{"ALLOWED_HOSTS": "localhost,api"},
			Restart:     tandem.RestartNo, StopSignal: "SIGTERM", StopGrace: 10 * time.Second,
			Seed: []string{"python3 manage.py migrate --noinput", "python3 manage.py seed_demo_data"},
		},
		{
			Name: "db", Image: "postgres:16", Environment: map[string]string{}, Ports: []int{5432},
			// The image's STOPSIGNAL.
			Restart: tandem.RestartNo, StopSignal: "SIGINT", StopGrace: 10 * time.Second,
		},
		{
			Name: "web", Context: filepath.Join(dir, "frontend"), WorkingDir: filepath.Join(dir, "frontend"),
			DockerBuild: &tandem.DockerBuild{Dockerfile: "Dockerfile"},
			Command:     []string{"npm", "run", "start"}, Environment: map[string]string{},
			Restart: tandem.RestartNo, StopSignal: "SIGTERM", StopGrace: 10 * time.Second,
			Build: "npm ci && npm run build",
		},
	}
	if !reflect.DeepEqual(st.Services, want) {
		for i := range want {
			if i < len(st.Services) && !reflect.DeepEqual(st.Services[i], want[i]) {
				t.Errorf("service %s:\n got %+v\nwant %+v", want[i].Name, st.Services[i], want[i])
			}
		}
		if len(st.Services) != len(want) {
			t.Errorf("%d services, want %d", len(st.Services), len(want))
		}
	}
	pos := func(line int) tandem.Pos { return tandem.Pos{File: "compose.yml", Line: line} }
	wantRoutes := []tandem.Route{
		{Path: "/api/", Service: "api", Port: 8000, StripPrefix: true, Errors: tandem.ErrorsJSON, Pos: pos(3)},
		{Path: "/auth/callback/", Service: "api", Port: 8000, Errors: tandem.ErrorsHTML, Pos: pos(4)},
		{Path: "/", Service: "web", Port: 3000, Errors: tandem.ErrorsHTML, Pos: pos(5)},
	}
	if !reflect.DeepEqual(st.Routes, wantRoutes) {
		t.Errorf("Routes:\n got %+v\nwant %+v", st.Routes, wantRoutes)
	}
	wantPreview := tandem.PreviewSettings{Domain: "previews.example.com", TTL: 72 * time.Hour, Secrets: []string{"DJANGO_SECRET_KEY", "NEXTAUTH_SECRET"}}
	if !reflect.DeepEqual(st.Preview, wantPreview) {
		t.Errorf("Preview = %+v, want %+v", st.Preview, wantPreview)
	}
	for path, line := range map[string]int{
		"x-tandem":                     1,
		"x-tandem.routes.0":            3,
		"x-tandem.routes.2.to":         5,
		"x-tandem.preview.secrets.1":   9,
		"services.api":                 11,
		"services.api.build":           12,
		"services.api.x-tandem.seed.1": 17,
		"services.db.image":            24,
	} {
		if got := st.Pos[path]; got != pos(line) {
			t.Errorf("Pos[%q] = %v, want line %d", path, got, line)
		}
	}
	if len(st.Disabled) != 0 {
		t.Errorf("Disabled = %q", st.Disabled)
	}
}

func TestLoadServiceFields(t *testing.T) {
	dir := stackDir(t, map[string]string{"compose.yml": `services:
  app:
    build:
      context: ./app
      dockerfile: Dockerfile.dev
    working_dir: src
    entrypoint: ["/bin/sh", "-c"]
    command: 'echo "hello world"'
    ports: ["8080:8000", "127.0.0.1:9000-9001:9000-9001/tcp"]
    expose: ["7000", "7100-7102", "7200/udp"]
    restart: on-failure:3
    stop_signal: SIGINT
    stop_grace_period: 1m30s
    volumes:
      - ./data:/data:ro
      - cache:/cache
      - type: tmpfs
        target: /tmp
  container:
    image: docker.io/library/postgres:16-alpine
    working_dir: /app
    deploy:
      restart_policy:
        condition: any
    restart: "no"
    x-tandem:
      command: postgres -c 'log_statement=all'
  listy:
    image: redis:7
    x-tandem:
      command: [redis-server, --port, "6380"]
      seed: redis-cli ping
volumes:
  cache:
`})
	st := mustLoad(t, Options{})
	app, db, redis := st.Service("app"), st.Service("container"), st.Service("listy")

	check := func(name string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", name, got, want)
		}
	}
	check("app.Context", app.Context, filepath.Join(dir, "app"))
	check("app.WorkingDir", app.WorkingDir, filepath.Join(dir, "app", "src"))
	check("app.Entrypoint", app.Entrypoint, []string{"/bin/sh", "-c"})
	check("app.Command", app.Command, []string{"echo", "hello world"})
	check("app.Argv", app.Argv(), []string{"/bin/sh", "-c", "echo", "hello world"})
	check("app.Ports", app.Ports, []int{7000, 7100, 7101, 7102, 7200, 8000, 9000, 9001})
	check("app.Restart", app.Restart, tandem.RestartOnFailure)
	check("app.StopSignal", app.StopSignal, "SIGINT")
	check("app.StopGrace", app.StopGrace, 90*time.Second)
	check("app.Mounts", app.Mounts, []tandem.Mount{
		{Type: "bind", Source: filepath.Join(dir, "data"), Target: "/data", ReadOnly: true},
		{Type: "volume", Source: "cache", Target: "/cache"},
	})
	check("container.WorkingDir", db.WorkingDir, "")
	check("container.Ports", db.Ports, []int{5432})
	check("container.Restart", db.Restart, tandem.RestartAlways)
	check("container.TandemCommand", db.TandemCommand, []string{"postgres", "-c", "log_statement=all"})
	check("container.Command", db.Command, []string(nil))
	check("listy.TandemCommand", redis.TandemCommand, []string{"redis-server", "--port", "6380"})
	check("listy.Argv", redis.Argv(), []string{"redis-server", "--port", "6380"})
	check("listy.Seed", redis.Seed, []string{"redis-cli ping"})
	check("listy.Ports", redis.Ports, []int(nil))
}

// An absolute working_dir is a container path: the command runs in the
// build context, and a container runs there.
func TestLoadAbsoluteWorkingDir(t *testing.T) {
	dir := stackDir(t, map[string]string{"compose.yml": lines(
		"services:",
		"  api:",
		"    build: .",
		"    working_dir: /app",
	)})
	st := mustLoad(t, Options{})
	if got := st.Service("api").WorkingDir; got != dir {
		t.Errorf("WorkingDir = %q, want %q", got, dir)
	}
	if got := st.Service("api").ImageWorkingDir; got != "/app" {
		t.Errorf("ImageWorkingDir = %q, want /app", got)
	}
}

func TestLoadMissingFile(t *testing.T) {
	stackDir(t, nil)
	_, err := load(t, Options{Files: []string{"nope.yml"}})
	wantError(t, err, "compose file nope.yml: no such file or directory")

	_, err = Load(t.Context(), Options{})
	wantError(t, err, "no compose file given")
}

func TestSecretNames(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := write("a.yml", "x-tandem:\n  preview:\n    secrets: [DJANGO_SECRET_KEY, NEXTAUTH_SECRET, not-a-name, PREVIEW_HOST]\nservices: {}\n")
	b := write("b.yml", "services: {}\n")
	c := write("c.yml", "x-tandem:\n  preview:\n    secrets: [OTHER]\n")
	if got := SecretNames([]string{a, b}); !reflect.DeepEqual(got, []string{"DJANGO_SECRET_KEY", "NEXTAUTH_SECRET"}) {
		t.Errorf("a, b: %q", got)
	}
	if got := SecretNames([]string{a, c}); !reflect.DeepEqual(got, []string{"OTHER"}) {
		t.Errorf("a, c: %q", got)
	}
	if got := SecretNames([]string{filepath.Join(dir, "missing.yml")}); got != nil {
		t.Errorf("missing: %q", got)
	}
}

package main

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckReportsEachProblemAtItsLine(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "web", "package.json"), `{"dependencies":{"next":"14.2.35"}}`)
	file := filepath.Join(dir, "compose.yml")
	writeFile(t, file, `x-tandem:
  routes:
    - { path: /api/, to: api:8000, strip_prefix: true, errors: json }
    - { path: /api/, to: api:8000 }
    - { path: /shop/, to: web:3000 }
    - { path: /x/, to: nope:80 }
    - { path: /y/, to: api:9999 }
services:
  api:
    build: .
    command: gunicorn app.wsgi
    expose: ["8000"]
  web:
    build: ./web
    command: npm run start
    expose: ["3000"]
  cache:
    image: redis:7
`)
	code, out := run(t, "check", "-f", file, "--runtime", "process")
	if code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	want := []string{
		file + `:4: route "/api/" is already defined at line 3`,
		file + `:5: warning: service "web" is a Next.js app served under "/shop/", but no route serves /_next/`,
		file + `:6: route to unknown service "nope" (services: api, cache, web)`,
		file + `:7: service "api" does not listen on port 9999: the file says it listens on 8000`,
		file + `:18: service "cache": the process runtime cannot run image "redis:7"`,
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), out)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d:\n got %s\nwant %s...", i+1, lines[i], w)
		}
	}
}

// An image service is no problem for a runtime that runs containers: the
// docker runtime, or auto, which runs it beside the processes.
func TestCheckAcceptsImagesUnderDockerAndAuto(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yml")
	writeFile(t, file, `x-tandem:
  routes:
    - { path: /, to: api:8000 }
services:
  api:
    build: .
    command: gunicorn app.wsgi
    expose: ["8000"]
  cache:
    image: redis:7
`)
	for _, rt := range []string{"docker", "auto"} {
		if code, out := run(t, "check", "-f", file, "--runtime", rt); code != 0 || !strings.Contains(out, "ok: 2 services") {
			t.Errorf("--runtime %s: exit %d\n%s", rt, code, out)
		}
	}
	if code, out := run(t, "check", "-f", file, "--runtime", "process"); code != 1 || !strings.Contains(out, `cannot run image "redis:7"`) {
		t.Errorf("--runtime process: exit %d\n%s", code, out)
	}
	if code, out := run(t, "check", "-f", file, "--runtime", "podman"); code == 0 || !strings.Contains(out, "choose process, docker, kubernetes or auto") {
		t.Errorf("--runtime podman: exit %d\n%s", code, out)
	}
}

func TestCheckWarningsAloneExitZero(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "web", "package.json"), `{"dependencies":{"next":"14.2.35"}}`)
	file := filepath.Join(dir, "compose.yml")
	writeFile(t, file, `x-tandem:
  routes:
    - { path: /shop/, to: web:3000 }
services:
  web:
    build: ./web
    command: npm run start
`)
	code, out := run(t, "check", "-f", file)
	if code != 0 || !strings.Contains(out, "compose.yml:3: warning:") {
		t.Errorf("%d %q", code, out)
	}
}

func TestCheckBadFileNamesTheLine(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yml")
	writeFile(t, file, `x-tandem:
  routes:
    - { path: api/, to: api:8000, stripprefix: true }
services:
  api:
    build: .
    command: gunicorn
`)
	code, out := run(t, "check", "-f", file)
	if code != 1 || !strings.Contains(out, file+":3:") || !strings.Contains(out, `did you mean "strip_prefix"`) {
		t.Errorf("%d %q", code, out)
	}
}

func TestCheckTheExample(t *testing.T) {
	file := filepath.Join(repoRoot(t), "examples", "django-nextjs", "docker-compose.yml")
	code, out := run(t, "check", "-f", file)
	if code != 0 || !strings.Contains(out, "ok: 3 services, 2 routes") {
		t.Errorf("%d %q", code, out)
	}
}

package main

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tandem-dev/tandem/docker"
)

// needDocker skips a test when no Docker Engine answers, and fails it when
// the local test images (scripts/test-images) are missing.
func needDocker(t testing.TB, images ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := docker.New().Available(ctx); err != nil {
		t.Skipf("no Docker Engine answers, so the docker runtime is not tested (make test-docker starts one): %v", err)
	}
	for _, img := range images {
		if err := exec.Command("docker", "image", "inspect", img).Run(); err != nil {
			t.Fatalf("the test image %s is missing: run scripts/test-images (make test-docker does)", img)
		}
	}
}

// containersOf lists the ids of the containers of the instance with data
// in dataDir.
func containersOf(t testing.TB, dataDir string) []string {
	t.Helper()
	out, err := exec.Command("docker", "ps", "-aq", "--no-trunc", "--filter", "label=dev.tandem.data="+dataDir).Output()
	if err != nil {
		t.Fatalf("docker ps: %v", err)
	}
	return strings.Fields(string(out))
}

// dockerStack is a stack of images and builds: api serves CGI scripts that
// show the Host header it got; web, built with a build argument, calls api
// by name server-side; db is postgres:16.
func dockerStack(t testing.TB) string {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "compose.yml"), `x-tandem:
  routes:
    - { path: /api/, to: api:8000, strip_prefix: true, errors: json }
    - { path: /, to: web:3000 }
services:
  db:
    image: postgres:16
    environment: { POSTGRES_USER: app, POSTGRES_PASSWORD: pw, POSTGRES_DB: shop }
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -h 127.0.0.1 -U app -d shop"]
      interval: 1s
      retries: 120
  api:
    build: ./api
    expose: ["8000"]
    depends_on: { db: { condition: service_healthy } }
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8000/cgi-bin/host"]
      interval: 1s
      retries: 60
  web:
    build:
      context: ./web
      target: final
      args: { GREETING: hello from a build argument }
    expose: ["3000"]
    depends_on: { api: { condition: service_healthy } }
`)
	cgi := func(body string) string {
		return "#!/bin/sh\necho 'Content-Type: text/plain'\necho\n" + body + "\n"
	}
	writeFile(t, filepath.Join(dir, "api", "Dockerfile"), `FROM local/busybox
COPY cgi-bin /srv/cgi-bin
CMD ["httpd", "-f", "-p", "8000", "-h", "/srv"]
`)
	writeFile(t, filepath.Join(dir, "api", "cgi-bin", "host"), cgi(`echo "host=$HTTP_HOST"`))
	writeFile(t, filepath.Join(dir, "web", "Dockerfile"), `FROM local/busybox AS base
ARG GREETING=unset
RUN mkdir -p /srv/cgi-bin && echo "$GREETING" > /srv/index.html
FROM base AS final
COPY ssr /srv/cgi-bin/ssr
CMD ["httpd", "-f", "-p", "3000", "-h", "/srv"]
`)
	writeFile(t, filepath.Join(dir, "web", "ssr"), cgi(`wget -q -O - http://api:8000/cgi-bin/host`))
	for _, f := range []string{"api/cgi-bin/host", "web/ssr"} {
		if err := exec.Command("chmod", "+x", filepath.Join(dir, f)).Run(); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "compose.yml")
}

// tandem up --runtime docker runs images and builds behind the gateway with
// the process runtime's routes and Host semantics; a tandem killed with
// SIGKILL leaves containers that the next one removes, and a stopped one
// leaves none.
func TestUpDockerRuntime(t *testing.T) {
	needDocker(t, "local/busybox", "postgres:16")
	file := dockerStack(t)
	data := t.TempDir()
	port := freePort(t)
	base := fmt.Sprintf("http://localhost:%d", port)
	up := func() *tandemProc {
		p := start(t, "up", "-f", file, "--runtime", "docker", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--data", data)
		p.waitOutput(t, "is up at", 5*time.Minute)
		return p
	}
	p := up()
	c := &http.Client{Timeout: 30 * time.Second}
	if r := fetch(t, c, "GET", base+"/", nil, nil); r.status != 200 || strings.TrimSpace(r.body) != "hello from a build argument" {
		t.Errorf("GET / = %d %q: the build argument did not reach the build", r.status, r.body)
	}
	if r := fetch(t, c, "GET", base+"/api/cgi-bin/host", nil, nil); !strings.Contains(r.body, fmt.Sprintf("host=localhost:%d", port)) {
		t.Errorf("the API saw %q through the gateway, want the browser's host", r.body)
	}
	if r := fetch(t, c, "GET", base+"/cgi-bin/ssr", nil, nil); !strings.Contains(r.body, "host=api:8000") {
		t.Errorf("web's server-side call: %q, want api to see Host api:8000", r.body)
	}
	if code, out := run(t, "ps", "-f", file, "--data", data); code != 0 || !regexp.MustCompile(`(?m)^api\s+\S+\s+[0-9a-f]{12}\s`).MatchString(out) {
		t.Errorf("ps (exit %d) shows no container id for api:\n%s", code, out)
	}
	// A stopped service answers the API's JSON error envelope.
	if code, out := run(t, "stop", "api", "-f", file, "--data", data); code != 0 {
		t.Fatalf("stop api: %d %s", code, out)
	}
	if r := fetch(t, c, "GET", base+"/api/cgi-bin/host", nil, nil); r.status < 500 || !strings.HasPrefix(r.body, `{"status":"error","data":null,"error":`) {
		t.Errorf("a stopped API answered %d %q, want the JSON error envelope", r.status, r.body)
	}
	if code, out := run(t, "start", "api", "-f", file, "--data", data); code != 0 {
		t.Fatalf("start api: %d %s", code, out)
	}
	eventually(t, "api to answer again", time.Minute, func() string {
		if r := fetch(t, c, "GET", base+"/api/cgi-bin/host", nil, nil); r.status != 200 {
			return fmt.Sprintf("%d %s", r.status, r.body)
		}
		return ""
	})

	before := containersOf(t, data)
	if len(before) < 4 {
		t.Fatalf("%d containers for 3 services and the holder: %v", len(before), before)
	}
	p.cmd.Process.Kill()
	<-p.done
	p = up()
	after := containersOf(t, data)
	for _, id := range before {
		for _, now := range after {
			if id == now {
				t.Errorf("container %s of the killed tandem is still there", id[:12])
			}
		}
	}
	if r := fetch(t, c, "GET", base+"/", nil, nil); r.status != 200 {
		t.Errorf("after the restart GET / = %d", r.status)
	}
	p.stop(t, time.Minute)
	if left := containersOf(t, data); len(left) > 0 {
		t.Errorf("containers left after tandem stopped: %v", left)
	}
}

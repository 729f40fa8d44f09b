package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// mixedOverride adds a redis:7 image service to the example stack: Django
// waits for it to be healthy by the image's own HEALTHCHECK (Compose gives
// it none), reaches it by name, and is not healthy until it has.
const mixedOverride = `services:
  cache:
    image: redis:7
  api:
    depends_on:
      cache: { condition: service_healthy }
    healthcheck:
      test: ["CMD-SHELL", "./bin/healthcheck && python3 -c 'import socket; s = socket.create_connection((\"cache\", 6379), 2); s.sendall(b\"PING\\r\\n\"); r = s.recv(16); print(r); assert r.startswith(b\"+PONG\")'"]
`

// Under auto, the example's source services run as processes and a redis:7
// image beside them as a container, in one network namespace: Django
// reaches redis by its service name.
func TestUpAutoRunsImagesBesideTheExample(t *testing.T) {
	needRoot(t)
	needDocker(t, "redis:7")
	example := filepath.Join(repoRoot(t), "examples", "django-nextjs", "docker-compose.yml")
	override := filepath.Join(t.TempDir(), "override.yml")
	writeFile(t, override, mixedOverride)
	data := t.TempDir()
	port := freePort(t)
	p := start(t, "up", "-f", example, "-f", override, "--runtime", "auto", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--data", data)
	p.waitOutput(t, "django-nextjs is up at", firstUp)
	base := fmt.Sprintf("http://localhost:%d", port)
	c := &http.Client{Timeout: 30 * time.Second}
	if r := fetch(t, c, "GET", base+"/", nil, nil); r.status != 200 || !strings.Contains(r.body, seededTitles[0]) {
		t.Errorf("GET / = %d, without the seeded rows", r.status)
	}
	code, out := run(t, "ps", "-f", example, "-f", override, "--data", data)
	if code != 0 {
		t.Fatalf("ps: %d %s", code, out)
	}
	// redis is a container (a container id), healthy by its image's
	// healthcheck; Django a process (a pid).
	if !regexp.MustCompile(`(?m)^cache\s+healthy\s+[0-9a-f]{12}\s`).MatchString(out) || !regexp.MustCompile(`(?m)^api\s+healthy\s+[0-9]+\s`).MatchString(out) {
		t.Errorf("ps does not show cache as a container and api as a process:\n%s", out)
	}
	p.stop(t, firstUp)
	if left := containersOf(t, data); len(left) > 0 {
		t.Errorf("containers left after tandem stopped: %v", left)
	}
}

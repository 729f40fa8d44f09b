package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// .env and env_file reach a running service as they would under docker
// compose: .env feeds interpolation, env_file entries load in order, later
// ones winning, and environment: wins over them all.
func TestUpEnvFileAndDotEnv(t *testing.T) {
	needRoot(t)
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, ".env"), "TAG=from-dotenv\nSHARED=dotenv-only-for-interpolation\n")
	writeFile(t, filepath.Join(dir, "common.env"), "LEVEL=common\nFROM_COMMON=yes\nREF=${TAG}-ref\n# a comment\nQUOTED=\"two words\"\n")
	writeFile(t, filepath.Join(dir, "local.env"), "LEVEL=local\nOVERRIDE=env_file\n")
	writeFile(t, filepath.Join(dir, "web", "dist", "index.html"), "ok\n")
	writeFile(t, filepath.Join(dir, "compose.yml"), `x-tandem:
  routes:
    - { path: /, to: web:8000 }
services:
  web:
    build: ./web
    command: ["sh", "-c", "env > dist/env.txt && exec /usr/bin/python3 -m http.server 8000 --bind 0.0.0.0 --directory dist"]
    env_file:
      - common.env
      - local.env
      - path: absent.env
        required: false
    environment:
      OVERRIDE: environment
      IMAGE_TAG: app:${TAG}
`)
	port := freePort(t)
	p := start(t, "up", "-f", filepath.Join(dir, "compose.yml"), "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--data", t.TempDir())
	p.waitOutput(t, "is up at", time.Minute)
	r := fetch(t, &http.Client{Timeout: 10 * time.Second}, "GET", fmt.Sprintf("http://localhost:%d/env.txt", port), nil, nil)
	if r.status != 200 {
		t.Fatalf("GET /env.txt: %d", r.status)
	}
	env := map[string]string{}
	for _, l := range strings.Split(r.body, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			env[k] = v
		}
	}
	for k, want := range map[string]string{
		"LEVEL":       "local",       // the later env_file wins
		"FROM_COMMON": "yes",         // the earlier one still counts
		"OVERRIDE":    "environment", // environment: wins over env_file
		"IMAGE_TAG":   "app:from-dotenv",
		"REF":         "from-dotenv-ref", // env files interpolate the project's variables
		"QUOTED":      "two words",
	} {
		if env[k] != want {
			t.Errorf("%s = %q, want %q", k, env[k], want)
		}
	}
	// .env is for interpolation only: its variables are not the service's.
	if _, ok := env["SHARED"]; ok {
		t.Error(".env's SHARED reached the service's environment")
	}
}

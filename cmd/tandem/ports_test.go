package main

import (
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ports: publishes a service's port on the host, as docker compose does,
// while the service itself listens only inside its instance.
func TestUpPublishesPorts(t *testing.T) {
	needRoot(t)
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir := t.TempDir()
	host := freePort(t)
	writeFile(t, filepath.Join(dir, "web", "dist", "index.html"), "<h1>published</h1>\n")
	writeFile(t, filepath.Join(dir, "compose.yml"), fmt.Sprintf(`x-tandem:
  routes:
    - { path: /, to: web:8000 }
services:
  web:
    build: ./web
    command: /usr/bin/python3 -m http.server 8000 --bind 0.0.0.0 --directory dist
    ports:
      - "127.0.0.1:%d:8000"
`, host))
	p := start(t, "up", "-f", filepath.Join(dir, "compose.yml"), "--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--data", t.TempDir())
	p.waitOutput(t, "is up at", time.Minute)
	if out := p.out.String(); !strings.Contains(out, fmt.Sprintf("published 127.0.0.1:%d → web:8000", host)) {
		t.Errorf("tandem up does not say what it published:\n%s", out)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	for i := 0; i < 3; i++ {
		r := fetch(t, c, "GET", fmt.Sprintf("http://127.0.0.1:%d/", host), nil, nil)
		if r.status != 200 || !strings.Contains(r.body, "published") {
			t.Fatalf("GET on the published port: %d %q", r.status, r.body)
		}
	}
	p.stop(t, 30*time.Second)
	if conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", host)); err == nil {
		conn.Close()
		t.Error("the published port still answers after tandem up stopped")
	}

	// A port another program holds stops tandem up before anything starts.
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", host))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	code, out := run(t, "up", "-f", filepath.Join(dir, "compose.yml"), "--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--data", t.TempDir())
	if want := fmt.Sprintf(`compose.yml:9: service "web" publishes port %d:`, host); code == 0 || !strings.Contains(out, want) {
		t.Errorf("exit %d, output lacks %q:\n%s", code, want, out)
	}
	if strings.Contains(out, "web |") {
		t.Errorf("web started although its port was taken:\n%s", out)
	}
}

package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Next.js dev mode through the gateway: its hot reload is a WebSocket at
// /_next/webpack-hmr, and an edited page reaches the browser through it.
func TestNextDevHotReloadThroughGateway(t *testing.T) {
	needRoot(t)
	// A copy of the example, so next dev's .next does not touch the
	// production build other tests run from.
	src := filepath.Join(repoRoot(t), "examples", "django-nextjs")
	dir := t.TempDir()
	for _, p := range []string{"docker-compose.yml", "backend", "frontend"} {
		cmd := exec.Command("cp", "-a", filepath.Join(src, p), dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("copy %s: %v %s", p, err, out)
		}
	}
	os.RemoveAll(filepath.Join(dir, "frontend", ".next"))
	os.RemoveAll(filepath.Join(dir, "frontend", "node_modules"))
	// A second Compose file turns web into the dev server, as a developer's
	// override file would.
	writeFile(t, filepath.Join(dir, "dev.yml"), `services:
  web:
    command: npm run dev
    x-tandem:
      build: npm ci
`)
	port := freePort(t)
	p := start(t, "up", "-f", filepath.Join(dir, "docker-compose.yml"), "-f", filepath.Join(dir, "dev.yml"),
		"--listen", fmt.Sprintf("127.0.0.1:%d", port), "--data", filepath.Join(dir, ".tandem"))
	p.waitOutput(t, "django-nextjs is up at", firstUp)
	base := fmt.Sprintf("http://localhost:%d", port)
	client := &http.Client{Timeout: 2 * time.Minute}

	// The first request compiles the page.
	eventually(t, "dev page", 3*time.Minute, func() string {
		if r := fetch(t, client, "GET", base+"/", nil, nil); r.status != 200 || !strings.Contains(r.body, seededTitles[0]) {
			return fmt.Sprintf("GET / = %d", r.status)
		}
		return ""
	})

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, fmt.Sprintf("ws://localhost:%d/_next/webpack-hmr", port), nil)
	if err != nil {
		t.Fatalf("hot reload socket through the gateway: %v (response %v)", err, resp)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(1 << 22)
	messages := make(chan string, 64)
	go func() {
		for {
			_, b, err := ws.Read(ctx)
			if err != nil {
				close(messages)
				return
			}
			messages <- string(b)
		}
	}()

	// Edit the page: the dev server rebuilds and says so on the socket.
	page := filepath.Join(dir, "frontend", "app", "page.js")
	b, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	const marker = "Edited while tandem ran"
	edited := strings.Replace(string(b), "<h1>Articles</h1>", `<h1>Articles</h1><p id="hot-edit">`+marker+`</p>`, 1)
	if edited == string(b) {
		t.Fatal("page.js has no <h1>Articles</h1> to edit")
	}
	time.Sleep(time.Second) // let the watcher settle after the first compile
	if err := os.WriteFile(page, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	var seen []string
	rebuilt := false
	for !rebuilt {
		select {
		case m, ok := <-messages:
			if !ok {
				t.Fatalf("socket closed; messages: %q", seen)
			}
			seen = append(seen, m)
			rebuilt = strings.Contains(m, `"action":"built"`) || strings.Contains(m, `"action":"sync"`) || strings.Contains(m, "serverComponentChanges")
		case <-ctx.Done():
			t.Fatalf("no rebuild message on the hot reload socket; messages: %q", seen)
		}
	}
	eventually(t, "edited page", time.Minute, func() string {
		if r := fetch(t, client, "GET", base+"/", nil, nil); !strings.Contains(r.body, marker) {
			return fmt.Sprintf("GET / = %d without the edit", r.status)
		}
		return ""
	})
}

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// napStack is a small stack, so that the test of sleep is quick: web lists
// the notes in its database and adds one on a POST.
const napStack = `x-tandem:
  routes:
    - { path: /, to: web:8000 }
services:
  db:
    image: postgres:16
    environment: { POSTGRES_USER: app, POSTGRES_PASSWORD: pw, POSTGRES_DB: notes }
    healthcheck: { test: ["CMD-SHELL", "pg_isready -U app -d notes"], interval: 1s, retries: 60 }
  web:
    build: ./web
    command: ["/usr/bin/python3", "server.py"]
    environment: { PGPASSWORD: pw }
    depends_on: { db: { condition: service_healthy } }
    x-tandem:
      seed: ["psql -v ON_ERROR_STOP=1 -h db -U app -d notes -c 'create table note (text text)'"]
`

const napServer = `import http.server, subprocess
def psql(sql):
    return subprocess.run(["psql", "-h", "db", "-U", "app", "-d", "notes", "-tAc", sql], capture_output=True, text=True, check=True).stdout.strip()
class H(http.server.BaseHTTPRequestHandler):
    def answer(self, body):
        body = body.encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def do_GET(self):
        if self.path == "/ws":
            # A switched protocol that stays open, quiet, until the client leaves.
            self.send_response(101); self.send_header("Upgrade", "websocket"); self.send_header("Connection", "Upgrade"); self.end_headers()
            self.wfile.flush()
            while self.rfile.read(1):
                pass
            self.close_connection = True
            return
        self.answer("notes: " + psql("select coalesce(string_agg(text, ',' order by text), '') from note"))
    def do_POST(self):
        text = self.rfile.read(int(self.headers["Content-Length"])).decode()
        psql("insert into note values ('" + text.replace("'", "''") + "')")
        self.answer("added")
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("0.0.0.0", 8000), H).serve_forever()
`

// An idle preview sleeps, nothing of it running and its files kept; a
// request through the gateway wakes it: a browser gets the waking page and
// then the preview, an API client is held until it answers, and the data
// written before it slept is there.
func TestServeWake(t *testing.T) {
	needRoot(t)
	repo := filepath.Join(t.TempDir(), "notes")
	writeFile(t, filepath.Join(repo, "compose.yml"), napStack)
	writeFile(t, filepath.Join(repo, "web", "server.py"), napServer)
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"commit", "-q", "-m", "notes"}} {
		gitIn(t, repo, args...)
	}
	s := configuredServer(t, fmt.Sprintf(`repos:
  - name: notes
    url: %s
    compose: compose.yml
    access: public
    sleep_after: 2s
`, repo))
	s.start()

	if code, out := s.cli("create", "nap", "--repo", "notes"); code != 0 {
		t.Fatalf("create: %d %s", code, out)
	}
	// Held if it fell asleep already: not a browser's page.
	if r := s.send("POST", "/", "written before it slept", nil, time.Minute); r.status != 200 || r.body != "added" {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	asleep := func() string {
		code, out := s.cli("show", "nap", "--json")
		var v struct {
			Asleep bool `json:"asleep"`
		}
		if json.Unmarshal([]byte(out), &v); code != 0 || !v.Asleep {
			return fmt.Sprintf("%d %.200s", code, out)
		}
		return ""
	}
	eventually(t, "nap to sleep", time.Minute, asleep)
	if ps := processesUnder(filepath.Join(s.dir, "data", "previews", "nap")); len(ps) > 0 {
		t.Errorf("processes of a sleeping preview run: %v", ps)
	}
	if code, out := s.cli("list"); code != 0 || !strings.Contains(out, "ready (asleep)") {
		t.Errorf("list: %s", out)
	}

	// A browser: the waking page at once, then the preview.
	html := map[string]string{"Accept": "text/html,application/xhtml+xml"}
	began := time.Now()
	r := s.send("GET", "/", "", html, time.Minute)
	if r.status != 503 || !strings.Contains(r.body, "Waking nap") || !strings.Contains(r.body, `http-equiv="refresh"`) || r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("a browser's first request to a sleeping preview: %d %.300s", r.status, r.body)
	}
	eventually(t, "nap to wake", time.Minute, func() string {
		if r := s.send("GET", "/", "", html, time.Minute); r.status != 200 || r.body != "notes: written before it slept" {
			return fmt.Sprintf("%d %.100s", r.status, r.body)
		}
		return ""
	})
	t.Logf("a browser's wake to the preview's page: %s", time.Since(began).Round(time.Millisecond))
	if len(processesUnder(filepath.Join(s.dir, "data", "previews", "nap"))) == 0 {
		t.Error("no process of the woken preview")
	}

	// An open WebSocket is use, however quiet: no sleep until it closes.
	ws, err := net.Dial("tcp", s.gateway)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(ws, "GET /ws HTTP/1.1\r\nHost: nap.previews.example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	ws.SetReadDeadline(time.Now().Add(time.Minute))
	if line, err := bufio.NewReader(ws).ReadString('\n'); err != nil || !strings.Contains(line, " 101 ") {
		t.Fatalf("the WebSocket's answer: %q %v", line, err)
	}
	time.Sleep(5 * time.Second) // sleep_after is 2s
	if asleep() == "" {
		t.Error("the preview fell asleep while a WebSocket to it was open")
	}
	ws.Close()

	// An API client: held until it answers.
	eventually(t, "nap to sleep again", time.Minute, asleep)
	began = time.Now()
	if r := s.send("GET", "/", "", map[string]string{"Accept": "application/json"}, time.Minute); r.status != 200 || r.body != "notes: written before it slept" {
		t.Errorf("an API client's request to a sleeping preview: %d %.300s", r.status, r.body)
	}
	t.Logf("an API client's request held while it woke: %s", time.Since(began).Round(time.Millisecond))

	resp, err := s.apiGet("/v1/previews/nap/events")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if n, m := strings.Count(string(b), `"kind":"asleep"`), strings.Count(string(b), `"kind":"awake"`); n < 2 || m < 2 {
		t.Errorf("%d asleep and %d awake events: %.2000s", n, m, b)
	}
}

// send asks the gateway for path on the nap preview's host.
func (s *server) send(method, path, body string, header map[string]string, timeout time.Duration) response {
	s.t.Helper()
	req, _ := http.NewRequest(method, "http://"+s.gateway+path, strings.NewReader(body))
	req.Host = "nap.previews.example.com"
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: timeout}).Do(req)
	if err != nil {
		return response{body: err.Error()}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(b)}
}

// processesUnder are the processes whose command line or working directory
// is under dir.
func processesUnder(dir string) []string {
	var found []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		cwd, _ := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if strings.Contains(string(cmdline)+" "+cwd, dir+"/") {
			found = append(found, e.Name()+" "+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	return found
}

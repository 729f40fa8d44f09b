package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tandem-dev/tandem/sqlite"
)

// smallRepo is a repository with a small stack that has all a preview
// keeps on disk: a work tree, a build (cached), a seeded database (a
// snapshot), service logs and a generated secret.
func smallRepo(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "small")
	writeFile(t, filepath.Join(dir, "docker-compose.yml"), `x-tandem:
  routes:
    - { path: /, to: web:8000 }
  preview:
    secrets: [APP_SECRET]
services:
  db:
    image: postgres:16
    environment: { POSTGRES_USER: app, POSTGRES_PASSWORD: pw, POSTGRES_DB: app }
    healthcheck: { test: ["CMD-SHELL", "pg_isready -U app -d app"], interval: 1s, retries: 60 }
  web:
    build: ./web
    command: ["/usr/bin/python3", "-m", "http.server", "8000", "--bind", "0.0.0.0", "--directory", "out"]
    expose: ["8000"]
    environment: { APP_SECRET: "${APP_SECRET}", PGPASSWORD: pw }
    depends_on: { db: { condition: service_healthy } }
    x-tandem:
      build: mkdir -p out && cp index.html out/ && echo built
      seed: ["psql -v ON_ERROR_STOP=1 -h db -U app -d app -c 'create table seeded (x int)'"]
`)
	writeFile(t, filepath.Join(dir, "web", "index.html"), "<h1>small</h1>\n")
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"commit", "-q", "-m", "small"}} {
		gitIn(t, dir, args...)
	}
	return dir
}

// asNobody runs python3 with script as the unprivileged user nobody, with
// stdin, and returns what it printed.
func asNobody(t *testing.T, script, stdin string) string {
	t.Helper()
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	var uid, gid uint32
	fmt.Sscan(u.Uid, &uid)
	fmt.Sscan(u.Gid, &gid)
	cmd := exec.Command("/usr/bin/python3", "-c", script)
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	cmd.Stdin = strings.NewReader(stdin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python as nobody: %v\n%s", err, out)
	}
	return string(out)
}

// opener tries each path it reads on stdin, a directory by listing it and
// a file by reading a byte, and prints those it could.
const opener = `import os, sys
for p in sys.stdin.read().split("\n"):
    if not p:
        continue
    try:
        if os.path.isdir(p):
            os.listdir(p)
        else:
            open(p, "rb").read(1)
        print("READ " + p)
    except OSError:
        pass
`

// After tandem serve made a preview, another user of the machine reaches
// none of it: not the state database and its secrets, not a log, a work
// tree, a build or a database snapshot, not the API socket; and the TCP
// API refuses whoever does not have the token.
func TestServeAnotherUserReachesNothing(t *testing.T) {
	needRoot(t)
	s := newServer(t, smallRepo(t))
	if code, out := s.cli("create", "pr-1", "--repo", "shop"); code != 0 {
		t.Fatalf("create: %d %s", code, out)
	}
	if r := s.get("pr-1", "/", nil); r.status != 200 || !strings.Contains(r.body, "small") {
		t.Fatalf("pr-1: %d %s", r.status, r.body)
	}
	data := filepath.Join(s.dir, "data")
	// The test's own directories are 0700: open them, so that what keeps
	// nobody out is tandem's doing, and check that it is so.
	for _, d := range []string{filepath.Dir(s.dir), s.dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out := asNobody(t, opener, s.dir+"\n"+filepath.Join(s.dir, "tandem.yaml")); strings.Count(out, "READ") != 2 {
		t.Fatalf("nobody cannot reach the server's directory, so the test proves nothing: %q", out)
	}

	t.Run("modes", func(t *testing.T) {
		for path, want := range map[string]os.FileMode{
			data: fs.ModeDir | 0o700, filepath.Join(data, "logs"): fs.ModeDir | 0o700, filepath.Join(data, "previews"): fs.ModeDir | 0o700,
			filepath.Join(data, "cache"): fs.ModeDir | 0o700, filepath.Join(data, "repos"): fs.ModeDir | 0o700,
			filepath.Join(data, "tandem.db"): 0o600, filepath.Join(data, "tandem.db-wal"): 0o600,
			filepath.Join(data, "tandem.db-shm"): 0o600, filepath.Join(data, "api-token"): 0o600,
			filepath.Join(data, "api.sock"): fs.ModeSocket | 0o600, filepath.Join(data, "logs", "tandem.log"): 0o600,
		} {
			fi, err := os.Stat(path)
			if err != nil {
				t.Errorf("%v", err)
				continue
			}
			if got := fi.Mode() & (fs.ModeType | fs.ModePerm); got != want {
				t.Errorf("%s: %v, want %v", path, got, want)
			}
			if st := fi.Sys().(*syscall.Stat_t); st.Uid != 0 {
				t.Errorf("%s is owned by uid %d", path, st.Uid)
			}
		}
	})

	t.Run("nobody reads no file and lists no directory", func(t *testing.T) {
		var paths []string
		kinds := map[string]bool{}
		filepath.WalkDir(data, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type()&fs.ModeSocket == 0 {
				paths = append(paths, p)
				for _, k := range []string{"tandem.db", "api-token", "/logs/", "/src/", "/cache/builds/", "/cache/snapshots/", "/repos/"} {
					if strings.Contains(p, k) {
						kinds[k] = true
					}
				}
			}
			return nil
		})
		if len(kinds) != 7 {
			t.Fatalf("the data directory lacks some of what the test is about: %v", kinds)
		}
		if out := asNobody(t, opener, strings.Join(paths, "\n")); out != "" {
			t.Errorf("nobody could read %d of %d paths:\n%s", strings.Count(out, "\n"), len(paths), lastLines(out, 20))
		}
		// The files themselves too, were the directory opened to them.
		for _, f := range []string{"tandem.db", "tandem.db-wal", "tandem.db-shm", "api-token"} {
			if fi, err := os.Stat(filepath.Join(data, f)); err == nil && fi.Mode().Perm()&0o077 != 0 {
				t.Errorf("%s: %v", f, fi.Mode())
			}
		}
	})

	t.Run("nobody cannot connect to api.sock", func(t *testing.T) {
		out := asNobody(t, `import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.stdin.read())
    print("CONNECTED")
except OSError as e:
    print(type(e).__name__)
`, filepath.Join(data, "api.sock"))
		if strings.TrimSpace(out) != "PermissionError" {
			t.Errorf("connect as nobody: %s", out)
		}
	})

	t.Run("the TCP API refuses requests without the token", func(t *testing.T) {
		out := asNobody(t, `import sys, urllib.request, urllib.error
url = sys.stdin.read()
for auth in [None, "Bearer 0000", "Basic x"]:
    req = urllib.request.Request(url)
    if auth:
        req.add_header("Authorization", auth)
    try:
        r = urllib.request.urlopen(req)
        print(r.status, r.read()[:200])
    except urllib.error.HTTPError as e:
        print(e.code, e.read().decode().strip())
`, s.api+"/v1/previews")
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if !strings.HasPrefix(l, `401 {"code":"unauthorized"`) {
				t.Errorf("as nobody: %s", l)
			}
		}
		if strings.Count(out, "401") != 3 {
			t.Errorf("as nobody:\n%s", out)
		}
		// With the token: the CLI (which reads it with --config) and curl-like clients.
		if code, out := s.cli("list"); code != 0 || !strings.Contains(out, "pr-1") {
			t.Errorf("with the token: %d %s", code, out)
		}
		resp, err := s.apiGet("/v1/previews/pr-1")
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("with the token: %v %v", resp, err)
		} else {
			resp.Body.Close()
		}
		// Without: the CLI says how to give it.
		code, out := run(t, "preview", "list", "--server", s.api)
		if code != 1 || !strings.Contains(out, "this API needs a token") || !strings.Contains(out, "--token-file") {
			t.Errorf("without the token: %d %s", code, out)
		}
		token, _ := os.ReadFile(filepath.Join(data, "api-token"))
		t.Setenv("TANDEM_TOKEN", strings.TrimSpace(string(token)))
		if code, out := run(t, "preview", "list", "--server", s.api); code != 0 || !strings.Contains(out, "pr-1") {
			t.Errorf("TANDEM_TOKEN: %d %s", code, out)
		}
	})

	t.Run("secrets are on disk in the state database only", func(t *testing.T) {
		db, err := sqlite.Open(filepath.Join(data, "tandem.db"))
		if err != nil {
			t.Fatal(err)
		}
		secrets, err := db.Secrets(t.Context(), "pr-1")
		db.Close()
		if err != nil || secrets["APP_SECRET"] == "" {
			t.Fatalf("secrets %v %v", secrets, err)
		}
		token, _ := os.ReadFile(filepath.Join(data, "api-token"))
		needles := map[string][]byte{"APP_SECRET": []byte(secrets["APP_SECRET"]), "the API token": bytes.TrimSpace(token)}
		filepath.WalkDir(data, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() || strings.HasPrefix(d.Name(), "tandem.db") || d.Name() == "api-token" {
				return nil
			}
			b, _ := os.ReadFile(p)
			for what, v := range needles {
				if bytes.Contains(b, v) {
					t.Errorf("%s is in %s", what, p)
				}
			}
			return nil
		})
		for what, v := range needles {
			if strings.Contains(s.proc.out.String(), string(v)) {
				t.Errorf("%s is in tandem's output", what)
			}
		}
	})
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-dev/tandem/sqlite"
)

// exampleRepo makes a team's repository of the example stack: main, a
// branch that changes a page's text, and one whose migration adds a row.
func exampleRepo(t testing.TB) string {
	t.Helper()
	root := repoRoot(t)
	dir := filepath.Join(t.TempDir(), "shop")
	files, err := exec.Command("git", "-C", root, "ls-files", "examples/django-nextjs").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(string(files)) {
		rel := strings.TrimPrefix(f, "examples/django-nextjs/")
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Stat(filepath.Join(root, f))
		os.MkdirAll(filepath.Join(dir, filepath.Dir(rel)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, rel), b, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	git := func(args ...string) {
		t.Helper()
		gitIn(t, dir, args...)
	}
	git("init", "-q", "-b", "main")
	git("add", "-A")
	git("commit", "-q", "-m", "the example")

	git("checkout", "-q", "-b", "new-text")
	page := filepath.Join(dir, "frontend", "app", "page.js")
	b, _ := os.ReadFile(page)
	os.WriteFile(page, []byte(strings.Replace(string(b), "<h1>Articles</h1>", "<h1>Articles, edited in a pull request</h1>", 1)), 0o644)
	git("commit", "-q", "-am", "change a page's text")

	git("checkout", "-q", "main")
	git("checkout", "-q", "-b", "new-row")
	writeFile(t, filepath.Join(dir, "backend", "catalog", "migrations", "0002_preview_row.py"), `from django.db import migrations
from django.utils import timezone


def add(apps, schema_editor):
    Article = apps.get_model("catalog", "Article")
    Article.objects.get_or_create(slug="added-by-a-migration", defaults=dict(
        title="Added by a migration", summary="A row this pull request's migration adds.",
        body="Only in this preview's database.", category="data", tags="migrations",
        published_at=timezone.now()))


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]
    operations = [migrations.RunPython(add, migrations.RunPython.noop)]
`)
	git("add", "-A")
	git("commit", "-q", "-m", "add a migration with a row")

	git("checkout", "-q", "main")
	git("checkout", "-q", "-b", "slow")
	os.WriteFile(page, []byte(strings.Replace(string(b), "<h1>Articles</h1>", "<h1>Articles, built while tandem was killed</h1>", 1)), 0o644)
	git("commit", "-q", "-am", "another page change, to build")
	git("checkout", "-q", "main")
	return dir
}

// server is a tandem serve in a process of its own.
type server struct {
	t       testing.TB
	dir     string // holds tandem.yaml and data/
	gateway string // host:port
	api     string // http://host:port
	proc    *tandemProc
	cold    bool // builds its outputs itself, not from the package's build cache (buildcache_test.go)
}

func newServer(t testing.TB, repo string) *server { return newServerWith(t, repo, false) }

// newColdServer is newServer for tests of building: its outputs are not built before.
func newColdServer(t testing.TB, repo string) *server { return newServerWith(t, repo, true) }

func newServerWith(t testing.TB, repo string, cold bool) *server {
	dir := t.TempDir()
	s := &server{t: t, dir: dir, gateway: fmt.Sprintf("127.0.0.1:%d", freePort(t)), api: fmt.Sprintf("127.0.0.1:%d", freePort(t)), cold: cold}
	writeFile(t, filepath.Join(dir, "tandem.yaml"), fmt.Sprintf(`data: data
domain: previews.example.com
listen: %s
api: %s
parallelism: 2
repos:
  - name: shop
    url: %s
    compose: docker-compose.yml
    access: public # these tests are about previews; access_test.go is about who may open them
  - name: napping # the same code, its previews asleep after 2s without a request (bench_previews_test.go)
    url: %s
    compose: docker-compose.yml
    access: public
    sleep_after: 2s
`, s.gateway, s.api, repo, repo))
	s.api = "http://" + s.api
	s.start()
	return s
}

// configuredServer is a server, not started yet, whose tandem.yaml is its
// data directory, domain, listen and api lines, then rest (runtime:,
// repos:...).
func configuredServer(t *testing.T, rest string) *server {
	dir := t.TempDir()
	s := &server{t: t, dir: dir, gateway: fmt.Sprintf("127.0.0.1:%d", freePort(t)), api: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	writeFile(t, filepath.Join(dir, "tandem.yaml"), fmt.Sprintf("data: data\ndomain: previews.example.com\nlisten: %s\napi: %s\n", s.gateway, s.api)+rest)
	s.api = "http://" + s.api
	return s
}

func (s *server) start() {
	if s.proc == nil {
		s.shareBuilds()
	}
	s.proc = start(s.t, "serve", "--config", filepath.Join(s.dir, "tandem.yaml"))
	s.proc.waitOutput(s.t, "tandem: serving previews", time.Minute)
}

// pollDuring asks the gateway for paths of preview name again and again
// while update runs, and for 3 s after it (past the replaced instance's
// drain), and returns how many requests it made and those not answered 200.
func (s *server) pollDuring(name string, paths []string, update func()) (n int, failures []string) {
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, path := range paths {
				if r := s.get(name, path, nil); r.status != 200 {
					failures = append(failures, fmt.Sprintf("%s %d %.100s", path, r.status, r.body))
				}
				n++
			}
		}
	}()
	update()
	time.Sleep(3 * time.Second)
	close(stop)
	<-done
	return n, failures
}

// cli runs tandem preview against the TCP API, with the token read from
// the server's data directory (--config).
func (s *server) cli(args ...string) (int, string) {
	return run(s.t, append(append([]string{"preview"}, args...), "--server", s.api, "--config", filepath.Join(s.dir, "tandem.yaml"))...)
}

// apiGet asks the TCP API for path with the server's token.
func (s *server) apiGet(path string) (*http.Response, error) {
	token, err := os.ReadFile(filepath.Join(s.dir, "data", "api-token"))
	if err != nil {
		return nil, err
	}
	req, _ := http.NewRequest("GET", s.api+path, nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	return http.DefaultClient.Do(req)
}

// get asks the gateway for path on a preview's host.
func (s *server) get(name, path string, header map[string]string) response {
	s.t.Helper()
	req, _ := http.NewRequest("GET", "http://"+s.gateway+path, nil)
	req.Host = name + ".previews.example.com"
	for k, v := range header {
		req.Header.Set(k, v)
	}
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return response{status: 0, body: err.Error()}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(b)}
}

func (s *server) state(name string) string {
	code, out := s.cli("show", name, "--json")
	if code != 0 {
		return "absent"
	}
	var v struct {
		State string `json:"state"`
		Step  string `json:"step"`
	}
	json.Unmarshal([]byte(out), &v)
	return v.State + " " + v.Step
}

func TestServePreviews(t *testing.T) {
	needRoot(t)
	repo := exampleRepo(t)
	// Warm: pr-2's frontend is main's; pr-1's and the slow branch's are
	// built here (the kill -9 below lands during a real next build).
	s := newServer(t, repo)

	// Two previews at two commits, made at once.
	var wg sync.WaitGroup
	for name, ref := range map[string]string{"pr-1": "new-text", "pr-2": "new-row"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, out := s.cli("create", name, "--repo", "shop", "--ref", ref, "--pr", strings.TrimPrefix(name, "pr-"))
			if code != 0 || !strings.Contains(out, name+" is ready in") {
				t.Errorf("create %s: %d\n%s", name, code, out)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	t.Run("each commit at its own host, with its own database", func(t *testing.T) {
		p1, p2 := s.get("pr-1", "/", nil), s.get("pr-2", "/", nil)
		if p1.status != 200 || !strings.Contains(p1.body, "Articles, edited in a pull request") {
			t.Errorf("pr-1 /: %d without its text", p1.status)
		}
		if p2.status != 200 || strings.Contains(p2.body, "edited in a pull request") || !strings.Contains(p2.body, "Added by a migration") {
			t.Errorf("pr-2 /: %d", p2.status)
		}
		if strings.Contains(p1.body, "Added by a migration") {
			t.Error("pr-1's database has pr-2's row")
		}
		// Django allows the preview's host: ALLOWED_HOSTS=${PREVIEW_HOST},api.
		if r := s.get("pr-2", "/api/echo/", nil); r.status != 200 || !strings.Contains(r.body, `"host":"pr-2.previews.example.com"`) {
			t.Errorf("pr-2 echo: %d %s", r.status, r.body)
		}
		if r := s.get("pr-9", "/", nil); r.status != 404 || strings.Contains(r.body, "pr-1") || strings.Contains(r.body, "pr-2") {
			t.Errorf("unknown preview: %d %q", r.status, r.body)
		}
	})

	t.Run("a browser on the gateway's own port: ALLOWED_HOSTS as the article writes it, and a CSRF login", func(t *testing.T) {
		sessionLogin(t, s.previewURL("pr-1"), s.dialGateway)
	})

	t.Run("secrets appear in no API response, CLI output or log", func(t *testing.T) {
		db, err := sqlite.Open(filepath.Join(s.dir, "data", "tandem.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var values []string
		for _, name := range []string{"pr-1", "pr-2"} {
			secrets, err := db.Secrets(context.Background(), name)
			if err != nil || len(secrets) != 2 {
				t.Fatalf("%s secrets: %v %v", name, secrets, err)
			}
			for _, v := range secrets {
				values = append(values, v)
			}
		}
		var seen []string
		for _, args := range [][]string{{"list"}, {"list", "--json"}, {"show", "pr-1"}, {"show", "pr-1", "--json"}} {
			_, out := s.cli(args...)
			seen = append(seen, out)
		}
		for _, path := range []string{"/v1/previews", "/v1/previews/pr-1", "/v1/previews/pr-1/events", "/v1/previews/pr-2/events"} {
			resp, err := s.apiGet(path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			seen = append(seen, string(b))
		}
		seen = append(seen, s.proc.out.String())
		filepath.WalkDir(filepath.Join(s.dir, "data"), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, ".log") {
				b, _ := os.ReadFile(p)
				seen = append(seen, string(b))
			}
			return nil
		})
		for _, text := range seen {
			for _, v := range values {
				if strings.Contains(text, v) {
					t.Fatalf("a secret shows in: %.200s", text)
				}
			}
		}
	})

	t.Run("an update keeps answering 200 throughout", func(t *testing.T) {
		var code int
		var out string
		n, failures := s.pollDuring("pr-1", []string{"/", "/api/articles/"}, func() {
			code, out = s.cli("create", "pr-1", "--repo", "shop", "--ref", "main")
		})
		if code != 0 {
			t.Fatalf("update: %d %s", code, out)
		}
		if n < 4 || len(failures) > 0 {
			t.Errorf("%d requests during the update, failed: %v", n, failures)
		}
		if r := s.get("pr-1", "/", nil); strings.Contains(r.body, "edited in a pull request") {
			t.Error("still the old commit after the update")
		}
	})

	t.Run("destroying one leaves the other serving", func(t *testing.T) {
		if code, out := s.cli("destroy", "pr-2"); code != 0 || !strings.Contains(out, "pr-2 destroyed") {
			t.Fatalf("destroy: %d %s", code, out)
		}
		if r := s.get("pr-2", "/", nil); r.status != 404 {
			t.Errorf("pr-2 after destroy: %d", r.status)
		}
		if r := s.get("pr-1", "/", nil); r.status != 200 {
			t.Errorf("pr-1 after pr-2's destroy: %d", r.status)
		}
		if _, err := os.Stat(filepath.Join(s.dir, "data", "previews", "pr-2")); !os.IsNotExist(err) {
			t.Error("pr-2's files are left")
		}
	})

	t.Run("kill -9 mid-create: nothing orphaned, ready previews come back as they were", func(t *testing.T) {
		db, _ := sqlite.Open(filepath.Join(s.dir, "data", "tandem.db"))
		before, _ := db.Secrets(context.Background(), "pr-1")
		db.Close()
		// Data written into pr-1's database must survive.
		token := s.token(t)

		if code, out := s.cli("create", "pr-3", "--repo", "shop", "--ref", "slow", "--detach"); code != 0 {
			t.Fatalf("create pr-3: %d %s", code, out)
		}
		eventually(t, "pr-3 to build", 2*time.Minute, func() string {
			if st := s.state("pr-3"); st != "building build web" {
				return st
			}
			return ""
		})
		time.Sleep(3 * time.Second) // well into npm and next
		procs := descendants(s.proc.cmd.Process.Pid)
		s.proc.cmd.Process.Kill()
		<-s.proc.done
		eventually(t, "every process of the killed server to end", 15*time.Second, func() string {
			for pid, started := range procs {
				if started != "" && startTime(pid) == started {
					cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
					return fmt.Sprintf("pid %d still runs: %s", pid, strings.ReplaceAll(string(cmdline), "\x00", " "))
				}
			}
			return ""
		})

		s.start()
		if st := s.state("pr-1"); st != "ready " {
			t.Errorf("pr-1 after the restart: %q", st)
		}
		if r := s.get("pr-1", "/api/me/", map[string]string{"Authorization": "Token " + token}); r.status != 200 || !strings.Contains(r.body, `"demo"`) {
			t.Errorf("pr-1's data after the restart: %d %s", r.status, r.body)
		}
		db, _ = sqlite.Open(filepath.Join(s.dir, "data", "tandem.db"))
		after, _ := db.Secrets(context.Background(), "pr-1")
		db.Close()
		if fmt.Sprint(before) != fmt.Sprint(after) {
			t.Error("pr-1's secrets changed")
		}
		// The half-made preview is made again, to the end.
		eventually(t, "pr-3 to be made again", 4*time.Minute, func() string {
			if st := s.state("pr-3"); st != "ready " {
				return st
			}
			return ""
		})
		if r := s.get("pr-3", "/", nil); !strings.Contains(r.body, "built while tandem was killed") {
			t.Errorf("pr-3: %d", r.status)
		}
		// No work tree or generation but those that serve.
		gens, _ := filepath.Glob(filepath.Join(s.dir, "data", "previews", "*", "*"))
		if len(gens) != 2 {
			t.Errorf("generations on disk: %v", gens)
		}
		out, _ := exec.Command("git", "-C", filepath.Join(s.dir, "data", "repos", "shop.git"), "worktree", "list").Output()
		if n := strings.Count(strings.TrimSpace(string(out)), "\n"); n != 2 {
			t.Errorf("work trees:\n%s", out)
		}
	})

	t.Run("TTL expiry removes a preview and everything it owned", func(t *testing.T) {
		if code, out := s.cli("create", "pr-ttl", "--repo", "shop", "--ttl", "6s"); code != 0 {
			t.Fatalf("create: %d %s", code, out)
		}
		if r := s.get("pr-ttl", "/", nil); r.status != 200 {
			t.Fatalf("pr-ttl: %d", r.status)
		}
		eventually(t, "expiry", time.Minute, func() string {
			if st := s.state("pr-ttl"); st != "absent" {
				return st
			}
			return ""
		})
		if r := s.get("pr-ttl", "/", nil); r.status != 404 {
			t.Errorf("pr-ttl after expiry: %d", r.status)
		}
		if _, err := os.Stat(filepath.Join(s.dir, "data", "previews", "pr-ttl")); !os.IsNotExist(err) {
			t.Error("files left after expiry")
		}
	})

	t.Run("SIGTERM stops every instance", func(t *testing.T) {
		procs := descendants(s.proc.cmd.Process.Pid)
		s.proc.stop(t, time.Minute)
		for pid, started := range procs {
			if started != "" && startTime(pid) == started {
				t.Errorf("pid %d still runs", pid)
			}
		}
	})
}

// token logs the demo user in on pr-1 and returns its API token: a row in
// pr-1's database.
func (s *server) token(t testing.TB) string { return s.tokenOn(t, "pr-1") }

// tokenOn logs the demo user in on preview name and returns its API token.
func (s *server) tokenOn(t testing.TB, name string) string {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+s.gateway+"/api/auth/token/", strings.NewReader(`{"username":"demo","password":"demo-password"}`))
	req.Host = name + ".previews.example.com"
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct {
		Data struct {
			Token string `json:"token"`
		} `json:"data"`
	}
	b, _ := io.ReadAll(resp.Body)
	json.Unmarshal(b, &e)
	if e.Data.Token == "" {
		t.Fatalf("no token (%d %.300s)", resp.StatusCode, b)
	}
	return e.Data.Token
}

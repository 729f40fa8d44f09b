package preview

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/git"
	"github.com/tandem-dev/tandem/process"
	"github.com/tandem-dev/tandem/sqlite"
)

func TestMain(m *testing.M) {
	process.Init()
	os.Exit(m.Run())
}

// The test stack: web serves a page that shows the commit's text and the
// titles in its database; db is seeded from the repository's migrations.
const stackFile = `x-tandem:
  routes:
    - { path: /, to: web:8000 }
  preview:
    secrets: [SECRET_KEY]
services:
  db:
    image: postgres:16
    environment: { POSTGRES_USER: app, POSTGRES_PASSWORD: pw, POSTGRES_DB: shop }
    healthcheck: { test: ["CMD-SHELL", "pg_isready -U app -d shop"], interval: 1s, retries: 30 }
  web:
    build: ./web
    command: ["/usr/bin/python3", "server.py"]
    environment:
      PGPASSWORD: pw
      SECRET_KEY: ${SECRET_KEY}
      HOST_SEEN: ${PREVIEW_HOST}
      NEXT_PUBLIC_HOST: ${PREVIEW_HOST}
      SHA: ${GIT_SHA}
    depends_on: { db: { condition: service_healthy } }
    x-tandem:
      build: "echo building; cp page.txt page.built; echo $$NEXT_PUBLIC_HOST > host.built; echo built"
      seed: ["for f in migrations/*.sql; do psql -v ON_ERROR_STOP=1 -h db -U app -d shop -f $$f; done"]
`

const server = `import http.server, os, subprocess
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        titles = subprocess.run(["psql", "-h", "db", "-U", "app", "-d", "shop", "-tAc", "select string_agg(title, ',' order by title) from article"], capture_output=True, text=True).stdout.strip()
        built_for = open("host.built").read().strip()
        body = (open("page.built").read().strip() + " | " + titles + " | " + os.environ["HOST_SEEN"] + " | seeded=" + os.environ.get("TANDEM_SEEDED", "") + " | built for " + built_for).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("0.0.0.0", 8000), H).serve_forever()
`

// repo makes a git repository with the stack at main.
func repo(t *testing.T) string {
	dir := t.TempDir()
	files := map[string]string{
		"compose.yml":                     stackFile,
		"web/server.py":                   server,
		"web/page.txt":                    "page v1",
		"web/migrations/0001_article.sql": "create table article (title text); insert into article values ('first');",
	}
	for p, body := range files {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(dir, p), []byte(body), 0o644)
	}
	gitIn(t, dir, "init", "-q", "-b", "main")
	commit(t, dir, "first")
	return dir
}

func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@x", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@x")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v %s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func commit(t *testing.T, dir, msg string) string {
	gitIn(t, dir, "add", "-A")
	gitIn(t, dir, "commit", "-q", "-m", msg)
	return gitIn(t, dir, "rev-parse", "HEAD")
}

type harness struct {
	t     *testing.T
	m     *Manager
	data  string
	src   string
	store *sqlite.DB

	mu     sync.Mutex
	routes map[string]*Instance
}

func newHarness(t *testing.T, data, src string, with ...func(*Options)) *harness {
	if os.Geteuid() != 0 {
		t.Skip("the process runtime needs root")
	}
	store, err := sqlite.Open(filepath.Join(data, "tandem.db"))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, data: data, src: src, store: store}
	opts := Options{
		Store: store, Runtime: &process.Runtime{SnapshotDir: filepath.Join(data, "cache", "snapshots", "process")}, DataDir: data,
		Repos:    map[string]Repo{"shop": {Name: "shop", Source: git.NewMirror("shop", src, filepath.Join(data, "repos", "shop.git")), Compose: "compose.yml", DefaultBranch: "main"}},
		Domain:   "previews.example.com",
		BuildEnv: []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
		Drain:    2 * time.Second,
		Serve: func(r map[string]*Instance) {
			h.mu.Lock()
			h.routes = r
			h.mu.Unlock()
		},
	}
	for _, f := range with {
		f(&opts)
	}
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	h.m = m
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) close() {
	h.m.Close(context.Background())
	h.store.Close()
}

// get asks the instance the gateway would route host to for /.
func (h *harness) get(host string) (int, string, error) {
	h.mu.Lock()
	in := h.routes[host]
	h.mu.Unlock()
	if in == nil {
		return 0, "", fmt.Errorf("no route to %s", host)
	}
	c := &http.Client{Transport: &http.Transport{DialContext: in.DialContext}, Timeout: 10 * time.Second}
	resp, err := c.Get("http://web:8000/")
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// await waits until the preview reaches state, failing on failed.
func (h *harness) await(name string, gen int, state tandem.PreviewState) *tandem.Preview {
	h.t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		p, err := h.m.Get(context.Background(), name)
		if err == nil && p.Generation == gen && p.State == state {
			return p
		}
		if err == nil && p.Generation == gen && p.State == tandem.PreviewFailed && state != tandem.PreviewFailed {
			h.t.Fatalf("%s failed at %s: %s\n%s", name, p.Step, p.Error, strings.Join(p.LogTail, "\n"))
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%s did not become %s: %+v %v", name, state, p, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// removals records what the manager asks a runtime that keeps data beyond
// the data directory (tandem.DataRemover, as the kubernetes runtime's
// claims) to remove.
type removals struct {
	tandem.Runtime
	mu   sync.Mutex
	dirs []string
}

func (r *removals) RemoveData(_ context.Context, dir string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dirs = append(r.dirs, dir)
	return nil
}

func (r *removals) asked(dir string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.dirs, dir)
}

func TestPreviewsServeTheirCommitsWithTheirOwnDatabases(t *testing.T) {
	src := repo(t)
	rm := &removals{}
	h := newHarness(t, t.TempDir(), src, func(o *Options) { rm.Runtime, o.Runtime = o.Runtime, rm })
	defer h.close()
	ctx := context.Background()

	// pr-1: main. pr-2: a branch with a changed page, a migration and a seeded row.
	gitIn(t, src, "checkout", "-q", "-b", "feature")
	os.WriteFile(filepath.Join(src, "web", "page.txt"), []byte("page v2"), 0o644)
	os.WriteFile(filepath.Join(src, "web", "migrations", "0002_more.sql"), []byte("insert into article values ('second');"), 0o644)
	featureSHA := commit(t, src, "feature")
	gitIn(t, src, "checkout", "-q", "main")

	p1, err := h.m.Create(ctx, CreateRequest{Name: "pr-1", Repo: "shop", Ref: "main", PR: 1})
	if err != nil || p1.State != tandem.PreviewQueued || p1.URL != "http://pr-1.previews.example.com" {
		t.Fatalf("create: %+v %v", p1, err)
	}
	p2, err := h.m.Create(ctx, CreateRequest{Name: "pr-2", Repo: "shop", Ref: "feature", PR: 2})
	if err != nil {
		t.Fatal(err)
	}
	p1 = h.await("pr-1", p1.Generation, tandem.PreviewReady)
	p2 = h.await("pr-2", p2.Generation, tandem.PreviewReady)
	if p2.Commit != featureSHA || p2.Branch != "feature" || p2.Binding.Commit != featureSHA || !strings.HasPrefix(p2.Binding.StackDigest, "sha256:") || p2.Binding.SnapshotKey == "" || p2.Binding.Builds["web"] == "" {
		t.Errorf("pr-2 binding: %+v", p2)
	}
	if p1.Binding.SnapshotKey == p2.Binding.SnapshotKey {
		t.Error("a new migration kept the snapshot key")
	}
	for host, want := range map[string]string{
		// The build ran with the preview's own values: what a build inlines
		// (NEXT_PUBLIC_*) is the preview's.
		"pr-1.previews.example.com": "page v1 | first | pr-1.previews.example.com | seeded=1 | built for pr-1.previews.example.com",
		"pr-2.previews.example.com": "page v2 | first,second | pr-2.previews.example.com | seeded=1 | built for pr-2.previews.example.com",
	} {
		if code, body, err := h.get(host); code != 200 || body != want {
			t.Errorf("%s: %d %q %v, want %q", host, code, body, err, want)
		}
	}

	// Secrets stay out of everything that shows a preview.
	secrets, _ := h.store.Secrets(ctx, "pr-1")
	if len(secrets["SECRET_KEY"]) < 20 {
		t.Fatalf("secrets %v", secrets)
	}
	shown, _ := json.Marshal(p1)
	events, _ := h.m.Events(ctx, "pr-1", 0)
	evs, _ := json.Marshal(events)
	for _, s := range []string{string(shown), string(evs)} {
		if strings.Contains(s, secrets["SECRET_KEY"]) {
			t.Error("the secret shows")
		}
	}

	// Destroying one leaves the other serving, and removes what it owned.
	if err := h.m.Destroy(ctx, "pr-2"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.m.Get(ctx, "pr-2"); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("pr-2 after destroy: %v", err)
	}
	if _, err := os.Stat(filepath.Join(h.data, "previews", "pr-2")); !os.IsNotExist(err) {
		t.Error("pr-2's files are left")
	}
	if !rm.asked(filepath.Join(h.data, "previews", "pr-2")) {
		t.Errorf("the runtime was not asked to remove pr-2's data kept elsewhere: %v", rm.dirs)
	}
	if s, _ := h.store.Secrets(ctx, "pr-2"); len(s) != 0 {
		t.Error("pr-2's secrets are left")
	}
	if code, _, err := h.get("pr-1.previews.example.com"); code != 200 {
		t.Errorf("pr-1 after pr-2's destroy: %d %v", code, err)
	}
	// Another preview of pr-1's commit shares its build, which inlines the
	// host: built once with a placeholder, each preview's copy gets its own.
	p3, err := h.m.Create(ctx, CreateRequest{Name: "pr-3", Repo: "shop", Ref: "main"})
	if err != nil {
		t.Fatal(err)
	}
	p3 = h.await("pr-3", p3.Generation, tandem.PreviewReady)
	if p3.Binding.Builds["web"] != p1.Binding.Builds["web"] {
		t.Error("the same code was built again for another host")
	}
	if _, body, _ := h.get("pr-3.previews.example.com"); !strings.HasSuffix(body, "built for pr-3.previews.example.com") {
		t.Errorf("pr-3: %q", body)
	}
	if events, _ := h.m.Events(ctx, "pr-3", 0); !hasEvent(events, "web: build cached") {
		t.Errorf("pr-3's events say nothing of the cached build: %v", events)
	}

	// An update keeps answering throughout.
	os.WriteFile(filepath.Join(src, "web", "page.txt"), []byte("page v3"), 0o644)
	commit(t, src, "v3")
	var failures []string
	stop := make(chan struct{})
	polled := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				polled <- n
				return
			default:
			}
			code, body, err := h.get("pr-1.previews.example.com")
			if code != 200 {
				failures = append(failures, fmt.Sprintf("%d %q %v", code, body, err))
			}
			n++
			time.Sleep(20 * time.Millisecond)
		}
	}()
	up, err := h.m.Create(ctx, CreateRequest{Name: "pr-1", Repo: "shop", Ref: "main", PR: 1})
	if err != nil {
		t.Fatal(err)
	}
	h.await("pr-1", up.Generation, tandem.PreviewReady)
	// Past the old instance's drain: it is stopped and its files are gone.
	deadline := time.Now().Add(time.Minute)
	for {
		gens, _ := filepath.Glob(filepath.Join(h.data, "previews", "pr-1", "*"))
		if len(gens) == 1 && rm.asked(filepath.Join(h.data, "previews", "pr-1", strconv.Itoa(p1.Generation))) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("generations left: %v; data the runtime was asked to remove: %v", gens, rm.dirs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	if n := <-polled; n < 5 || len(failures) > 0 {
		t.Errorf("%d polls during the update; failures: %v", n, failures)
	}
	if _, body, _ := h.get("pr-1.previews.example.com"); !strings.HasPrefix(body, "page v3") {
		t.Errorf("after the update: %q", body)
	}
}

func TestFailedBuildReportsItsStepAndTail(t *testing.T) {
	src := repo(t)
	b, _ := os.ReadFile(filepath.Join(src, "compose.yml"))
	broken := strings.Replace(string(b), `echo building; cp page.txt page.built; echo $$NEXT_PUBLIC_HOST > host.built; echo built`, `echo compiling; echo 'Module not found: ./missing' >&2; exit 1`, 1)
	if broken == string(b) {
		t.Fatal("the stack's build command was not found to break")
	}
	os.WriteFile(filepath.Join(src, "compose.yml"), []byte(broken), 0o644)
	commit(t, src, "broken")
	h := newHarness(t, t.TempDir(), src)
	defer h.close()
	p, err := h.m.Create(context.Background(), CreateRequest{Name: "broken", Repo: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	p = h.await("broken", p.Generation, tandem.PreviewFailed)
	if p.Step != "build web" || !strings.Contains(p.Error, "exit status 1") || !strings.Contains(strings.Join(p.LogTail, "\n"), "Module not found") {
		t.Errorf("failed preview: step %q error %q tail %q", p.Step, p.Error, p.LogTail)
	}
	if gens, _ := filepath.Glob(filepath.Join(h.data, "previews", "broken", "*")); len(gens) != 0 {
		t.Errorf("a failed create left %v", gens)
	}
	if _, err := h.m.Create(context.Background(), CreateRequest{Name: "x", Repo: "nope"}); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("unknown repo: %v", err)
	}
	if _, err := h.m.Create(context.Background(), CreateRequest{Name: "Bad_Name", Repo: "shop"}); tandem.ErrorCode(err) != tandem.EINVALID {
		t.Errorf("bad name: %v", err)
	}
}

func TestTTLExpiryRemovesEverything(t *testing.T) {
	src := repo(t)
	h := newHarness(t, t.TempDir(), src)
	defer h.close()
	p, err := h.m.Create(context.Background(), CreateRequest{Name: "short", Repo: "shop", TTL: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	p = h.await("short", p.Generation, tandem.PreviewReady)
	if p.ExpiresAt.IsZero() || p.TTL != 3*time.Second {
		t.Fatalf("ttl %v expires %v", p.TTL, p.ExpiresAt)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := h.m.Get(context.Background(), "short")
		if tandem.ErrorCode(err) == tandem.ENOTFOUND {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not expired")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(h.data, "previews", "short")); !os.IsNotExist(err) {
		t.Error("files left after expiry")
	}
	if _, _, err := h.get("short.previews.example.com"); err == nil {
		t.Error("still routed after expiry")
	}
}

func TestRestartBringsReadyPreviewsBack(t *testing.T) {
	src := repo(t)
	data := t.TempDir()
	h := newHarness(t, data, src)
	ctx := context.Background()
	p, err := h.m.Create(ctx, CreateRequest{Name: "pr-9", Repo: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	p = h.await("pr-9", p.Generation, tandem.PreviewReady)
	secrets, _ := h.store.Secrets(ctx, "pr-9")
	// Data written while it ran must survive.
	in := h.m.Instance("pr-9")
	var out strings.Builder
	if err := in.Supervisor().Exec(ctx, "web", []string{"/bin/sh", "-c", "psql -h db -U app -d shop -c \"insert into article values ('written later')\""}, &out, &out); err != nil {
		t.Fatalf("%v %s", err, out.String())
	}
	h.close()

	h = newHarness(t, data, src)
	defer h.close()
	back, err := h.m.Get(ctx, "pr-9")
	if err != nil || back.State != tandem.PreviewReady || back.URL != p.URL || back.Serving != p.Serving {
		t.Fatalf("after restart: %+v %v", back, err)
	}
	if s, _ := h.store.Secrets(ctx, "pr-9"); s["SECRET_KEY"] != secrets["SECRET_KEY"] {
		t.Error("the secrets changed")
	}
	if code, body, err := h.get("pr-9.previews.example.com"); code != 200 || !strings.Contains(body, "first,written later") {
		t.Errorf("after restart: %d %q %v", code, body, err)
	}
}

func hasEvent(events []tandem.Event, prefix string) bool {
	for _, e := range events {
		if strings.HasPrefix(e.Detail, prefix) {
			return true
		}
	}
	return false
}

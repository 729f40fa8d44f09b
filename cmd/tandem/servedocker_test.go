package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// previewFile is the preview article's preview file: api and web are the
// images CI built and pushed to a registry (%[1]s), tagged %[2]s (the
// preview's commit, ${GIT_SHA}), db is postgres:16.
const previewFile = `x-tandem:
  routes:
    - { path: /api/, to: api:8000, strip_prefix: true, errors: json }
    - { path: /, to: web:3000 }
services:
  db:
    image: postgres:16
    environment: { POSTGRES_USER: app, POSTGRES_PASSWORD: pw, POSTGRES_DB: shop, POSTGRES_INITDB_ARGS: --no-sync }
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -h 127.0.0.1 -U app -d shop"]
      interval: 1s
      retries: 120
  api:
    image: %[1]s/api:%[2]s
    expose: ["8000"]
    depends_on: { db: { condition: service_healthy } }
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8000/cgi-bin/host"]
      interval: 1s
      retries: 60
  web:
    image: %[1]s/web:%[2]s
    expose: ["3000"]
    depends_on: { api: { condition: service_healthy } }
`

// commitAll makes dir a git repository of one commit of its files and
// returns the commit.
func commitAll(t *testing.T, dir string) string {
	t.Helper()
	gitIn(t, dir, "init", "-q", "-b", "main")
	gitIn(t, dir, "add", "-A")
	gitIn(t, dir, "commit", "-q", "-m", "the preview file")
	return gitIn(t, dir, "rev-parse", "HEAD")
}

// dockerObjectsUnder lists the engine's containers, volumes and networks
// that tandem labelled with a data directory under dir.
func dockerObjectsUnder(t testing.TB, dir string) []string {
	t.Helper()
	var found []string
	for _, kind := range []string{"container", "volume", "network"} {
		args := []string{kind, "ls", "--filter", "label=dev.tandem.data", "--format", "{{.ID}} {{.Labels}}"}
		switch kind {
		case "container":
			args = []string{"ps", "-a", "--no-trunc", "--filter", "label=dev.tandem.data", "--format", "{{.ID}} {{.Labels}}"}
		case "volume":
			args[len(args)-1] = "{{.Name}} {{.Labels}}"
		}
		out, err := exec.Command("docker", args...).Output()
		if err != nil {
			t.Fatalf("docker %s: %v", strings.Join(args, " "), err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if strings.Contains(line, "dev.tandem.data="+dir+"/") {
				id, _, _ := strings.Cut(line, " ")
				found = append(found, kind+" "+id)
			}
		}
	}
	return found
}

// tandem serve with runtime: docker serves the preview article's preview
// file, CI's images pulled at the preview's commit, at the preview's host
// with the routes, Host semantics and JSON error envelope of tandem up. A
// server killed with SIGKILL leaves containers the next one removes;
// destroy leaves no container, volume or network of the preview.
func TestServeDockerPreviewOfCIImages(t *testing.T) {
	needDocker(t, "local/busybox", "postgres:16")
	registry := localRegistry(t)
	repo := filepath.Join(t.TempDir(), "shop")
	writeFile(t, filepath.Join(repo, "compose.yml"), fmt.Sprintf(previewFile, registry, "${GIT_SHA}"))
	sha := commitAll(t, repo)
	src := filepath.Dir(dockerStack(t))
	ciImage(t, filepath.Join(src, "api"), registry+"/api:"+sha)
	ciImage(t, filepath.Join(src, "web"), registry+"/web:"+sha)

	s := configuredServer(t, fmt.Sprintf(`runtime: docker
repos:
  - name: shop
    url: %s
    compose: compose.yml
    access: public
`, repo))
	dir := s.dir
	t.Cleanup(func() {
		for _, o := range dockerObjectsUnder(t, dir) {
			kind, id, _ := strings.Cut(o, " ")
			exec.Command("docker", kind, "rm", "-f", id).Run()
		}
	})
	s.start()
	if !strings.Contains(s.proc.out.String(), "previews run on the docker runtime") {
		t.Errorf("tandem serve does not say it runs previews on the docker runtime:\n%s", s.proc.out.String())
	}

	began := time.Now()
	if code, out := s.cli("create", "dock", "--repo", "shop"); code != 0 || !strings.Contains(out, "dock is ready in") {
		t.Fatalf("create: %d\n%s", code, out)
	}
	t.Logf("the preview was ready in %s", time.Since(began).Round(time.Millisecond))
	answers := func() {
		t.Helper()
		if r := s.get("dock", "/", nil); r.status != 200 || strings.TrimSpace(r.body) != "built by CI" {
			t.Errorf("GET / = %d %q, want the page of CI's web image", r.status, r.body)
		}
		if r := s.get("dock", "/api/cgi-bin/host", nil); r.status != 200 || strings.TrimSpace(r.body) != "host=dock.previews.example.com" {
			t.Errorf("the API saw %d %q through the gateway, want the preview's host", r.status, r.body)
		}
		if r := s.get("dock", "/cgi-bin/ssr", nil); !strings.Contains(r.body, "host=api:8000") {
			t.Errorf("web's server-side call: %q, want api to see Host api:8000", r.body)
		}
		if r := s.get("dock", "/api/no-such-thing", nil); r.status != 404 || strings.HasPrefix(r.body, "{") {
			t.Errorf("the API's own 404 answered %d %q, want it passed through", r.status, r.body)
		}
	}
	answers()
	if r := s.get("nobody", "/", nil); r.status != 404 {
		t.Errorf("a host of no preview answered %d", r.status)
	}
	before := dockerObjectsUnder(t, dir)
	if len(before) < 4 {
		t.Fatalf("%d containers for 3 services and the holder: %v", len(before), before)
	}

	// kill -9: the next server removes what the killed one left, and
	// serves the preview again.
	s.proc.cmd.Process.Kill()
	<-s.proc.done
	s.start()
	eventually(t, "dock to serve again", 2*time.Minute, func() string {
		if r := s.get("dock", "/", nil); r.status != 200 {
			return fmt.Sprintf("%d %.200s", r.status, r.body)
		}
		return ""
	})
	after := dockerObjectsUnder(t, dir)
	for _, o := range before {
		if strings.Contains(strings.Join(after, "\n"), o) {
			t.Errorf("%s of the killed server is still there", o)
		}
	}
	if len(after) != len(before) {
		t.Errorf("after the restart: %v, want as many as before (%d)", after, len(before))
	}
	answers()

	// A service that is gone answers the API's JSON error envelope, as
	// under tandem up.
	out, err := exec.Command("docker", "ps", "-q", "--filter", "label=dev.tandem.service=api", "--filter", "label=dev.tandem.instance=dock-1").Output()
	if id := strings.TrimSpace(string(out)); err != nil || id == "" || strings.Contains(id, "\n") {
		t.Fatalf("the api container: %v %q", err, out)
	} else if out, err := exec.Command("docker", "kill", id).CombinedOutput(); err != nil {
		t.Fatalf("docker kill: %v %s", err, out)
	}
	eventually(t, "the JSON error envelope for the API that is gone", time.Minute, func() string {
		if r := s.get("dock", "/api/cgi-bin/host", nil); r.status < 500 || !strings.HasPrefix(r.body, `{"status":"error","data":null,"error":`) {
			return fmt.Sprintf("%d %.200s", r.status, r.body)
		}
		return ""
	})

	if code, out := s.cli("destroy", "dock"); code != 0 || !strings.Contains(out, "dock destroyed") {
		t.Fatalf("destroy: %d %s", code, out)
	}
	if left := dockerObjectsUnder(t, dir); len(left) > 0 {
		t.Errorf("left after destroy: %v", left)
	}
	if r := s.get("dock", "/", nil); r.status != 404 {
		t.Errorf("a destroyed preview answered %d", r.status)
	}
}

// tandem cache prune removes the snapshots of the runtime tandem serve ran
// last (its record under auto): the docker runtime's dk-… as well as the
// process runtime's pg-…. No engine is needed to remove one.
func TestServeDockerCacheRemovesDockerSnapshots(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "tandem.yaml")
	writeFile(t, config, "data: data\ndomain: p.example.com\n"+repos)
	data := filepath.Join(dir, "data")
	const key, id = "0123456789abcdef0123456789abcdef", "dk-00112233445566778899aabbccddeeff"
	writeFile(t, filepath.Join(data, "cache/snapshots/process", id, "PG_VERSION"), strings.Repeat("x", 64<<10))
	writeFile(t, filepath.Join(data, "cache/snapshots", key, "docker.json"), `{"db":"`+id+`"}`)
	writeFile(t, filepath.Join(data, "runtime"), "docker\n") // as tandem serve writes it

	code, out := run(t, "cache", "ls", "--config", config, "--json")
	var list []struct {
		Kind, Name string
		Size       int64
	}
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil || len(list) != 1 || list[0].Name != key || list[0].Size < 64<<10 {
		t.Errorf("ls, want the snapshot with its data's size: %d %v %s", code, err, out)
	}
	if code, out := run(t, "cache", "prune", "--config", config, "--max-size", "0"); code != 0 || !strings.Contains(out, "evicted snapshot "+key) {
		t.Errorf("prune: %d %s", code, out)
	}
	if _, err := os.Stat(filepath.Join(data, "cache/snapshots/process", id)); !os.IsNotExist(err) {
		t.Errorf("the docker runtime's snapshot stays: %v", err)
	}
}

// A server whose runtime cannot run anything says so when it starts, naming
// the file and the runtime, rather than at the first preview.
func TestServeDockerRefusesWithoutAnEngine(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "tandem.yaml")
	writeFile(t, config, fmt.Sprintf("data: data\ndomain: p.example.com\nruntime: docker\nlisten: 127.0.0.1:%d\napi: 127.0.0.1:%d\n%s", freePort(t), freePort(t), repos))
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(dir, "no-engine.sock"))
	code, out := run(t, "serve", "--config", config)
	if code == 0 || !strings.Contains(out, config+": runtime docker: the docker runtime needs a Docker Engine, and none answers") {
		t.Errorf("serve without an engine: %d %s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
		t.Errorf("the server made its data directory before it knew it could run previews: %v", err)
	}
}

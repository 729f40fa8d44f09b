package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/sqlite"
)

// A real tandem serve with two repositories: tokens made as root over the
// socket, then used over TCP by the CLI, each within its repository and
// role; the state database records it all, and no secret reaches a log.
func TestServeAccess(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	t.Setenv("TANDEM_TOKEN", "")
	t.Setenv("TANDEM_SERVER", "")
	api := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	config := filepath.Join(dir, "tandem.yaml")
	writeFile(t, config, fmt.Sprintf(`data: data
domain: previews.example.com
listen: 127.0.0.1:%d
api: %s
access:
  grants:
    - { role: viewer, domain: corp.example }
repos:
  - { name: shop, url: %s, compose: docker-compose.yml }
  - { name: blog, url: %s, compose: docker-compose.yml, access: public }
`, freePort(t), api, smallRepo(t), smallRepo(t)))
	proc := start(t, "serve", "--config", config)
	proc.waitOutput(t, "tandem: serving previews", time.Minute)
	api = "http://" + api

	// Root makes the tokens over the socket: the bootstrap path.
	tokens := map[string]string{}
	for _, tok := range []struct{ name, role, repo string }{{"shop-ci", "reviewer", "shop"}, {"blog-ci", "reviewer", "blog"}, {"shop-viewer", "viewer", "shop"}} {
		code, out, stderr := runSplit(t, "token", "create", "--name", tok.name, "--role", tok.role, "--repo", tok.repo, "--config", config)
		if code != 0 {
			t.Fatalf("token create %s: %d %s", tok.name, code, stderr)
		}
		tokens[tok.name] = strings.TrimSpace(out)
	}
	// as runs tandem preview with a token, from a file: the creates below
	// run at once, and the environment is the process's.
	as := func(token string, args ...string) (int, string) {
		file := filepath.Join(dir, "token-"+tandem.NewID(""))
		if err := os.WriteFile(file, []byte(token), 0o600); err != nil {
			t.Error(err)
		}
		code, out, stderr := runSplit(t, append(append([]string{"preview"}, args...), "--server", api, "--token-file", file)...)
		return code, out + stderr
	}

	var wg sync.WaitGroup
	for name, repo := range map[string]string{"pr-1": "shop", "pr-2": "blog"} {
		wg.Go(func() {
			if code, out := as(tokens[repo+"-ci"], "create", name, "--repo", repo); code != 0 || !strings.Contains(out, name+" is ready") {
				t.Errorf("create %s with %s's token: %d %s", name, repo, code, out)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	t.Run("a token of one repository cannot touch another's", func(t *testing.T) {
		blog := tokens["blog-ci"]
		if code, out := as(blog, "list"); code != 0 || strings.Contains(out, "pr-1") || !strings.Contains(out, "pr-2") {
			t.Errorf("list: %d %s", code, out)
		}
		for _, args := range [][]string{{"show", "pr-1"}, {"logs", "pr-1", "web"}, {"destroy", "pr-1"}, {"create", "pr-3", "--repo", "shop", "--detach"}} {
			if code, out := as(blog, args...); code != 1 || !strings.Contains(out, "may not") {
				t.Errorf("%v: %d %s", args, code, out)
			}
		}
	})
	t.Run("a viewer views and cannot destroy", func(t *testing.T) {
		viewer := tokens["shop-viewer"]
		if code, out := as(viewer, "show", "pr-1"); code != 0 || !strings.Contains(out, "ready") {
			t.Errorf("show: %d %s", code, out)
		}
		if code, out := as(viewer, "destroy", "pr-1"); code != 1 || !strings.Contains(out, "needs the role reviewer in repository shop") {
			t.Errorf("destroy: %d %s", code, out)
		}
	})
	t.Run("unauthenticated, every action is refused", func(t *testing.T) {
		for _, p := range []string{"/v1/previews", "/v1/previews/pr-1", "/v1/previews/pr-1/events", "/v1/tokens", "/v1/grants", "/v1/whoami"} {
			resp, err := http.Get(api + p)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 401 {
				t.Errorf("GET %s: %d", p, resp.StatusCode)
			}
		}
	})
	t.Run("a revoked token is refused", func(t *testing.T) {
		data := filepath.Join(dir, "data")
		db, err := sqlite.Open(filepath.Join(data, "tandem.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		tok, _ := db.TokenByHash(t.Context(), tandem.HashSecret(tokens["shop-ci"]))
		if tok.LastUsed.IsZero() {
			t.Error("no last use recorded")
		}
		if code, _, stderr := runSplit(t, "token", "revoke", tok.ID, "--config", config); code != 0 {
			t.Fatalf("revoke: %s", stderr)
		}
		if code, out := as(tokens["shop-ci"], "list"); code != 1 || !strings.Contains(out, "was revoked") {
			t.Errorf("revoked: %d %s", code, out)
		}
		events, _ := db.AccessEvents(t.Context(), 0, 0)
		var kinds []string
		for _, e := range events {
			kinds = append(kinds, e.Kind+" by "+e.Actor)
		}
		for _, want := range []string{"token.created by tandem", "grant.added by " + config, "token.created by root", "token.used by token shop-ci (" + tok.ID + ")", "token.revoked by root"} {
			if !strings.Contains(strings.Join(kinds, "\n"), want) {
				t.Errorf("no %q in the events:\n%s", want, strings.Join(kinds, "\n"))
			}
		}
		// No secret in tandem's output or its logs.
		logs, _ := os.ReadFile(filepath.Join(data, "logs", "tandem.log"))
		for name, secret := range tokens {
			if strings.Contains(proc.out.String(), secret) || strings.Contains(string(logs), secret) {
				t.Errorf("the secret of %s is in tandem's output or log", name)
			}
		}
		if !strings.Contains(string(logs), `"principal":"token shop-viewer`) {
			t.Errorf("the API's log does not say who asked:\n%s", lastLines(string(logs), 10))
		}
	})
}

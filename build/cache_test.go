package build

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// fakeNPM puts an npm on PATH that counts what it does in dir/../log:
// "ci" fills node_modules, "run build" turns src into .next.
func fakeNPM(t *testing.T) []string {
	bin := t.TempDir()
	write(t, filepath.Join(bin, "npm"), `#!/bin/sh
case "$1" in
ci) echo install >> "$LOG"; rm -rf node_modules; mkdir -p node_modules/dep node_modules/.cache; cat package-lock.json > node_modules/dep/index.js; echo x > node_modules/.cache/junk ;;
run) echo build >> "$LOG"; test -f node_modules/dep/index.js || { echo "no deps" >&2; exit 1; }; rm -rf .next; mkdir .next; cat src/*.js > .next/page.txt ;;
esac
`)
	os.Chmod(filepath.Join(bin, "npm"), 0o755)
	return []string{"PATH=" + bin + ":/usr/bin:/bin", "LOG=" + filepath.Join(bin, "log")}
}

func count(env []string, what string) int {
	b, _ := os.ReadFile(strings.TrimPrefix(env[1], "LOG="))
	return strings.Count(string(b), what)
}

// worktree is a checkout of the web service at some commit.
func worktree(t *testing.T, page, lock string) string {
	dir := filepath.Join(t.TempDir(), "web")
	write(t, filepath.Join(dir, "src", "page.js"), page)
	write(t, filepath.Join(dir, "package.json"), `{"name":"web"}`)
	write(t, filepath.Join(dir, "package-lock.json"), lock)
	return dir
}

func TestCacheBuildsSameInputsOnce(t *testing.T) {
	env := fakeNPM(t)
	c := &Cache{Dir: t.TempDir(), BaseEnv: env}
	step := func(dir string) Step {
		return Step{Service: "web", Dir: dir, Command: "npm ci && npm run build", KeyEnv: []string{"NEXT_PUBLIC_API_URL=/api"}}
	}
	ctx := context.Background()
	var out bytes.Buffer

	a := worktree(t, "page v1", "lock v1")
	res, err := c.Build(ctx, step(a), &out)
	if err != nil || res.Skipped || res.Reason != "not built before" {
		t.Fatalf("first: %+v %v\n%s", res, err, out.String())
	}
	if count(env, "install") != 1 || count(env, "build") != 1 {
		t.Fatalf("install %d build %d", count(env, "install"), count(env, "build"))
	}

	// Another work tree of the same code: nothing runs, the outputs appear.
	b := worktree(t, "page v1", "lock v1")
	res, err = c.Build(ctx, step(b), &out)
	if err != nil || !res.Skipped || res.Reason != "cached" {
		t.Fatalf("same code: %+v %v", res, err)
	}
	if got, _ := os.ReadFile(filepath.Join(b, ".next", "page.txt")); string(got) != "page v1" {
		t.Errorf("restored output %q", got)
	}
	if count(env, "install") != 1 || count(env, "build") != 1 {
		t.Error("the same code was built again")
	}
	// Dependencies come as links to the cache's copy (no copy of a large
	// folder, and no work tree holds the original); outputs as copies,
	// which the service may write to.
	cached, _ := filepath.Glob(filepath.Join(c.Dir, "deps", "web-*", "node_modules", "dep", "index.js"))
	if len(cached) != 1 {
		t.Fatalf("deps cache: %v", cached)
	}
	inode := func(p string) uint64 {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	want := inode(cached[0])
	if inode(filepath.Join(a, "node_modules", "dep", "index.js")) != want || inode(filepath.Join(b, "node_modules", "dep", "index.js")) != want {
		t.Error("node_modules of the work trees are not links to the cache")
	}
	// Owned by an id no sandbox maps: a preview's services, which see the
	// work tree's owner as their own user, cannot write a file they share.
	if fi, err := os.Stat(cached[0]); os.Geteuid() == 0 && (err != nil || fi.Sys().(*syscall.Stat_t).Uid != cacheOwner) {
		t.Errorf("the cache's copy is not owned by %d: %v", cacheOwner, err)
	}
	os.RemoveAll(a)
	if got, _ := os.ReadFile(filepath.Join(b, "node_modules", "dep", "index.js")); string(got) != "lock v1" {
		t.Errorf("removing a's work tree broke b's: %q", got)
	}
	os.WriteFile(filepath.Join(b, ".next", "page.txt"), []byte("written by b"), 0o644)
	c2 := worktree(t, "page v1", "lock v1")
	c.Build(ctx, step(c2), &out)
	if got, _ := os.ReadFile(filepath.Join(c2, ".next", "page.txt")); string(got) != "page v1" {
		t.Error("a write into a restored output reached the cache")
	}

	// New code, same lockfile: the dependencies come from the cache.
	d := worktree(t, "page v2", "lock v1")
	res, err = c.Build(ctx, step(d), &out)
	if err != nil || res.Skipped || res.Reason != "not built before; node_modules from the cache" {
		t.Fatalf("new code: %+v %v\n%s", res, err, out.String())
	}
	if count(env, "install") != 1 || count(env, "build") != 2 {
		t.Errorf("install %d build %d", count(env, "install"), count(env, "build"))
	}
	if _, err := os.Stat(filepath.Join(d, "node_modules", ".cache")); !os.IsNotExist(err) {
		t.Error("a tool's cache inside node_modules was shared")
	}
	// A new lockfile installs again.
	e := worktree(t, "page v2", "lock v2")
	if _, err := c.Build(ctx, step(e), &out); err != nil {
		t.Fatal(err)
	}
	if count(env, "install") != 2 {
		t.Error("a new lockfile did not install")
	}
	// So does another inlined variable, without reinstalling.
	f := worktree(t, "page v2", "lock v2")
	s := step(f)
	s.KeyEnv = []string{"NEXT_PUBLIC_API_URL=https://pr-7.previews.example.com/api"}
	if res, _ := c.Build(ctx, s, &out); res.Skipped || count(env, "install") != 2 {
		t.Errorf("another NEXT_PUBLIC_ value: %+v, install %d", res, count(env, "install"))
	}
}

func TestCacheConcurrentBuildsOfTheSameCode(t *testing.T) {
	env := fakeNPM(t)
	c := &Cache{Dir: t.TempDir(), BaseEnv: env}
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		dir := worktree(t, "page", "lock")
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Build(context.Background(), Step{Service: "web", Dir: dir, Command: "npm ci && npm run build"}, &bytes.Buffer{}); err != nil {
				t.Error(err)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, ".next", "page.txt")); string(b) != "page" {
				t.Errorf("%s: %q", dir, b)
			}
		}()
	}
	wg.Wait()
	if count(env, "build") != 1 {
		t.Errorf("built %d times", count(env, "build"))
	}
}

func TestCacheFailedBuildKeepsNothing(t *testing.T) {
	env := fakeNPM(t)
	c := &Cache{Dir: t.TempDir(), BaseEnv: env}
	dir := worktree(t, "page", "lock")
	_, err := c.Build(context.Background(), Step{Service: "web", Dir: dir, Command: "npm ci && npm run build && exit 3"}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("err = %v", err)
	}
	again := worktree(t, "page", "lock")
	res, err := c.Build(context.Background(), Step{Service: "web", Dir: again, Command: "npm ci && npm run build && exit 3"}, &bytes.Buffer{})
	if err == nil || res.Skipped {
		t.Errorf("a failed build was cached: %+v %v", res, err)
	}
}

func TestSplitInstall(t *testing.T) {
	for cmd, want := range map[string][3]string{
		"npm ci && npm run build":         {"npm ci", "node_modules", "npm run build"},
		"npm ci":                          {"npm ci", "node_modules", ""},
		"  npm ci &&npm run build  ":      {"npm ci", "node_modules", "npm run build"},
		"npm ci --omit=dev && next build": {"", "", "npm ci --omit=dev && next build"},
		"make build":                      {"", "", "make build"},
		"npm cistern":                     {"", "", "npm cistern"},
	} {
		i, f, r := splitInstall(cmd)
		if [3]string{i, f, r} != want {
			t.Errorf("%q: %q %q %q", cmd, i, f, r)
		}
	}
}

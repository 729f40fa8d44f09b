package git

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Several previews created at once share one mirror that none has cloned
// yet.
func TestConcurrentResolveAndCheckout(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	m := newMirror(t, r)
	previews := t.TempDir()
	refs := []string{"main", "feature", "v1", "refs/pull/7/head"}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			ref := refs[i%len(refs)]
			commit, _, err := m.Resolve(t.Context(), ref)
			if err != nil {
				errs <- fmt.Errorf("Resolve(%s): %w", ref, err)
				return
			}
			dir := filepath.Join(previews, fmt.Sprint("pr-", i), "src")
			if err := m.Checkout(t.Context(), commit, dir); err != nil {
				errs <- fmt.Errorf("Checkout(%s): %w", ref, err)
				return
			}
			if _, err := os.Stat(filepath.Join(dir, "page.txt")); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Two Mirror values for one directory, as two processes would have:
	// the lock file keeps their fetches apart.
	other := NewMirror(m.Name, m.URL, m.Dir)
	for i := range 4 {
		wg.Go(func() {
			mm := []*Mirror{m, other}[i%2]
			if _, _, err := mm.Resolve(t.Context(), "main"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

// A clone canceled halfway leaves nothing that looks like a mirror, and
// ends at once: canceling kills git's helpers too, not git alone.
func TestCancelClone(t *testing.T) {
	// A remote that never answers: git runs it as its transport helper.
	t.Setenv("GIT_CONFIG_COUNT", "1")
	t.Setenv("GIT_CONFIG_KEY_0", "protocol.ext.allow")
	t.Setenv("GIT_CONFIG_VALUE_0", "always")
	m := NewMirror("shop", "ext::sleep 30", filepath.Join(t.TempDir(), "repos", "shop.git"))

	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := m.Resolve(ctx, "main")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Resolve: %v, want the context's error", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("a canceled clone took %v to stop", d)
	}
	left, _ := os.ReadDir(filepath.Dir(m.Dir))
	for _, e := range left {
		if e.Name() != "shop.git.lock" {
			t.Errorf("a canceled clone left %s", e.Name())
		}
	}
}

// A checkout canceled halfway (here in a submodule that never arrives)
// leaves no directory and no worktree behind.
func TestCancelCheckout(t *testing.T) {
	t.Setenv("GIT_CONFIG_COUNT", "1")
	t.Setenv("GIT_CONFIG_KEY_0", "protocol.ext.allow")
	t.Setenv("GIT_CONFIG_VALUE_0", "always")
	r := newRepo(t)
	write(t, filepath.Join(r.dir, ".gitmodules"), "[submodule \"lib\"]\n\tpath = lib\n\turl = ext::sleep 30\n", 0o644)
	run(t, r.dir, "update-index", "--add", "--cacheinfo", "160000,"+r.first+",lib")
	run(t, r.dir, "add", ".gitmodules")
	run(t, r.dir, "commit", "--quiet", "-m", "add a submodule that never arrives")
	commit := run(t, r.dir, "rev-parse", "HEAD")
	m := newMirror(t, r)
	if _, _, err := m.Resolve(t.Context(), "main"); err != nil {
		t.Fatal(err)
	}

	dir := filepath.Join(t.TempDir(), "src")
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	if err := m.Checkout(ctx, commit, dir); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Checkout: %v, want the context's error", err)
	}
	if exists(dir) {
		t.Error("a canceled checkout left its directory")
	}
	if entries, _ := os.ReadDir(filepath.Join(m.Dir, "worktrees")); len(entries) != 0 {
		t.Errorf("a canceled checkout left worktrees in the mirror: %v", entries)
	}
}

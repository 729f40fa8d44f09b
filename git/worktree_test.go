package git

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandem-dev/tandem"
)

func TestCheckoutSideBySide(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	m := newMirror(t, r)
	previews := t.TempDir()
	one, two := filepath.Join(previews, "pr-1", "src"), filepath.Join(previews, "pr-2", "src")
	// Checkout before any Resolve: the mirror is cloned on demand.
	if err := m.Checkout(t.Context(), r.first, one); err != nil {
		t.Fatal(err)
	}
	if err := m.Checkout(t.Context(), r.main, two); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(one, "page.txt")); got != "one\n" {
		t.Errorf("pr-1 page.txt = %q", got)
	}
	if got := read(t, filepath.Join(two, "page.txt")); got != "two\n" {
		t.Errorf("pr-2 page.txt = %q", got)
	}
	for _, dir := range []string{one, two} {
		fi, err := os.Stat(filepath.Join(dir, "run.sh"))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode()&0o100 == 0 {
			t.Errorf("%s/run.sh lost its executable bit: %v", dir, fi.Mode())
		}
		if head := run(t, dir, "rev-parse", "HEAD"); head != map[string]string{one: r.first, two: r.main}[dir] {
			t.Errorf("%s is at %s", dir, head)
		}
	}

	if err := m.Remove(t.Context(), one); err != nil {
		t.Fatal(err)
	}
	if exists(one) {
		t.Error("Remove left the directory")
	}
	if got := read(t, filepath.Join(two, "page.txt")); got != "two\n" {
		t.Errorf("removing pr-1 touched pr-2: page.txt = %q", got)
	}
	if err := m.Remove(t.Context(), one); err != nil {
		t.Errorf("removing a removed worktree: %v", err)
	}
	if list := run(t, "", "--git-dir="+m.Dir, "worktree", "list"); strings.Contains(list, one) {
		t.Errorf("the mirror still knows %s:\n%s", one, list)
	}
}

func TestCheckoutErrors(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	m := newMirror(t, r)
	dir := filepath.Join(t.TempDir(), "src")
	wantCode(t, m.Checkout(t.Context(), strings.Repeat("ab", 20), dir), tandem.ENOTFOUND)
	wantCode(t, m.Checkout(t.Context(), "main", dir), tandem.EINVALID)
	if exists(dir) {
		t.Error("a failed Checkout left its directory")
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	wantCode(t, m.Checkout(t.Context(), r.main, dir), tandem.ECONFLICT)
}

// A commit pushed after the last fetch is fetched by Checkout itself, as
// after a restart that resolved it in an earlier life.
func TestCheckoutFetchesMissingCommit(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	m := newMirror(t, r)
	if _, _, err := m.Resolve(t.Context(), "main"); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(r.dir, "page.txt"), "three\n", 0o644)
	third := r.commit(t, "third")
	dir := filepath.Join(t.TempDir(), "src")
	if err := m.Checkout(t.Context(), third, dir); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(dir, "page.txt")); got != "three\n" {
		t.Errorf("page.txt = %q", got)
	}
}

func TestPrune(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	m := newMirror(t, r)
	previews := t.TempDir()
	keep, orphan, gone := filepath.Join(previews, "keep"), filepath.Join(previews, "orphan"), filepath.Join(previews, "gone")
	for _, dir := range []string{keep, orphan, gone} {
		if err := m.Checkout(t.Context(), r.main, dir); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.RemoveAll(gone); err != nil { // removed behind git's back
		t.Fatal(err)
	}
	// A worktree a killed `git worktree add` left locked.
	run(t, "", "--git-dir="+m.Dir, "worktree", "lock", "--reason", "initializing", orphan)

	if err := m.Prune(t.Context(), []string{keep}); err != nil {
		t.Fatal(err)
	}
	if !exists(filepath.Join(keep, "page.txt")) {
		t.Error("Prune removed a kept worktree")
	}
	if exists(orphan) {
		t.Error("Prune left an orphaned worktree")
	}
	list := run(t, "", "--git-dir="+m.Dir, "worktree", "list", "--porcelain")
	if n := strings.Count(list, "worktree "); n != 2 || !strings.Contains(list, "worktree "+realPath(keep)) {
		t.Errorf("after Prune the mirror knows:\n%s\nwant itself and %s", list, keep)
	}
	if err := m.Checkout(t.Context(), r.first, orphan); err != nil {
		t.Errorf("checking out again where an orphan was: %v", err)
	}
}

func TestCheckoutSubmodules(t *testing.T) {
	// Submodules from local paths are refused unless the user allows them
	// (git 2.38.1, CVE-2022-39253); this user does.
	t.Setenv("GIT_CONFIG_COUNT", "1")
	t.Setenv("GIT_CONFIG_KEY_0", "protocol.file.allow")
	t.Setenv("GIT_CONFIG_VALUE_0", "always")

	lib := newRepo(t)
	r := newRepo(t)
	run(t, r.dir, "submodule", "--quiet", "add", lib.dir, "vendor/lib")
	r.main = r.commit(t, "add lib")
	m := newMirror(t, r)

	dir := filepath.Join(t.TempDir(), "src")
	if err := m.Checkout(t.Context(), r.main, dir); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(dir, "vendor", "lib", "page.txt")); got != "two\n" {
		t.Errorf("the submodule's page.txt = %q", got)
	}
	if err := m.Remove(t.Context(), dir); err != nil {
		t.Fatal(err)
	}
	if exists(dir) {
		t.Error("Remove left a worktree with a submodule")
	}
	if entries, _ := os.ReadDir(filepath.Join(m.Dir, "worktrees")); len(entries) != 0 {
		t.Errorf("the mirror still has worktrees: %v", entries)
	}
}

package git

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gitEnv is that of the developer who makes the test repositories: a fixed
// author and clock, and none of the user's config.
var gitEnv = []string{
	"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
	"GIT_AUTHOR_NAME=Tess Tandem", "GIT_AUTHOR_EMAIL=tess@example.com",
	"GIT_COMMITTER_NAME=Tess Tandem", "GIT_COMMITTER_EMAIL=tess@example.com",
	"GIT_AUTHOR_DATE=2024-01-02T03:04:05Z", "GIT_COMMITTER_DATE=2024-01-02T03:04:05Z",
}

// repo is a source repository made for a test.
type repo struct {
	dir     string
	first   string // main's first commit: page.txt "one", run.sh executable
	main    string // main's head: page.txt "two"
	feature string // branch feature: adds feature.txt
	pr      string // refs/pull/7/head: adds pr.txt, on no branch
	err     error  // the first failure while making it
}

// template is made once; each test gets a copy, which is much faster than
// a dozen git commands.
var template repo

func TestMain(m *testing.M) {
	tmp, err := os.MkdirTemp("", "tandem-git-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	template.make(filepath.Join(tmp, "shop"))
	if template.err != nil {
		fmt.Fprintln(os.Stderr, template.err)
		os.RemoveAll(tmp)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(tmp)
	os.Exit(code)
}

// make makes a work tree with branches main and feature, an annotated tag
// v1 and a lightweight tag v2 at first, refs/pull/7/head, and a
// refs/remotes ref that a mirror must not keep.
func (r *repo) make(dir string) {
	r.dir = dir
	r.err = os.Mkdir(dir, 0o755)
	r.git("init", "--quiet", "--initial-branch=main")
	r.write("page.txt", "one\n", 0o644)
	r.write("run.sh", "#!/bin/sh\necho run\n", 0o755)
	r.first = r.commitAll("first")
	r.git("tag", "-a", "v1", "-m", "version 1")
	r.git("tag", "v2")
	r.git("update-ref", "refs/remotes/origin/stale", r.first)

	r.git("checkout", "--quiet", "-b", "feature")
	r.write("feature.txt", "feature\n", 0o644)
	r.feature = r.commitAll("feature")

	r.git("checkout", "--quiet", "--detach", r.first)
	r.write("pr.txt", "pull request\n", 0o644)
	r.pr = r.commitAll("pull request 7")
	r.git("update-ref", "refs/pull/7/head", r.pr)

	r.git("checkout", "--quiet", "main")
	r.write("page.txt", "two\n", 0o644)
	r.main = r.commitAll("second")
}

// git runs git in the work tree, unless an earlier step failed.
func (r *repo) git(args ...string) string {
	if r.err != nil {
		return ""
	}
	cmd := exec.Command("git", args...)
	cmd.Dir = r.dir
	cmd.Env = append(os.Environ(), gitEnv...) // os.Environ: with what the test set
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.err = fmt.Errorf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func (r *repo) write(name, content string, mode os.FileMode) {
	if r.err == nil {
		r.err = writeFile(filepath.Join(r.dir, name), content, mode)
	}
}

func (r *repo) commitAll(msg string) string {
	r.git("add", "--all")
	r.git("commit", "--quiet", "-m", msg)
	return r.git("rev-parse", "HEAD")
}

// newRepo returns a copy of the template.
func newRepo(t *testing.T) *repo {
	t.Helper()
	r := template
	r.dir = filepath.Join(t.TempDir(), "shop")
	if err := os.CopyFS(r.dir, os.DirFS(template.dir)); err != nil {
		t.Fatal(err)
	}
	return &r
}

// commit commits everything in the work tree and returns the commit.
func (r *repo) commit(t *testing.T, msg string) string {
	t.Helper()
	sha := r.commitAll(msg)
	if r.err != nil {
		t.Fatal(r.err)
	}
	return sha
}

// run runs git in dir as the developer.
func run(t *testing.T, dir string, args ...string) string {
	t.Helper()
	r := &repo{dir: dir}
	out := r.git(args...)
	if r.err != nil {
		t.Fatal(r.err)
	}
	return out
}

func writeFile(path, content string, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		return err
	}
	return os.Chmod(path, mode) // past the umask
}

package preview

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandem-dev/tandem"
)

// hostileRepo makes a repository whose stack file is compose.
func hostileRepo(t *testing.T, compose string) string {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "web"), 0o755)
	os.WriteFile(filepath.Join(dir, "compose.yml"), []byte(compose), 0o644)
	os.WriteFile(filepath.Join(dir, "web", "index.html"), []byte("hi"), 0o644)
	gitIn(t, dir, "init", "-q", "-b", "main")
	commit(t, dir, "first")
	return dir
}

// A pull request's stack file that names a file outside its work tree
// fails at "load stack": nothing of it is built or run.
func TestStackLeadingOutsideFailsBeforeAnythingRuns(t *testing.T) {
	ran := filepath.Join(t.TempDir(), "ran")
	src := hostileRepo(t, `x-tandem:
  routes:
    - { path: /, to: web:8000, error_page: ../../../../../../../../../etc/passwd }
services:
  web:
    build: ./web
    command: ["/usr/bin/python3", "-m", "http.server", "8000"]
    expose: ["8000"]
    x-tandem:
      build: touch `+ran+`
`)
	h := newHarness(t, t.TempDir(), src)
	defer h.close()
	if _, err := h.m.Create(context.Background(), CreateRequest{Name: "pr-1", Repo: "shop"}); err != nil {
		t.Fatal(err)
	}
	p := h.await("pr-1", 1, tandem.PreviewFailed)
	if p.Step != "load stack" || !strings.HasPrefix(p.Error, `compose.yml:3: error page "/etc/passwd" is outside the project (the repository)`) {
		t.Errorf("failed at %q: %s", p.Step, p.Error)
	}
	if strings.Contains(p.Error, "root:") {
		t.Errorf("the error quotes /etc/passwd: %s", p.Error)
	}
	if _, err := os.Stat(ran); err == nil {
		t.Error("its build ran")
	}
}

// An error that carries a secret (here the command of a failed build,
// which interpolates one) is recorded, shown and logged with [secret].
func TestSecretsAreMaskedInErrors(t *testing.T) {
	src := hostileRepo(t, `x-tandem:
  preview:
    secrets: [TOKEN]
services:
  web:
    build: ./web
    command: ["/usr/bin/python3", "-m", "http.server", "8000"]
    x-tandem:
      build: "test -z '${TOKEN}'"
`)
	h := newHarness(t, t.TempDir(), src)
	defer h.close()
	if _, err := h.m.Create(context.Background(), CreateRequest{Name: "pr-1", Repo: "shop"}); err != nil {
		t.Fatal(err)
	}
	p := h.await("pr-1", 1, tandem.PreviewFailed)
	secrets, err := h.store.Secrets(context.Background(), "pr-1")
	if err != nil || secrets["TOKEN"] == "" {
		t.Fatalf("secrets %v %v", secrets, err)
	}
	if strings.Contains(p.Error, secrets["TOKEN"]) || !strings.Contains(p.Error, "test -z '[secret]'") {
		t.Errorf("error: %s", p.Error)
	}
	events, _ := h.m.Events(context.Background(), "pr-1", 0)
	for _, e := range events {
		if strings.Contains(e.Detail, secrets["TOKEN"]) {
			t.Errorf("event %s: %s", e.Kind, e.Detail)
		}
	}
}

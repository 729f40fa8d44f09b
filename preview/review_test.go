package preview

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/review"
)

// The review plan is read from each generation's work tree at its commit:
// its digest is part of the binding, and a broken plan fails the
// generation at its own step, with the file and line.
func TestReviewPlanOfEachGeneration(t *testing.T) {
	src := hostileRepo(t, `services:
  web:
    build: ./web
    command: ["/usr/bin/python3", "-m", "http.server", "8000"]
    expose: ["8000"]
`)
	os.MkdirAll(filepath.Join(src, ".tandem"), 0o755)
	os.WriteFile(filepath.Join(src, tandem.ReviewPlanFile), []byte("stages:\n  - name: qa\n    signers: none\n"), 0o644)
	commit(t, src, "a broken plan")
	h := newHarness(t, t.TempDir(), src)
	defer h.close()
	var mu sync.Mutex
	var seen []int
	h.m.opts.ReviewPlan = func(_ context.Context, p *tandem.Preview, gen int, workTree string, st *tandem.Stack) (string, error) {
		mu.Lock()
		seen = append(seen, gen)
		mu.Unlock()
		plan, err := review.LoadPlan(workTree, st)
		if err != nil {
			return "", err
		}
		return plan.Digest(), nil
	}
	ctx := context.Background()
	if _, err := h.m.Create(ctx, CreateRequest{Name: "pr-1", Repo: "shop", Author: "dev@corp.example"}); err != nil {
		t.Fatal(err)
	}
	p := h.await("pr-1", 1, tandem.PreviewFailed)
	if p.Step != "review plan" || !strings.HasPrefix(p.Error, `.tandem/review.yaml:3: stage "qa": signers must be a number`) || p.Author != "dev@corp.example" {
		t.Errorf("failed at %q: %s (author %q)", p.Step, p.Error, p.Author)
	}

	os.WriteFile(filepath.Join(src, tandem.ReviewPlanFile), []byte("stages:\n  - name: qa\n    signers: 2\n"), 0o644)
	commit(t, src, "a plan")
	if _, err := h.m.Create(ctx, CreateRequest{Name: "pr-1", Repo: "shop"}); err != nil {
		t.Fatal(err)
	}
	p = h.await("pr-1", 2, tandem.PreviewReady)
	want, _ := review.LoadPlan(src, nil)
	mu.Lock()
	defer mu.Unlock()
	if p.Binding.ReviewPlan != want.Digest() || p.Author != "dev@corp.example" || len(seen) != 2 || seen[1] != 2 {
		t.Errorf("binding %+v, author %q, plans read for %v", p.Binding, p.Author, seen)
	}
}

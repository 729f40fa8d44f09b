package git

import (
	"context"
	"path/filepath"
	"strings"
)

// Prune removes the worktrees the mirror knows that are not in keep, and
// then lets git forget worktrees whose directories are gone: after a crash,
// what no preview owns any more. Call it when no Checkout is under way
// (when reconciling at start-up): a worktree being made is in nobody's keep
// yet.
func (m *Mirror) Prune(ctx context.Context, keep []string) error {
	if !m.cloned() {
		return nil
	}
	unlock, err := m.lockWorktrees(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	// git records a worktree's real path, so compare real paths.
	kept := make(map[string]bool, len(keep))
	for _, dir := range keep {
		kept[realPath(dir)] = true
	}
	// Not -z, which needs git 2.36: these paths are ours and have no newlines.
	out, err := m.git("worktree", "list", "--porcelain").run(ctx)
	if err != nil {
		return err
	}
	for _, block := range strings.Split(out, "\n\n") {
		dir, bare := "", false
		for _, line := range strings.Split(block, "\n") {
			if p, ok := strings.CutPrefix(line, "worktree "); ok {
				dir = p
			}
			bare = bare || line == "bare"
		}
		if dir == "" || bare || within(kept, realPath(dir)) {
			continue
		}
		if err := m.remove(ctx, dir); err != nil {
			return err
		}
	}
	_, err = m.git("worktree", "prune").run(ctx)
	return err
}

// realPath is dir made absolute with symbolic links resolved, as far as
// it exists.
func realPath(dir string) string {
	dir, _ = filepath.Abs(dir)
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		return real
	}
	return filepath.Clean(dir)
}

// within reports whether dir is a kept directory or inside one: a work
// tree of another repository checked out inside a preview's (a service
// built from it) lives as long as the preview's does.
func within(kept map[string]bool, dir string) bool {
	for d := dir; ; d = filepath.Dir(d) {
		if kept[d] {
			return true
		}
		if d == filepath.Dir(d) {
			return false
		}
	}
}

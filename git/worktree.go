package git

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/tandem-dev/tandem"
)

// Checkout makes a detached worktree of commit at dir, which must not
// exist: the files of that commit, executable bits kept, with submodules
// when the commit has any. dir holds a .git file naming the worktree in the
// mirror; it differs from one worktree to the next. A commit the mirror
// lacks is fetched for once; still missing, it is ENOTFOUND.
func (m *Mirror) Checkout(ctx context.Context, commit, dir string) error {
	if !isHex(commit) {
		return tandem.Errorf(tandem.EINVALID, "repository %s: %q is not a commit SHA", m.Name, commit)
	}
	if _, err := os.Lstat(dir); err == nil {
		return tandem.Errorf(tandem.ECONFLICT, "repository %s: cannot check out %s at %s: it exists", m.Name, commit, dir)
	}
	synced := !m.cloned()
	if synced {
		if err := m.sync(ctx); err != nil {
			return err
		}
	}
	sha, err := m.commit(ctx, commit)
	if sha == "" && err == nil && !synced {
		if err := m.sync(ctx); err != nil {
			return err
		}
		sha, err = m.commit(ctx, commit)
	}
	if err != nil {
		return err
	}
	if sha == "" {
		return tandem.Errorf(tandem.ENOTFOUND, "repository %s has no commit %s", m.Name, commit)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	if added, err := m.checkout(ctx, sha, dir); err != nil {
		// A failed add cleans up after itself, but a killed one leaves a
		// worktree locked as "initializing"; one that was added is ours.
		if added || ctx.Err() != nil {
			m.cleanup(dir)
		}
		if ctx.Err() != nil {
			return err
		}
		return failed(tandem.EINTERNAL, err, "repository %s: check out %s", m.Name, commit)
	}
	return nil
}

// checkout adds the worktree with the mirror locked, since concurrent adds
// read each other's half-written entries, and then fills it unlocked: the
// files are most of the work and each worktree has its own index. The
// second step is the `reset --hard` that add itself would have run.
func (m *Mirror) checkout(ctx context.Context, sha, dir string) (added bool, err error) {
	unlock, err := m.lockWorktrees(ctx)
	if err != nil {
		return false, err
	}
	_, err = m.git("worktree", "add", "--detach", "--no-checkout", "--quiet", "--", dir, sha).run(ctx)
	unlock()
	if err != nil {
		return false, err
	}
	if _, err := m.in(dir, "reset", "--hard", "--quiet").run(ctx); err != nil {
		return true, err
	}
	if _, err := os.Stat(filepath.Join(dir, ".gitmodules")); errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	_, err = m.in(dir, "submodule", "--quiet", "update", "--init", "--recursive").run(ctx)
	return true, err
}

// in returns a command run in the worktree at dir, found by its .git file.
func (m *Mirror) in(dir string, args ...string) command {
	return command{dir: dir, args: args, show: m.show}
}

// cleanup removes what a failed Checkout left, whatever ctx says.
func (m *Mirror) cleanup(dir string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m.Remove(ctx, dir)
}

// Remove removes the worktree at dir. One that is already gone, or that
// git no longer knows, is no error: dir is removed all the same and the
// mirror forgets it.
func (m *Mirror) Remove(ctx context.Context, dir string) error {
	if dir == "" || filepath.Clean(dir) == "/" {
		return tandem.Errorf(tandem.EINVALID, "repository %s: refusing to remove %q", m.Name, dir)
	}
	unlock, err := m.lockWorktrees(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	return m.remove(ctx, dir)
}

// remove is Remove with the worktrees lock held.
func (m *Mirror) remove(ctx context.Context, dir string) error {
	var gitErr error
	if m.cloned() {
		// Twice --force: also a worktree locked by a killed add.
		_, gitErr = m.git("worktree", "remove", "--force", "--force", "--", dir).run(ctx)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := os.RemoveAll(dir); err != nil {
		return failed(tandem.EINTERNAL, err, "repository %s: remove worktree", m.Name)
	}
	if gitErr != nil {
		// It was not a worktree, or its entry is broken: with dir gone,
		// prune drops the entry.
		if _, err := m.git("worktree", "prune").run(ctx); err != nil {
			return err
		}
	}
	return nil
}

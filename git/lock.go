package git

import (
	"context"
	"os"
	"path/filepath"

	"github.com/tandem-dev/tandem/internal/fsutil"
)

// A mirror has two locks, so that checkouts need not wait for a fetch:
// one for clones and fetches, one for git's list of worktrees, which
// concurrent adds and removes corrupt.
func (m *Mirror) lockFetch(ctx context.Context) (unlock func(), err error) {
	return lock(ctx, m.fetching, m.Dir+".lock")
}

func (m *Mirror) lockWorktrees(ctx context.Context) (unlock func(), err error) {
	return lock(ctx, m.worktrees, m.Dir+".worktrees.lock")
}

// lock takes sem against goroutines of this process, then a file lock on file
// against other processes (a second tandem on the same data directory, or
// one that has not finished dying). Both waits end with ctx. The file
// stays; removing it would race with the next process to open it.
func lock(ctx context.Context, sem chan struct{}, file string) (unlock func(), err error) {
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	release := func() { <-sem }
	// DATA/repos holds every registered repository: its owner's alone.
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		release()
		return nil, err
	}
	// Go opens files close-on-exec, so git never inherits the lock.
	l, err := fsutil.Lock(ctx, file, false)
	if err != nil {
		release()
		return nil, err
	}
	return func() {
		l.Unlock()
		release()
	}, nil
}

package git

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
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

// lock takes sem against goroutines of this process, then an flock on file
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
	f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		release()
		return nil, err
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			release()
			return nil, err
		}
		select {
		case <-ctx.Done():
			f.Close()
			release()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return func() {
		f.Close() // closing the only descriptor releases the flock
		release()
	}, nil
}

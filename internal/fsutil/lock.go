package fsutil

import (
	"context"
	"errors"
	"os"
	"time"
)

// ErrLocked is TryLock's error when another holds the lock.
var ErrLocked = errors.New("locked by another process")

// FileLock is a held lock on a file (flock(2) on Unix, LockFileEx on
// Windows): between processes, and between goroutines that each take it
// (each Lock opens the file anew). Lock files are their owner's alone.
type FileLock struct{ f *os.File }

// TryLock takes the lock on path at once, shared or exclusive, or fails
// (with ErrLocked when another holds it).
func TryLock(path string, shared bool) (*FileLock, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := lockFile(f, shared, false); err != nil {
		f.Close()
		return nil, err
	}
	return &FileLock{f: f}, nil
}

// Lock takes the lock on path, waiting until ctx ends.
func Lock(ctx context.Context, path string, shared bool) (*FileLock, error) {
	for {
		l, err := TryLock(path, shared)
		if err == nil {
			return l, nil
		}
		if !errors.Is(err, ErrLocked) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Share turns an exclusive lock into a shared one, without letting go.
func (l *FileLock) Share() error { return lockFile(l.f, true, true) }

// Unlock lets go of the lock.
func (l *FileLock) Unlock() {
	unlockFile(l.f)
	l.f.Close()
}

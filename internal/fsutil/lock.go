package fsutil

import (
	"context"
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// FileLock is a held flock(2) lock: between processes, and between
// goroutines that each take it (each Lock opens the file anew).
type FileLock struct{ f *os.File }

// TryLock takes the lock on path at once, shared or exclusive, or fails
// (with unix.EWOULDBLOCK when another holds it).
func TryLock(path string, shared bool) (*FileLock, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	how := unix.LOCK_EX
	if shared {
		how = unix.LOCK_SH
	}
	if err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB); err != nil {
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
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Share turns an exclusive lock into a shared one, without letting go.
func (l *FileLock) Share() error { return unix.Flock(int(l.f.Fd()), unix.LOCK_SH) }

// Unlock lets go of the lock.
func (l *FileLock) Unlock() {
	unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	l.f.Close()
}

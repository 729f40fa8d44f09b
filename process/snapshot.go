//go:build linux

package process

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"

	"github.com/tandem-dev/tandem"
)

// snapshotID is what Snapshot returns: a name of its own making, so an id
// read back from a file can never lead outside SnapshotDir.
var snapshotID = regexp.MustCompile(`^pg-[0-9a-f]{32}$`)

func (r *Runtime) snapshotDir() string {
	if r.SnapshotDir != "" {
		return r.SnapshotDir
	}
	return DefaultSnapshotDir
}

// snapshotPath is where snapshot id is kept.
func (r *Runtime) snapshotPath(id string) (string, error) {
	if !snapshotID.MatchString(id) {
		return "", tandem.Errorf(tandem.EINVALID, "%q is not a snapshot of the process runtime", id)
	}
	return filepath.Join(r.snapshotDir(), id), nil
}

// newSnapshot returns a fresh id and the directory (not yet made) for it,
// in a directory nobody else may read: snapshots hold databases.
func (r *Runtime) newSnapshot() (string, string, error) {
	if _, err := privateDir(r.snapshotDir()); err != nil {
		return "", "", err
	}
	b := make([]byte, 16)
	rand.Read(b)
	id := "pg-" + hex.EncodeToString(b)
	return id, filepath.Join(r.snapshotDir(), id), nil
}

// RemoveSnapshot deletes the copy snapshot id names.
func (r *Runtime) RemoveSnapshot(_ context.Context, id string) error {
	dir, err := r.snapshotPath(id)
	if err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

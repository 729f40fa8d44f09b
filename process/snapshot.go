//go:build linux

package process

import (
	"context"

	"github.com/tandem-dev/tandem/internal/snapshots"
)

func (r *Runtime) snapshots() snapshots.Store {
	return snapshots.Store{Dir: r.SnapshotDir, Prefix: "pg", Runtime: "process"}
}

// RemoveSnapshot deletes the copy snapshot id names.
func (r *Runtime) RemoveSnapshot(_ context.Context, id string) error {
	return r.snapshots().Remove(id)
}

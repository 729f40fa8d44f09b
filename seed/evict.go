package seed

import (
	"context"
	"os"
	"path/filepath"
	"regexp"

	"github.com/tandem-dev/tandem/internal/fsutil"
)

// keyName is what Plan.key makes: only such names in Dir are snapshots.
var keyName = regexp.MustCompile(`^[0-9a-f]{32}$`)

// Kept returns the keys of the snapshots kept for this runtime, each with
// the runtime's ids of its snapshots.
func (s *Snapshots) Kept() (map[string][]string, error) {
	entries, err := os.ReadDir(s.Dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	kept := map[string][]string{}
	for _, e := range entries {
		if !e.IsDir() || !keyName.MatchString(e.Name()) {
			continue
		}
		restore, err := s.read(e.Name())
		if err != nil {
			continue // being made, or made by another runtime
		}
		for _, id := range restore {
			kept[e.Name()] = append(kept[e.Name()], id)
		}
	}
	return kept, nil
}

// Evict removes the snapshots of key, as Remove does, unless they are
// being made or removed now, or idle, asked once nothing else can start
// using them, says something does. It reports whether it removed them.
func (s *Snapshots) Evict(ctx context.Context, key string, idle func() bool) (bool, error) {
	if !keyName.MatchString(key) {
		return false, nil
	}
	dir := filepath.Join(s.Dir, key)
	l, err := fsutil.TryLock(dir+".lock", false)
	if err != nil {
		return false, nil // Ensure or Remove holds it
	}
	defer l.Unlock()
	if !idle() {
		return false, nil
	}
	if restore, err := s.read(key); err == nil {
		for _, id := range restore {
			if err := s.Runtime.RemoveSnapshot(ctx, id); err != nil {
				return false, err
			}
		}
	}
	return true, os.RemoveAll(dir)
}

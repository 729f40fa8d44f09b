package build

import (
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/tandem-dev/tandem/internal/fsutil"
)

// Entries names what the cache keeps, relative to Dir: "out/web-KEY" (a
// build's outputs) and "deps/web-KEY" (a dependency folder).
func (c *Cache) Entries() ([]string, error) {
	var names []string
	for _, kind := range []string{"out", "deps"} {
		entries, err := os.ReadDir(filepath.Join(c.Dir, kind))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if e.IsDir() && !strings.HasPrefix(e.Name(), ".") && !strings.HasSuffix(e.Name(), ".new") {
				names = append(names, kind+"/"+e.Name())
			}
		}
	}
	sort.Strings(names)
	return names, nil
}

// Evict removes entry unless a build is making or copying it now, or
// idle, asked once no build can start using it, says something does. It
// reports whether it removed it. Work trees keep what they copied or linked.
func (c *Cache) Evict(entry string, idle func() bool) (bool, error) {
	kind, name, _ := strings.Cut(entry, "/")
	if kind != "out" && kind != "deps" || name == "" || !filepath.IsLocal(name) || strings.ContainsRune(name, '/') {
		return false, nil
	}
	dir := filepath.Join(c.Dir, kind, name)
	l, err := fsutil.TryLock(dir+".lock", false)
	if err != nil {
		return false, nil
	}
	defer l.Unlock()
	if !idle() {
		return false, nil
	}
	// Out of sight first, so no build finds half of it.
	gone := filepath.Join(c.Dir, kind, "."+name+".evicted")
	os.RemoveAll(gone)
	if err := os.Rename(dir, gone); err != nil {
		if os.IsNotExist(err) {
			return false, nil
		}
		return false, err
	}
	os.Remove(dir + ".replace")
	return true, os.RemoveAll(gone)
}

package preview

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tandem-dev/tandem/build"
	"github.com/tandem-dev/tandem/seed"
)

// Caches are a data directory's caches: build outputs and dependency
// folders (package build) and seeded database snapshots (package seed).
// Past a size limit the least recently used go first, and never one a
// preview uses: each generation of a preview records in its directory the
// entries it was made from (usesFile), before it uses a snapshot and as
// soon as a build is done, and an entry goes only while nothing builds or
// seeds with it and no record names it.
type Caches struct {
	DataDir   string
	Builds    *build.Cache
	Snapshots *seed.Snapshots
	// SnapshotPath is where the runtime keeps snapshot id, to weigh it;
	// nil, or "", weighs it as nothing.
	SnapshotPath func(id string) string

	mu    sync.Mutex
	sizes map[string]int64 // by path: an entry does not change once made
}

// CacheEntry is one thing the caches keep.
type CacheEntry struct {
	Kind  string    `json:"kind"` // "build" (outputs), "deps" (a dependency folder), "snapshot"
	Name  string    `json:"name"` // "web-3f2a…", or a snapshot's key
	Size  int64     `json:"size"` // bytes on disk, each file once
	Used  time.Time `json:"used"` // last made or used
	Users []string  `json:"users,omitempty"`

	path string   // its directory, whose time is Used
	more []string // the directories that make its size
}

// usesFile lists, in a generation's directory, the cache entries its
// instance was made from: "build web-KEY", "deps web-KEY", "snapshot KEY".
const usesFile = "cache-uses"

// use records that generation directory dir uses entries.
func use(dir string, entries ...string) error {
	if len(entries) == 0 {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(dir, usesFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	for _, e := range entries {
		fmt.Fprintln(f, e)
	}
	return f.Close()
}

// buildUses turns build.Result.Entries ("out/web-KEY") into use's words.
func buildUses(entries []string) []string {
	var out []string
	for _, e := range entries {
		kind, name, _ := strings.Cut(e, "/")
		if kind == "out" {
			kind = "build"
		}
		out = append(out, kind+" "+name)
	}
	return out
}

// users returns, by entry ("build web-KEY"), the previews whose
// generations record using it.
func (c *Caches) users() map[string][]string {
	users := map[string][]string{}
	files, _ := filepath.Glob(filepath.Join(c.DataDir, "previews", "*", "*", usesFile))
	for _, f := range files {
		name := filepath.Base(filepath.Dir(filepath.Dir(f)))
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			if e := strings.TrimSpace(sc.Text()); e != "" && !slices.Contains(users[e], name) {
				users[e] = append(users[e], name)
			}
		}
		fh.Close()
	}
	for _, u := range users {
		sort.Strings(u)
	}
	return users
}

// List returns what the caches keep, least recently used first.
func (c *Caches) List(ctx context.Context) ([]CacheEntry, error) {
	var list []CacheEntry
	names, err := c.Builds.Entries()
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		kind, name, _ := strings.Cut(n, "/")
		if kind == "out" {
			kind = "build"
		}
		p := filepath.Join(c.Builds.Dir, n)
		list = append(list, CacheEntry{Kind: kind, Name: name, path: p, more: []string{p}})
	}
	kept, err := c.Snapshots.Kept()
	if err != nil {
		return nil, err
	}
	for key, ids := range kept {
		e := CacheEntry{Kind: "snapshot", Name: key, path: filepath.Join(c.Snapshots.Dir, key)}
		for _, id := range ids {
			if c.SnapshotPath != nil && c.SnapshotPath(id) != "" {
				e.more = append(e.more, c.SnapshotPath(id))
			}
		}
		list = append(list, e)
	}
	users := c.users()
	for i := range list {
		e := &list[i]
		if fi, err := os.Stat(e.path); err == nil {
			e.Used = fi.ModTime()
		}
		for _, p := range e.more {
			e.Size += c.size(p)
		}
		e.Users = users[e.Kind+" "+e.Name]
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].Used.Before(list[j].Used) })
	return list, ctx.Err()
}

// size weighs the tree at p once, counting each file (each inode) once.
func (c *Caches) size(p string) int64 {
	c.mu.Lock()
	if n, ok := c.sizes[p]; ok {
		c.mu.Unlock()
		return n
	}
	c.mu.Unlock()
	var n int64
	seen := map[uint64]bool{}
	filepath.WalkDir(p, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		ino, bytes := fileID(fi)
		if ino == 0 || !seen[ino] {
			seen[ino] = true
			n += bytes
		}
		return nil
	})
	c.mu.Lock()
	if c.sizes == nil {
		c.sizes = map[string]int64{}
	}
	c.sizes[p] = n
	c.mu.Unlock()
	return n
}

// Prune removes entries, least recently used first, until the caches
// weigh at most limit; entries a preview uses, and those keep says to keep,
// stay. It returns what it removed.
func (c *Caches) Prune(ctx context.Context, limit int64, keep func(CacheEntry) bool) ([]CacheEntry, error) {
	list, err := c.List(ctx)
	if err != nil {
		return nil, err
	}
	var total int64
	for _, e := range list {
		total += e.Size
	}
	var removed []CacheEntry
	for _, e := range list {
		if total <= limit || ctx.Err() != nil {
			break
		}
		if len(e.Users) > 0 || keep != nil && keep(e) {
			continue
		}
		// Asked again under the entry's lock: a create may have recorded
		// it since the list was made.
		idle := func() bool { return len(c.users()[e.Kind+" "+e.Name]) == 0 }
		var gone bool
		switch e.Kind {
		case "snapshot":
			gone, err = c.Snapshots.Evict(ctx, e.Name, idle)
		default:
			kind := e.Kind
			if kind == "build" {
				kind = "out"
			}
			gone, err = c.Builds.Evict(kind+"/"+e.Name, idle)
		}
		if err != nil {
			return removed, fmt.Errorf("evict %s %s: %w", e.Kind, e.Name, err)
		}
		if gone {
			total -= e.Size
			removed = append(removed, e)
			c.mu.Lock()
			for _, p := range e.more {
				delete(c.sizes, p)
			}
			c.mu.Unlock()
		}
	}
	return removed, nil
}

// Caches returns the manager's caches, for tandem cache.
func (m *Manager) Caches() *Caches { return m.caches }

// pruneCaches keeps the caches within Options.CacheLimit. Besides what
// previews record using, it keeps what was used since the oldest create
// under way began: that create may have taken it and not said so yet.
func (m *Manager) pruneCaches(ctx context.Context) {
	if m.opts.CacheLimit <= 0 {
		return
	}
	m.prune.Lock()
	defer m.prune.Unlock()
	m.mu.Lock()
	var since time.Time
	for _, t := range m.begun {
		if since.IsZero() || t.Before(since) {
			since = t
		}
	}
	m.mu.Unlock()
	removed, err := m.caches.Prune(ctx, m.opts.CacheLimit, func(e CacheEntry) bool {
		return !since.IsZero() && !e.Used.Before(since)
	})
	for _, e := range removed {
		m.log.Info("cache: evicted", "kind", e.Kind, "name", e.Name, "size", e.Size, "used", e.Used)
	}
	if err != nil {
		m.log.Warn("cache: prune", "err", err)
	}
}

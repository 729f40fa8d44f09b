package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// sharedBuilds is one build cache for the package's tandem serve tests. The
// example's frontend takes a minute or more to build (npm ci, next build),
// and a dozen tests serve the same code: the first builds it, and each later
// server starts with a copy of every build made before in its data
// directory, as a tandem serve that has run for a while has. Tests about
// building itself (a kill during next build, a row seen building) use a
// server with cold set: it gets the dependency folders (npm ci's), not the
// outputs, so next build runs. Benchmarks share nothing.
var sharedBuilds struct {
	sync.Mutex
	dir string // made by TestMain
}

// shareBuilds fills the server's build cache from the shared one, and gives
// back what its builds add once the server has stopped.
func (s *server) shareBuilds() {
	if _, bench := s.t.(*testing.B); bench || sharedBuilds.dir == "" {
		return
	}
	mine := filepath.Join(s.dir, "data", "cache", "builds")
	kinds := []string{"out", "deps"}
	if s.cold {
		kinds = kinds[1:]
	}
	copyBuilds(s.t, sharedBuilds.dir, mine, kinds...)
	// Registered before the server's own cleanup, so it runs after it.
	s.t.Cleanup(func() { copyBuilds(s.t, mine, sharedBuilds.dir, "out", "deps") })
}

// copyBuilds copies the cache entries of the kinds given (out/NAME with its
// notes, deps/NAME) of from that to lacks, as they are: owners, modes and
// the hard links inside a dependency folder (cp -a).
func copyBuilds(t testing.TB, from, to string, kinds ...string) {
	sharedBuilds.Lock()
	defer sharedBuilds.Unlock()
	var copied []string
	defer func() {
		if len(copied) > 0 {
			t.Logf("shared build cache: %s copied to %s", strings.Join(copied, ", "), to)
		}
	}()
	for _, kind := range kinds {
		entries, err := os.ReadDir(filepath.Join(from, kind))
		if err != nil {
			continue
		}
		for _, e := range entries {
			n := e.Name()
			if strings.HasSuffix(n, ".lock") || strings.HasSuffix(n, ".new") {
				continue
			}
			dst := filepath.Join(to, kind, n)
			if _, err := os.Lstat(dst); err == nil {
				continue
			}
			os.MkdirAll(filepath.Join(to, kind), 0o700)
			if out, err := exec.Command("cp", "-a", filepath.Join(from, kind, n), dst+".copy").CombinedOutput(); err != nil {
				t.Logf("shared build cache: %v %s", err, out)
				os.RemoveAll(dst + ".copy")
				continue
			}
			os.Rename(dst+".copy", dst)
			copied = append(copied, kind+"/"+n)
		}
	}
}

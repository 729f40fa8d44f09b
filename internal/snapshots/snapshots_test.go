package snapshots

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "snaps")
	pg := Store{Dir: dir, Prefix: "pg", Runtime: "process"}
	id, path, err := pg.New()
	if err != nil || !strings.HasPrefix(id, "pg-") || path != filepath.Join(dir, id) {
		t.Fatalf("New: %q %q %v", id, path, err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("the store's directory: %v %v, want 0700", fi, err)
	}
	if got, err := pg.Path(id); err != nil || got != path {
		t.Errorf("Path(%q) = %q %v", id, got, err)
	}
	dk := "dk-" + strings.Repeat("0", 32)
	for _, bad := range []string{"", "../etc", "pg-../../x", "pg-" + strings.Repeat("0", 31), dk} {
		if _, err := pg.Path(bad); err == nil {
			t.Errorf("Path(%q) was not refused", bad)
		}
		if bad != dk && PathIn(dir, bad) != "" {
			t.Errorf("PathIn(%q) was not refused", bad)
		}
	}
	if PathIn(dir, dk) != filepath.Join(dir, dk) {
		t.Errorf("PathIn refuses the docker runtime's %q", dk)
	}
	os.MkdirAll(path, 0o700)
	if err := pg.Remove(id); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("Remove left %s: %v", path, err)
	}
}

package fsutil

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func tree(t *testing.T) string {
	src := filepath.Join(t.TempDir(), "src")
	for path, body := range map[string]string{"a.txt": "a", "sub/b.txt": "b", "sub/deep/c.txt": "c", "skip/x.txt": "x"} {
		p := filepath.Join(src, path)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(body), 0o640)
	}
	os.Chmod(filepath.Join(src, "sub", "b.txt"), 0o755)
	os.Chmod(filepath.Join(src, "sub"), 0o700)
	os.Symlink("a.txt", filepath.Join(src, "link"))
	return src
}

func TestCopyTree(t *testing.T) {
	src := tree(t)
	dst := filepath.Join(t.TempDir(), "out", "dst")
	if err := CopyTree(src, dst, Options{Skip: func(rel string) bool { return rel == "skip" }}); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{"a.txt": "a", "sub/b.txt": "b", "sub/deep/c.txt": "c", "link": "a"} {
		if b, err := os.ReadFile(filepath.Join(dst, path)); err != nil || string(b) != want {
			t.Errorf("%s: %q %v", path, b, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dst, "skip")); !os.IsNotExist(err) {
		t.Error("skipped directory copied")
	}
	if fi, _ := os.Stat(filepath.Join(dst, "sub", "b.txt")); fi.Mode().Perm() != 0o755 {
		t.Errorf("mode %v", fi.Mode())
	}
	if fi, _ := os.Stat(filepath.Join(dst, "sub")); fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v", fi.Mode())
	}
	if l, _ := os.Readlink(filepath.Join(dst, "link")); l != "a.txt" {
		t.Errorf("link %q", l)
	}
	// A copy, not the same file.
	os.WriteFile(filepath.Join(dst, "a.txt"), []byte("changed"), 0o640)
	if b, _ := os.ReadFile(filepath.Join(src, "a.txt")); string(b) != "a" {
		t.Error("writing the copy changed the source")
	}
	if err := CopyTree(src, dst, Options{}); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("copy over an existing dir: %v", err)
	}
	// Nothing half-made is left beside it.
	entries, _ := os.ReadDir(filepath.Dir(dst))
	if len(entries) != 1 {
		t.Errorf("left beside the copy: %v", entries)
	}
}

func TestCopyTreeLinks(t *testing.T) {
	src := tree(t)
	dst := filepath.Join(t.TempDir(), "dst")
	if err := CopyTree(src, dst, Options{Link: true}); err != nil {
		t.Fatal(err)
	}
	a, _ := os.Stat(filepath.Join(src, "a.txt"))
	b, _ := os.Stat(filepath.Join(dst, "a.txt"))
	if a.Sys().(*syscall.Stat_t).Ino != b.Sys().(*syscall.Stat_t).Ino {
		t.Error("not a hard link")
	}
}

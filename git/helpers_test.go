package git

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tandem-dev/tandem"
)

func newMirror(t *testing.T, r *repo) *Mirror {
	return NewMirror("shop", r.dir, filepath.Join(t.TempDir(), "repos", "shop.git"))
}

func write(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := writeFile(path, content, mode); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return !errors.Is(err, os.ErrNotExist)
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if tandem.ErrorCode(err) != code {
		t.Fatalf("error %v: code %q, want %q", err, tandem.ErrorCode(err), code)
	}
}

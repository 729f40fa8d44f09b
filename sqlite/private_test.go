package sqlite

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// The database holds every preview's secrets: it and the -wal and -shm
// SQLite makes beside it are the owner's alone, whatever the umask.
func TestFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0) // the most permissive: nothing may rely on it
	t.Cleanup(func() { syscall.Umask(old) })
	path := filepath.Join(t.TempDir(), "tandem.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.PutPreview(t.Context(), fullPreview("pr-1")); err != nil {
		t.Fatal(err)
	}
	if err := db.PutSecrets(t.Context(), "pr-1", map[string]string{"K": "v"}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		wantMode(t, f, 0o600)
	}
}

// An installation an older tandem left readable is fixed at start.
func TestOpenFixesModes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tandem.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.PutPreview(t.Context(), fullPreview("pr-1")); err != nil {
		t.Fatal(err)
	}
	if err := db.PutSecrets(t.Context(), "pr-1", map[string]string{"K": "v"}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(f, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	db2, err := Open(path) // a second opener while the first still runs, as after an upgrade
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	defer db.Close()
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		wantMode(t, f, 0o600)
	}
}

func wantMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %o, want %o", filepath.Base(path), got, want)
	}
}

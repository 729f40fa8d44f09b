package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// private makes the database file exist with mode 0600 before the driver
// opens it, and takes what an older tandem left readable back to 0600: the
// file holds every preview's secrets. SQLite gives the -wal and -shm files
// it creates later the database file's own mode, so they are private too;
// those already there are fixed here.
func private(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	defer f.Close()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		if err := os.Chmod(path+suffix, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("sqlite: %w", err)
		}
	}
	return nil
}

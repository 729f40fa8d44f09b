// Package snapshots keeps the runtimes' database snapshots on disk: one
// directory per snapshot, named by an id of the runtime's own making ("pg-"
// for the process runtime, "dk-" for the docker runtime, then 32 hex
// digits), so an id read back from a file can never lead outside the store.
package snapshots

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/internal/fsutil"
)

// DefaultDir keeps snapshots when the caller names no directory.
const DefaultDir = "/var/lib/tandem/snapshots"

var idPattern = regexp.MustCompile(`^(pg|dk|k8)-[0-9a-f]{32}$`)

// Store is one runtime's snapshots in Dir.
type Store struct {
	Dir     string // DefaultDir if empty
	Prefix  string // the runtime's ids start with Prefix and "-"
	Runtime string // the runtime's name, for errors
}

func (s Store) dir() string {
	if s.Dir != "" {
		return s.Dir
	}
	return DefaultDir
}

// Path is where snapshot id is kept; an id the runtime did not make is
// refused.
func (s Store) Path(id string) (string, error) {
	if !idPattern.MatchString(id) || !strings.HasPrefix(id, s.Prefix+"-") {
		return "", tandem.Errorf(tandem.EINVALID, "%q is not a snapshot of the %s runtime", id, s.Runtime)
	}
	return filepath.Join(s.dir(), id), nil
}

// New returns a fresh id and the directory (not yet made) for it, in a
// directory nobody else may read: snapshots hold databases.
func (s Store) New() (id, dir string, err error) {
	if err := os.MkdirAll(s.dir(), 0o700); err != nil {
		return "", "", err
	}
	if err := os.Chmod(s.dir(), 0o700); err != nil {
		return "", "", err
	}
	b := make([]byte, 16)
	rand.Read(b)
	id = s.Prefix + "-" + hex.EncodeToString(b)
	return id, filepath.Join(s.dir(), id), nil
}

// Remove deletes snapshot id.
func (s Store) Remove(id string) error {
	dir, err := s.Path(id)
	if err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

// PathIn is where any runtime keeping its snapshots in dir keeps id, or ""
// for an id no runtime makes.
func PathIn(dir, id string) string {
	if !idPattern.MatchString(id) {
		return ""
	}
	return filepath.Join(dir, id)
}

// TakePostgres keeps a copy of service's PostgreSQL data directory src, on
// this machine, whose server is not running, and returns its id: the
// docker and kubernetes runtimes keep their databases' data in the
// instance's directory, and snapshot it alike.
func (s Store) TakePostgres(service, src string) (string, error) {
	if isFile(filepath.Join(src, "postmaster.pid")) {
		return "", tandem.Errorf(tandem.ECONFLICT, "service %s: its server did not stop cleanly: start and stop it before taking a snapshot", service)
	}
	if !isFile(filepath.Join(src, "PG_VERSION")) {
		return "", tandem.Errorf(tandem.ENOTFOUND, "service %s has no data to snapshot", service)
	}
	id, dst, err := s.New()
	if err != nil {
		return "", err
	}
	if err := fsutil.CopyTree(src, dst, fsutil.Options{}); err != nil {
		os.RemoveAll(dst)
		return "", err
	}
	return id, nil
}

// RestorePostgres gives the data directory dst a copy of snapshot id, owners
// kept, unless dst holds a database already; it says whether it copied.
func (s Store) RestorePostgres(id, dst string) (bool, error) {
	src, err := s.Path(id)
	if err != nil {
		return false, err
	}
	if !isFile(filepath.Join(src, "PG_VERSION")) {
		return false, tandem.Errorf(tandem.ENOTFOUND, "snapshot %s is gone", id)
	}
	if isFile(filepath.Join(dst, "PG_VERSION")) {
		return false, nil
	}
	if err := os.RemoveAll(dst); err != nil {
		return false, err
	}
	if err := fsutil.CopyTree(src, dst, fsutil.Options{}); err != nil {
		os.RemoveAll(dst)
		return false, err
	}
	return true, nil
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

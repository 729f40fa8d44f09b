// Package fsutil copies directory trees: database snapshots and build
// outputs. No library in reach does what these need together: owners kept
// (PostgreSQL's files belong to its account), hard links on request, and a
// copy that appears whole or not at all.
package fsutil

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Options change how CopyTree copies.
type Options struct {
	// Link makes regular files hard links to the source's instead of
	// copies: instant, and only safe where nobody writes into them in place.
	Link bool
	// Skip leaves out an entry (and all below it, for a directory); rel is
	// its path relative to the source.
	Skip func(rel string) bool
}

// CopyTree copies the directory src to dst, which must not exist, keeping
// modes, owners (when allowed), modification times and symbolic links. It
// copies into a sibling of dst and renames it into place, so a crash
// leaves dst whole or absent.
func CopyTree(src, dst string, o Options) error {
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("copy %s: %s exists", src, dst)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-")
	if err != nil {
		return err
	}
	if err := copyInto(src, tmp, o); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	return nil
}

func copyInto(src, dst string, o Options) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if rel != "." && o.Skip != nil && o.Skip(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if rel != "." {
				if err := os.Mkdir(target, 0o700); err != nil {
					return err
				}
			}
		case info.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := os.Symlink(link, target); err != nil {
				return err
			}
			return lchown(target, info)
		case info.Mode().IsRegular():
			if o.Link {
				return os.Link(p, target)
			}
			if err := copyFile(p, target, info); err != nil {
				return err
			}
		default:
			return nil // sockets, pipes, devices: not content
		}
		return finish(target, info)
	})
}

// finish gives target the mode, owner and times of info. Directories are
// finished as they are made: their own times change as entries go in, and
// only matter to nobody here.
func finish(target string, info fs.FileInfo) error {
	if err := lchown(target, info); err != nil {
		return err
	}
	if err := os.Chmod(target, info.Mode().Perm()|info.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
		return err
	}
	if info.IsDir() {
		return nil
	}
	return os.Chtimes(target, info.ModTime(), info.ModTime())
}

// CopyFile copies the regular file src to dst, which must not exist, with
// its mode, owner and modification time.
func CopyFile(src, dst string) error {
	info, err := os.Lstat(src)
	if err != nil {
		return err
	}
	if err := copyFile(src, dst, info); err != nil {
		return err
	}
	return finish(dst, info)
}

func copyFile(src, dst string, info fs.FileInfo) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

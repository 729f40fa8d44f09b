//go:build unix

package build

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// cacheOwner owns the cache's files that work trees link to: the kernel's
// overflow id, which no sandbox maps. A sandbox mounts a work tree
// idmapped (its owner's files appear as the instance's user's); a link
// into the cache owned by the tree's owner would let one preview's services
// rewrite a file every preview shares. Owned by nobody they read it, and
// cannot write it.
const cacheOwner = 65534

// disown gives the regular files under dir, which work trees will link
// to, to cacheOwner, unless that is done already.
func disown(dir string) error {
	var st syscall.Stat_t
	if err := syscall.Lstat(dir, &st); err != nil || st.Uid == cacheOwner {
		return err
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		return os.Lchown(p, cacheOwner, cacheOwner)
	})
	if err != nil {
		return err
	}
	return os.Lchown(dir, cacheOwner, cacheOwner) // done
}

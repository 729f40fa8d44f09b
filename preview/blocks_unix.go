//go:build unix

package preview

import (
	"io/fs"
	"syscall"
)

// fileID is a file's inode and the bytes it takes on disk, so that a file
// with several links is weighed once.
func fileID(fi fs.FileInfo) (uint64, int64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino), int64(st.Blocks) * 512
	}
	return 0, fi.Size()
}

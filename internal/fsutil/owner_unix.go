//go:build unix

package fsutil

import (
	"io/fs"
	"os"
	"syscall"
)

// lchown keeps the owner where this process may set it (as root), and lets
// it be otherwise.
func lchown(target string, info fs.FileInfo) error {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok || os.Geteuid() != 0 {
		return nil
	}
	return os.Lchown(target, int(st.Uid), int(st.Gid))
}

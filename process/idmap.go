//go:build linux

package process

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// A work tree belongs to someone else than the instance's user: root (a
// preview's checkout, CI), or the developer. Its mount in the sandbox is
// idmapped: the tree's owner appears as the instance's user, so a service
// writes there as it would in its own directory, and what it writes lands
// on the host owned by the tree's owner. No file changes owner.

// usernsHelper is the name tandem runs itself under to hold a user
// namespace open while its mapping is written and its fd taken.
const usernsHelper = "tandem-userns"

// newIDMap returns a user namespace that maps the host ids uid:gid (a
// tree's owner) to id (an instance's user), as an open fd: what
// mount_setattr takes for an idmapped mount. It lasts while the fd is open.
func newIDMap(uid, gid, id int) (*os.File, error) {
	cmd := exec.Command("/proc/self/exe")
	cmd.Args = []string{usernsHelper}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: uid, HostID: id, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: gid, HostID: id, Size: 1}},
		Pdeathsig:   syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("user namespace for an idmapped mount: %w", err)
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/ns/user", cmd.Process.Pid))
	in.Close()
	cmd.Wait()
	if err != nil {
		return nil, fmt.Errorf("user namespace for an idmapped mount: %w", err)
	}
	return f, nil
}

// usernsHelperMain holds the namespace until tandem closes its stdin.
func usernsHelperMain() {
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// idmapSupport remembers, per file system, whether it takes idmapped
// mounts (ext4, xfs, btrfs and tmpfs do on recent kernels; NFS, FUSE and
// overlayfs on older ones do not).
var idmapSupport sync.Map // device → bool

// canIDMap reports whether path's file system takes an idmapped mount with
// userns, by trying one (detached, so nothing is mounted anywhere).
func canIDMap(path string, userns *os.File) bool {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return false
	}
	if ok, known := idmapSupport.Load(st.Dev); known {
		return ok.(bool)
	}
	ok := false
	if fd, err := unix.OpenTree(unix.AT_FDCWD, path, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC); err == nil {
		ok = unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(userns.Fd())}) == nil
		unix.Close(fd)
	}
	idmapSupport.Store(st.Dev, ok)
	return ok
}

//go:build linux

package process

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"

	"golang.org/x/sys/unix"
)

// mount is one entry of a sandbox's file system, as the shim makes it on a
// fresh tmpfs root, in order (a parent before what is mounted inside it).
type mount struct {
	Dst  string `json:"dst"`  // in the sandbox
	Kind string `json:"kind"` // see the kind* constants
	Src  string `json:"src,omitempty"`
	RO   bool   `json:"ro,omitempty"`
	// IDMap is the fd of a user namespace whose mapping the bind gets (its
	// owner's files appear as the sandbox's user's); 0 for none.
	IDMap int `json:"idmap,omitempty"`
	// FD is, for kindClone, the fd of a detached mount held by tandem (a
	// service's /tmp, shared with its healthchecks).
	FD int `json:"fd,omitempty"`
	// Data is a tmpfs's options, a link's target, /dev/shm's size.
	Data string `json:"data,omitempty"`
}

const (
	kindBind  = "bind"  // Src, a host path with no symlinks, recursively
	kindClone = "clone" // a copy of the detached mount FD
	kindTmpfs = "tmpfs" // an empty tmpfs with options Data
	kindLink  = "link"  // a symlink to Data
	kindMask  = "mask"  // hides what is at Dst: an empty read-only directory, or /dev/null
	kindDev   = "dev"   // a minimal /dev
	kindProc  = "proc"  // the PID namespace's own /proc, with the kernel's knobs read-only
	kindSys   = "sysfs" // a read-only /sys
)

// stage is where the new root is built before pivot_root. Everything the
// sandbox binds from the host is opened before it is covered.
const stage = "/tmp"

// buildRoot makes the sandbox's file system and moves the shim into it.
func buildRoot(ms []mount) error {
	trees := make([]int, len(ms))
	for i := range trees {
		trees[i] = -1
	}
	for i, m := range ms {
		fd, err := detach(m)
		if err != nil {
			return err
		}
		trees[i] = fd
	}
	if err := unix.Mount("tmpfs", stage, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=755,size=1m"); err != nil {
		return fmt.Errorf("root tmpfs: %w", err)
	}
	root, err := unix.Open(stage, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	r := &rootFS{root: root, ours: map[uint64]bool{}}
	r.own(root)
	for i, m := range ms {
		if err := r.place(m, trees[i]); err != nil {
			return fmt.Errorf("%s %s: %w", m.Kind, m.Dst, err)
		}
	}
	unix.Close(root)
	if err := unix.Chdir(stage); err != nil {
		return err
	}
	// The old root goes under the new one, and is detached from there.
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach the old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	return unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, "")
}

// detach opens what a bind or clone mounts, as a detached mount with its
// attributes set: read-only, idmapped, never setuid or devices.
func detach(m mount) (int, error) {
	var fd int
	switch m.Kind {
	case kindBind:
		// The path was resolved by tandem: a symlink now means someone
		// swapped one in, and is refused.
		p, err := unix.Openat2(unix.AT_FDCWD, m.Src, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_NO_SYMLINKS})
		if err != nil {
			return -1, fmt.Errorf("open %s: %w", m.Src, err)
		}
		fd, err = unix.OpenTree(p, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH|unix.AT_RECURSIVE)
		unix.Close(p)
		if err != nil {
			return -1, fmt.Errorf("open_tree %s: %w", m.Src, err)
		}
	case kindClone:
		var err error
		if fd, err = unix.OpenTree(m.FD, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH); err != nil {
			return -1, fmt.Errorf("clone %s: %w", m.Dst, err)
		}
	default:
		return -1, nil
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
	if m.RO {
		attr.Attr_set |= unix.MOUNT_ATTR_RDONLY
	}
	if m.IDMap > 0 {
		attr.Attr_set |= unix.MOUNT_ATTR_IDMAP
		attr.Userns_fd = uint64(m.IDMap)
	}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("set attributes of %s: %w", m.Dst, err)
	}
	return fd, nil
}

// rootFS is the root being built. Every path in it is resolved inside it
// (an absolute symlink must not lead to the host's directories before
// pivot_root), and mount points are made only on the tmpfs mounts the
// shim made itself (ours): never on a host directory.
type rootFS struct {
	root int
	ours map[uint64]bool
}

func (r *rootFS) own(fd int) {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) == nil {
		r.ours[st.Dev] = true
	}
}

// open resolves p inside the root.
func (r *rootFS) open(p string) (int, error) {
	return unix.Openat2(r.root, p, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
}

// at is the path mount(2) takes for an fd: the magic link to it.
func at(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

func (r *rootFS) place(m mount, tree int) error {
	switch m.Kind {
	case kindLink:
		dir, err := r.ensure(path.Dir(m.Dst), true)
		if err != nil {
			return err
		}
		defer unix.Close(dir)
		return unix.Symlinkat(m.Data, dir, path.Base(m.Dst))
	case kindMask:
		fd, err := r.open(m.Dst)
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return mask(at(fd))
	}
	var st unix.Stat_t
	if tree >= 0 {
		if err := unix.Fstat(tree, &st); err != nil {
			return err
		}
	}
	fd, err := r.ensure(m.Dst, tree < 0 || st.Mode&unix.S_IFMT == unix.S_IFDIR)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	switch m.Kind {
	case kindBind, kindClone:
		defer unix.Close(tree)
		if err := unix.MoveMount(tree, "", fd, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
			return err
		}
		if m.Kind == kindClone { // a tmpfs of tandem's
			return r.owned(m.Dst)
		}
		return nil
	case kindTmpfs:
		if err := unix.Mount("tmpfs", at(fd), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, m.Data); err != nil {
			return err
		}
		return r.owned(m.Dst)
	case kindDev:
		return r.dev(fd, m.Dst, m.Data)
	case kindProc:
		if err := unix.Mount("proc", at(fd), "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			return err
		}
		return guardProc(stage + m.Dst)
	case kindSys:
		if err := unix.Mount("sysfs", at(fd), "sysfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			return err
		}
		return mask(stage + m.Dst + "/firmware")
	}
	return fmt.Errorf("unknown kind %q", m.Kind)
}

// owned records the tmpfs just mounted at p as the shim's own.
func (r *rootFS) owned(p string) error {
	fd, err := r.open(p)
	if err != nil {
		return err
	}
	r.own(fd)
	return unix.Close(fd)
}

// ensure opens p, making it first (a directory or an empty file) if it is
// not there, which it may do only on a tmpfs of the shim's own.
func (r *rootFS) ensure(p string, dir bool) (int, error) {
	fd, err := r.open(p)
	if !errors.Is(err, unix.ENOENT) {
		return fd, err
	}
	parent, err := r.ensure(path.Dir(p), true)
	if err != nil {
		return -1, err
	}
	defer unix.Close(parent)
	var st unix.Stat_t
	if err := unix.Fstat(parent, &st); err != nil {
		return -1, err
	}
	if !r.ours[st.Dev] {
		return -1, fmt.Errorf("%s does not exist in the sandbox, and cannot be made in the host directory mounted at %s", p, path.Dir(p))
	}
	// O_PATH fds do not take mkdirat: the directory, opened for real.
	pd, err := unix.Openat2(r.root, path.Dir(p), &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
	if err != nil {
		return -1, err
	}
	defer unix.Close(pd)
	if dir {
		err = unix.Mkdirat(pd, path.Base(p), 0o755)
	} else {
		var f int
		if f, err = unix.Openat(pd, path.Base(p), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o644); err == nil {
			unix.Close(f)
		}
	}
	if err != nil {
		return -1, err
	}
	return r.open(p)
}

// mask hides p: a directory under an empty read-only tmpfs, a file under
// the sandbox's /dev/null.
func mask(p string) error {
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return unix.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=4k,nr_inodes=1,mode=000")
	}
	return unix.Mount(stage+"/dev/null", p, "", unix.MS_BIND, "")
}

// guardProc does what container runtimes do to /proc: the kernel's knobs
// read-only, and what tells of the host (its memory, keys, timers) hidden.
func guardProc(p string) error {
	for _, name := range []string{"bus", "fs", "irq", "sys", "sysrq-trigger"} {
		d := p + "/" + name
		if _, err := os.Stat(d); err != nil {
			continue
		}
		if err := unix.Mount(d, d, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return err
		}
		if err := unix.Mount("", d, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			return err
		}
	}
	for _, name := range []string{"acpi", "asound", "kcore", "keys", "latency_stats", "sched_debug", "scsi", "timer_list", "timer_stats"} {
		if err := mask(p + "/" + name); err != nil {
			return err
		}
	}
	return nil
}

// dev makes a minimal /dev on fd (at p): the usual character devices, a
// private /dev/shm of shm bytes, a /dev/pts of its own.
func (r *rootFS) dev(fd int, p, shm string) error {
	if err := unix.Mount("tmpfs", at(fd), "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=755,size=64k"); err != nil {
		return err
	}
	d := stage + p // a fresh tmpfs of ours: no symlink on the way
	for _, n := range []struct {
		name         string
		major, minor uint32
	}{{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}} {
		if err := unix.Mknod(d+"/"+n.name, unix.S_IFCHR|0o666, int(unix.Mkdev(n.major, n.minor))); err != nil {
			return err
		}
		if err := unix.Chmod(d+"/"+n.name, 0o666); err != nil { // whatever the umask
			return err
		}
	}
	for _, l := range [][2]string{{"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"},
		{"stderr", "/proc/self/fd/2"}, {"ptmx", "pts/ptmx"}} {
		if err := unix.Symlink(l[1], d+"/"+l[0]); err != nil {
			return err
		}
	}
	for _, sub := range []string{"shm", "pts"} {
		if err := unix.Mkdir(d+"/"+sub, 0o755); err != nil {
			return err
		}
	}
	if err := unix.Mount("tmpfs", d+"/shm", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777,size="+shm); err != nil {
		return err
	}
	return unix.Mount("devpts", d+"/pts", "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620")
}

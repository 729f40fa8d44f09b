//go:build linux

package process

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/tandem-dev/tandem"
)

// runBox is the sandbox of one Run: a user of its own for the run, a home,
// account files, the idmapping of its directory, a cgroup if it has limits.
type runBox struct {
	user  *identity
	tmp   string // root's: home/, passwd, group
	cg    *cgroup
	idmap *os.File
	plan  *plan
	cfg   shimConfig
}

func newBuildBox(c Cmd) (b *runBox, err error) {
	if err := Available(); err != nil {
		return nil, err
	}
	sweepCgroups()
	b = &runBox{}
	defer func() {
		if err != nil {
			b.close()
		}
	}()
	if b.user, err = transientID(); err != nil {
		return nil, err
	}
	id := b.user.id
	if b.tmp, err = os.MkdirTemp("", "tandem-run-"); err != nil {
		return nil, err
	}
	home := filepath.Join(b.tmp, "home")
	if err := mkdirOwned(home, 0o700, id); err != nil {
		return nil, err
	}
	if err := writeAccounts(b.tmp, id); err != nil {
		return nil, err
	}
	b.plan = basePlan()
	b.plan.mounts = append(append(b.plan.mounts, accountMounts(b.tmp)...), resolverMounts()...)
	b.plan.mounts = append(b.plan.mounts, mount{Dst: "/tmp", Kind: kindTmpfs, Data: "mode=1777,size=1g"})
	b.plan.mounts = append(b.plan.mounts, mount{Dst: sandboxHome, Kind: kindBind, Src: home})
	dir := "/"
	if c.Dir != "" {
		if dir, err = filepath.Abs(c.Dir); err != nil {
			return nil, err
		}
		if err := b.mountDir(dir, c.Stderr); err != nil {
			return nil, err
		}
	}
	if !c.Limits.IsZero() {
		g, err := cgroups().create(cgroupRoot + "/u" + strconv.Itoa(id))
		if err != nil {
			say(c.Stderr, "tandem: limits not applied to %s: %v", c.Argv[0], err)
		} else {
			b.cg = g
			for _, m := range g.limit(c.Limits) {
				say(c.Stderr, "tandem: %s: %s", c.Argv[0], m)
			}
		}
	}
	b.cfg = shimConfig{Argv: c.Argv, Env: userEnv(c.Env), Dir: dir, UID: id, GID: id,
		Cgroups: b.cg.procs(c.Limits.CPUs > 0), Mounts: b.plan.all(), HostNetwork: true}
	return b, nil
}

// mountDir makes dir the one host directory the run may write, idmapped
// to its user; where the file system cannot, read-only, and says so.
func (b *runBox) mountDir(dir string, stderr io.Writer) error {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	if unsafeTree(real) {
		return tandem.Errorf(tandem.EINVALID, "%s is a system directory: a sandboxed command may not write there", dir)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(real, &st); err != nil {
		return err
	}
	m := mount{Dst: dir, Kind: kindBind, Src: real}
	if int(st.Uid) != b.user.id || int(st.Gid) != b.user.id {
		if b.idmap, err = newIDMap(int(st.Uid), int(st.Gid), b.user.id); err != nil {
			return err
		}
		if canIDMap(real, b.idmap) {
			m.IDMap = b.plan.fd(b.idmap)
		} else {
			m.RO = true
			say(stderr, "tandem: %s is on a file system without idmapped mounts: the command runs with it read-only", dir)
		}
	}
	b.plan.mounts = append(b.plan.mounts, m)
	b.plan.hide(filepath.Join(real, ".tandem"))
	return nil
}

func (b *runBox) close() {
	b.cg.remove()
	if b.idmap != nil {
		b.idmap.Close()
	}
	if b.tmp != "" {
		os.RemoveAll(b.tmp)
	}
	b.user.release(true)
}

// mkdirOwned makes dir (if need be) with mode, owned by id.
func mkdirOwned(dir string, mode os.FileMode, id int) error {
	if err := os.MkdirAll(dir, mode); err != nil {
		return err
	}
	if err := os.Chmod(dir, mode); err != nil {
		return err
	}
	return os.Lchown(dir, id, id)
}

// say writes a line of tandem's to w, if there is a w.
func say(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format+"\n", args...)
	}
}

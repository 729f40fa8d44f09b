//go:build linux

package process

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/tandem-dev/tandem"
)

// An instance's data directory, private to root, holds:
//
//	uid                the instance's user id, kept across restarts
//	run/               hosts, passwd, group (the sandbox's /etc files)
//	run/postgresql/    the PostgreSQL socket directory (the instance's, 0700)
//	home/              the services' HOME (the instance's, 0700)
//	services/S/pgN/    a postgres service's data (the instance's, 0700)
//	volumes/NAME/      named volumes (the instance's)
//
// Its services see none of it but those, mounted where they belong.

// serviceBox is what a service's processes share: its cgroup (its
// healthchecks and seed commands count against its limits) and its /tmp.
type serviceBox struct {
	cg    *cgroup
	tmp   *os.File // a detached tmpfs each shim of the service mounts
	notes []string
}

// serviceTmp is the size of a service's /tmp; its pages count against
// its memory limit too.
const serviceTmp = "512m"

func makeSandbox(r *Runtime, spec tandem.SandboxSpec, ns *os.File) (_ *Sandbox, err error) {
	sweepCgroups()
	data, err := privateDir(spec.DataDir)
	if err != nil {
		return nil, err
	}
	s := &Sandbox{rt: r, spec: spec, data: data, runDir: filepath.Join(data, "run"),
		procs: map[*proc]struct{}{}, services: map[string]*serviceBox{}, idmaps: map[[2]int]*os.File{}, said: map[string]bool{}}
	defer func() {
		if err != nil {
			s.release()
			if s.ns != nil {
				s.ns.Close()
			}
		}
	}()
	old, _ := recordedID(data)
	if s.user, err = instanceID(data); err != nil {
		return nil, err
	}
	if old != 0 && old != s.user.id {
		// A copy of another instance's data: the files become this one's.
		if err := rechown(data, old, s.user.id); err != nil {
			return nil, err
		}
	}
	if spec.WorkTree != "" {
		if s.tree, err = filepath.Abs(spec.WorkTree); err == nil {
			s.tree, err = filepath.EvalSymlinks(s.tree)
		}
		if err != nil {
			return nil, tandem.Errorf(tandem.EINVALID, "instance %s: work tree: %w", spec.Name, err)
		}
		if unsafeTree(s.tree) {
			return nil, tandem.Errorf(tandem.EINVALID, "instance %s: %s is a system directory, not a work tree a sandbox may write", spec.Name, s.tree)
		}
	}
	if err := s.prepareFiles(); err != nil {
		return nil, err
	}
	s.cg, s.notes = instanceCgroup(cgroups(), s.user.id, spec.Limits)
	if s.ns = ns; ns == nil {
		if s.ns, err = newNetns(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// privateDir makes dir, readable by root alone, and returns it absolute
// with its symlinks resolved.
func privateDir(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(dir)
}

// prepareFiles writes what the sandbox's /etc takes from the instance, and
// makes the directories its user owns.
func (s *Sandbox) prepareFiles() error {
	id := s.user.id
	if _, err := privateDir(s.runDir); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(s.runDir, "hosts"), hostsFile(s.spec.Services), 0o644); err != nil {
		return err
	}
	if err := writeAccounts(s.runDir, id); err != nil {
		return err
	}
	s.pgSocket = filepath.Join(s.runDir, "postgresql")
	if err := mkdirOwned(s.pgSocket, 0o700, id); err != nil {
		return err
	}
	return mkdirOwned(filepath.Join(s.data, "home"), 0o700, id)
}

// instanceCgroup makes the instance's cgroup with its limits, and says
// what of them could not be applied.
func instanceCgroup(fs *cgroupFS, id int, l tandem.Limits) (*cgroup, []string) {
	g, err := fs.create(cgroupRoot + "/u" + strconv.Itoa(id))
	if err != nil {
		if l.IsZero() {
			return nil, nil
		}
		return nil, []string{fmt.Sprintf("limits %s not applied: %v", describe(l), err)}
	}
	return g, g.limit(l)
}

func describe(l tandem.Limits) string {
	return fmt.Sprintf("(memory %s, cpus %g, pids %d)", sizeString(l.Memory), l.CPUs, l.Pids)
}

// release undoes what newSandbox made, but the data and its user's record.
func (s *Sandbox) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.services {
		b.cg.remove()
		if b.tmp != nil {
			b.tmp.Close()
		}
	}
	s.services = map[string]*serviceBox{}
	s.cg.remove()
	for k, f := range s.idmaps {
		f.Close()
		delete(s.idmaps, k)
	}
	s.user.release(false)
}

var cgroupName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// service returns what the service's processes share, made on first use.
func (s *Sandbox) service(svc *tandem.Service) *serviceBox {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.services[svc.Name]; b != nil {
		return b
	}
	b := &serviceBox{}
	if s.closed {
		return b // what it runs is refused; nothing to make
	}
	s.services[svc.Name] = b
	if s.cg != nil {
		name := svc.Name
		if !cgroupName.MatchString(name) {
			h := sha256.Sum256([]byte(name))
			name = hex.EncodeToString(h[:8])
		}
		g, err := s.cg.fs.create(s.cg.rel + "/s-" + name)
		if err != nil {
			b.notes = append(b.notes, fmt.Sprintf("no cgroup of its own (%v): the instance's limits do not bound it", err))
		} else {
			b.cg = g
			b.notes = g.limit(svc.Limits)
		}
	} else if !svc.Limits.IsZero() {
		b.notes = append(b.notes, fmt.Sprintf("limits %s not applied: the instance has no cgroup", describe(svc.Limits)))
	}
	b.tmp, _ = newTmpfs(serviceTmp)
	return b
}

// newTmpfs makes a tmpfs that is mounted nowhere: each shim of a service
// mounts a clone of it as /tmp, so the service and its healthchecks share
// one, as processes of a container do, and nothing of it is on the host.
func newTmpfs(size string) (*os.File, error) {
	fs, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fs)
	for _, kv := range [][2]string{{"mode", "1777"}, {"size", size}} {
		if err := unix.FsconfigSetString(fs, kv[0], kv[1]); err != nil {
			return nil, err
		}
	}
	if err := unix.FsconfigCreate(fs); err != nil {
		return nil, err
	}
	m, err := unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(m), "tmpfs"), nil
}

// config is how the shim runs argv for svc: as the instance's user, in
// the instance's cgroup, network and file system. What the sandbox cannot
// do as asked (limits, idmapped mounts) is said once on stderr.
func (s *Sandbox) config(svc *tandem.Service, argv []string, stderr io.Writer) (shimConfig, *plan, error) {
	box := s.service(svc)
	p := basePlan()
	tmp := mount{Dst: "/tmp", Kind: kindTmpfs, Data: "mode=1777,size=" + serviceTmp}
	if box.tmp != nil {
		tmp = mount{Dst: "/tmp", Kind: kindClone, FD: p.fd(box.tmp)}
	}
	p.mounts = append(append(p.mounts, tmp,
		mount{Dst: "/etc/hosts", Kind: kindBind, Src: filepath.Join(s.runDir, "hosts"), RO: true},
		mount{Dst: "/run/postgresql", Kind: kindBind, Src: s.pgSocket},
		mount{Dst: sandboxHome, Kind: kindBind, Src: filepath.Join(s.data, "home")}),
		accountMounts(s.runDir)...)
	notes, err := s.serviceMounts(p, svc)
	if err != nil {
		return shimConfig{}, nil, err
	}
	p.hide(s.data)
	for _, n := range s.notes {
		s.sayOnce(stderr, "instance", "tandem: instance %s: %s", s.spec.Name, n)
	}
	for _, n := range append(box.notes, notes...) {
		s.sayOnce(stderr, svc.Name+" "+n, "tandem: instance %s, service %s: %s", s.spec.Name, svc.Name, n)
	}
	cfg := shimConfig{
		Argv:    argv,
		Env:     mergeEnv(userEnv(baseEnv()), append([]string{"HOSTNAME=" + svc.Name}, svc.Env()...)...),
		Dir:     workDir(svc),
		UID:     s.user.id,
		GID:     s.user.id,
		Cgroups: box.cg.procs(s.spec.Limits.CPUs > 0 || svc.Limits.CPUs > 0),
	}
	if len(svc.Name) <= 63 {
		cfg.Hostname = svc.Name
	}
	return cfg, p, nil
}

// sayOnce writes a line to w the first time key is said, once w is given.
func (s *Sandbox) sayOnce(w io.Writer, key, format string, args ...any) {
	if w == nil {
		return
	}
	line := fmt.Sprintf(format, args...)
	s.mu.Lock()
	seen := s.said[key+line]
	s.said[key+line] = true
	s.mu.Unlock()
	if !seen {
		fmt.Fprintln(w, line)
	}
}

// serviceMounts adds svc's build context and its Compose volumes: binds
// from the work tree (idmapped) and named volumes of the instance's.
func (s *Sandbox) serviceMounts(p *plan, svc *tandem.Service) (notes []string, err error) {
	add := func(note string, err error) error {
		if note != "" {
			notes = append(notes, note)
		}
		return err
	}
	if c := svc.Context; c != "" && c != "/" {
		if err := add(s.treeMount(p, svc.Name, c, path.Clean(c), false)); err != nil {
			return nil, err
		}
	}
	for _, m := range svc.Mounts {
		target, err := checkTarget(svc.Name, m.Target)
		if err != nil {
			return nil, tandem.Errorf(tandem.EINVALID, "%w", err)
		}
		switch m.Type {
		case "bind":
			err = add(s.treeMount(p, svc.Name, m.Source, target, m.ReadOnly))
		case "volume":
			var dir string
			if dir, err = s.volume(svc.Name, m.Source); err == nil {
				p.mounts = append(p.mounts, mount{Dst: target, Kind: kindBind, Src: dir, RO: m.ReadOnly})
			}
		}
		if err != nil {
			return nil, err
		}
	}
	return notes, nil
}

// treeMount adds src, which must be in the work tree, at dst: idmapped so
// that its owner's files are the instance user's, or read-only where the
// file system cannot (and says so).
func (s *Sandbox) treeMount(p *plan, service, src, dst string, ro bool) (string, error) {
	real, err := filepath.EvalSymlinks(src)
	if err != nil {
		return "", tandem.Errorf(tandem.EINVALID, "service %s: %w", service, err)
	}
	if s.tree == "" {
		return "", tandem.Errorf(tandem.EINVALID, "service %s: %s is a host directory, and instance %s has no work tree to mount it from", service, src, s.spec.Name)
	}
	if _, ok := within(real, s.tree); !ok || unsafeTree(real) {
		return "", tandem.Errorf(tandem.EINVALID, "service %s: %s is outside the work tree %s: a sandboxed service sees only the work tree", service, src, s.tree)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(real, &st); err != nil {
		return "", err
	}
	m := mount{Dst: dst, Kind: kindBind, Src: real, RO: ro}
	note := ""
	if id := s.user.id; int(st.Uid) != id || int(st.Gid) != id {
		ns, err := s.idmap(int(st.Uid), int(st.Gid))
		if err != nil {
			return "", err
		}
		if canIDMap(real, ns) {
			m.IDMap = p.fd(ns)
		} else if !ro {
			m.RO = true
			note = fmt.Sprintf("%s is on a file system without idmapped mounts: the service sees it read-only", src)
		}
	}
	p.mounts = append(p.mounts, m)
	return note, nil
}

// idmap returns the user namespace that maps uid:gid to the instance's user.
func (s *Sandbox) idmap(uid, gid int) (*os.File, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.idmaps[[2]int{uid, gid}]; f != nil {
		return f, nil
	}
	f, err := newIDMap(uid, gid, s.user.id)
	if err != nil {
		return nil, err
	}
	s.idmaps[[2]int{uid, gid}] = f
	return f, nil
}

// volume returns the directory of the named volume, made on first use.
func (s *Sandbox) volume(service, name string) (string, error) {
	if name == "" || name == "." || name == ".." || filepath.Base(name) != name {
		return "", tandem.Errorf(tandem.EINVALID, "service %s: volume name %q", service, name)
	}
	dir := filepath.Join(s.data, "volumes", name)
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	if _, err := privateDir(filepath.Dir(dir)); err != nil {
		return "", err
	}
	return dir, mkdirOwned(dir, 0o755, s.user.id)
}

// rechown gives the files of user old under dir to user id.
func rechown(dir string, old, id int) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && int(st.Uid) == old {
			return os.Lchown(p, id, id)
		}
		return nil
	})
}

// chownTree gives every file under dir to uid:gid.
func chownTree(dir string, uid, gid int) error {
	return filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

var (
	cgroupOnce sync.Once
	cgroupMnt  *cgroupFS
)

// cgroups is the machine's cgroup file systems, read once.
func cgroups() *cgroupFS {
	cgroupOnce.Do(func() { cgroupMnt = detectCgroups() })
	return cgroupMnt
}

var sweepOnce sync.Once

// sweepCgroups removes, once per process, what a tandem killed left.
func sweepCgroups() { sweepOnce.Do(func() { cgroups().sweep() }) }

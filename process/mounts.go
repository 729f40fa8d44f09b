//go:build linux

package process

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// plan is what a shim is given to build the sandbox's file system: its
// mounts, and the files they refer to, passed from fd shimFirstFile on.
type plan struct {
	fixed   []mount // the system, /dev, /proc, /sys: in this order, first
	mounts  []mount // the rest, sorted by where they go before use
	files   []*os.File
	visible []string // host paths a work tree makes visible, for masks
}

// fd returns the shim's fd number for f.
func (p *plan) fd(f *os.File) int {
	for i, g := range p.files {
		if g == f {
			return shimFirstFile + i
		}
	}
	p.files = append(p.files, f)
	return shimFirstFile + len(p.files) - 1
}

// all returns the mounts in the order the shim makes them: a directory
// before what is mounted inside it.
func (p *plan) all() []mount {
	rest := append([]mount(nil), p.mounts...)
	sort.SliceStable(rest, func(i, j int) bool { return rest[i].Dst < rest[j].Dst })
	return append(append([]mount(nil), p.fixed...), rest...)
}

// hide masks host path dir wherever a mount made it visible: a data
// directory inside the project (tandem up's .tandem) stays out of reach.
func (p *plan) hide(dir string) {
	for _, m := range append(append([]mount(nil), p.fixed...), p.mounts...) {
		if m.Kind != kindBind {
			continue
		}
		if rel, ok := within(dir, m.Src); ok && rel != "." {
			p.mounts = append(p.mounts, mount{Dst: path.Join(m.Dst, rel), Kind: kindMask})
		}
	}
}

// within reports whether p is dir or inside it, and p relative to dir.
func within(p, dir string) (string, bool) {
	rel, err := filepath.Rel(dir, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", false
	}
	return rel, true
}

var (
	systemOnce sync.Once
	systemList []mount
)

// systemMounts are the host's system directories, read-only, as every
// sandbox sees them; a merged-/usr system's /bin and /lib stay symlinks.
// Nothing else of the host: no /home, /root, /srv, /mnt, /var.
func systemMounts() []mount {
	systemOnce.Do(func() {
		for _, d := range []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt"} {
			fi, err := os.Lstat(d)
			switch {
			case err != nil:
			case fi.Mode()&os.ModeSymlink != 0:
				if target, err := os.Readlink(d); err == nil {
					systemList = append(systemList, mount{Dst: d, Kind: kindLink, Data: target})
				}
			case fi.IsDir():
				systemList = append(systemList, mount{Dst: d, Kind: kindBind, Src: d, RO: true})
			}
		}
		systemList = append(systemList,
			mount{Dst: "/var/run", Kind: kindLink, Data: "/run"},
			mount{Dst: "/var/tmp", Kind: kindLink, Data: "/tmp"})
	})
	return systemList
}

// basePlan is the file system every sandbox starts from: the system,
// read-only, a minimal /dev, its own /proc, a read-only /sys. Its /tmp is
// the caller's to add.
func basePlan() *plan {
	p := &plan{}
	p.fixed = append(append(p.fixed, systemMounts()...),
		mount{Dst: "/dev", Kind: kindDev, Data: "64m"},
		mount{Dst: "/proc", Kind: kindProc},
		mount{Dst: "/sys", Kind: kindSys})
	return p
}

// resolverMounts makes the host's DNS configuration work where
// /etc/resolv.conf is a symlink out of /etc (systemd-resolved's): for
// commands in the host's network.
func resolverMounts() []mount {
	fi, err := os.Lstat("/etc/resolv.conf")
	if err != nil || fi.Mode()&os.ModeSymlink == 0 {
		return nil
	}
	real, err := filepath.EvalSymlinks("/etc/resolv.conf")
	if err != nil || strings.HasPrefix(real, "/etc/") || strings.HasPrefix(real, "/usr/") {
		return nil
	}
	return []mount{{Dst: real, Kind: kindBind, Src: real, RO: true}}
}

// unsafeTree reports whether p may not be mounted writable into a sandbox
// as a work tree, whatever a stack file says: the root, the system, or a
// directory that holds everyone's files.
func unsafeTree(p string) bool {
	switch p {
	case "/", "/home", "/root", "/var", "/var/lib", "/tmp", "/opt", "/srv", "/mnt", "/media":
		return true
	}
	for _, sys := range []string{"/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/boot", "/dev", "/proc", "/sys", "/run", uidRegistry} {
		if _, ok := within(p, sys); ok {
			return true
		}
	}
	return false
}

// checkTarget refuses a place in the sandbox a mount may not go.
func checkTarget(service, target string) (string, error) {
	if !path.IsAbs(target) {
		return "", fmt.Errorf("service %s: mount target %q is not an absolute path", service, target)
	}
	t := path.Clean(target)
	if t == "/" {
		return "", fmt.Errorf("service %s: cannot mount anything on / in the sandbox", service)
	}
	for _, no := range []string{"/dev", "/proc", "/sys"} {
		if _, ok := within(t, no); ok {
			return "", fmt.Errorf("service %s: cannot mount anything on %s in the sandbox", service, t)
		}
	}
	return t, nil
}

// writeAccounts writes the sandbox's /etc/passwd and /etc/group: the
// host's system accounts (not its people: their names and homes stay
// out), and the instance's user, "tandem", at home in /home/tandem.
func writeAccounts(dir string, id int) error {
	keep := func(src, own string) []byte {
		var b strings.Builder
		eachLine(src, func(f []string) {
			if len(f) < 3 || f[0] == sandboxUser {
				return
			}
			if n, err := strconv.Atoi(f[2]); err != nil || n >= 1000 && n != 65534 {
				return
			}
			b.WriteString(strings.Join(f, ":") + "\n")
		})
		b.WriteString(own)
		return []byte(b.String())
	}
	passwd := keep("/etc/passwd", fmt.Sprintf("%s:x:%d:%d:tandem instance:%s:/bin/sh\n", sandboxUser, id, id, sandboxHome))
	group := keep("/etc/group", fmt.Sprintf("%s:x:%d:\n", sandboxUser, id))
	if err := os.WriteFile(filepath.Join(dir, "passwd"), passwd, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "group"), group, 0o644)
}

// The instance's user, as its services see it.
const (
	sandboxUser = "tandem"
	sandboxHome = "/home/tandem"
)

// accountMounts put the sandbox's account files, made in dir, in /etc.
func accountMounts(dir string) []mount {
	return []mount{
		{Dst: "/etc/passwd", Kind: kindBind, Src: filepath.Join(dir, "passwd"), RO: true},
		{Dst: "/etc/group", Kind: kindBind, Src: filepath.Join(dir, "group"), RO: true},
	}
}

// userEnv is the environment of the sandbox's user: its home and name,
// and no TMPDIR of the host's.
func userEnv(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "TMPDIR=") {
			out = append(out, kv)
		}
	}
	return mergeEnv(out, "HOME="+sandboxHome, "USER="+sandboxUser, "LOGNAME="+sandboxUser)
}

// envValue is the value of name in env, "" if unset.
func envValue(env []string, name string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], name+"="); ok {
			return v
		}
	}
	return ""
}

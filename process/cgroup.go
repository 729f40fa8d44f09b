//go:build linux

package process

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tandem-dev/tandem"
)

// Limits are applied with cgroups, v1 or v2, whichever holds each
// controller (a machine may have both: v1 hierarchies with cgroup2 mounted
// beside them). Written by hand rather than with containerd/cgroups: three
// controllers, a few files each, and none of its dependencies.
//
// Every instance has a cgroup, tandem/u<UID> (UID its user), with one child
// per service; what a service's healthchecks and seed commands run joins
// the service's. A cgroup whose user's lock nobody holds is left from a
// tandem that died: the next one removes it.

// cgroupRoot is the parent of every cgroup tandem makes, in each hierarchy.
const cgroupRoot = "tandem"

// limited are the controllers tandem uses.
var limited = []string{"memory", "cpu", "pids"}

// cgroupFS says where the machine's cgroup controllers are.
type cgroupFS struct {
	v1    map[string]string // controller → where its v1 hierarchy is mounted
	v2    string            // where cgroup2 is mounted, "" if nowhere
	v2ctl map[string]bool   // controllers cgroup2 offers
}

// detectCgroups reads the mounts: v1 hierarchies by their controllers, the
// cgroup2 mount and what its root offers.
func detectCgroups() *cgroupFS {
	c := &cgroupFS{v1: map[string]string{}, v2ctl: map[string]bool{}}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return c
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent dev root mountpoint opts ... - fstype source superopts
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		a, b := strings.Fields(pre), strings.Fields(post)
		if len(a) < 5 || len(b) < 3 || a[3] != "/" {
			continue
		}
		switch b[0] {
		case "cgroup":
			for _, opt := range strings.Split(b[2], ",") {
				for _, ctl := range limited {
					if opt == ctl && c.v1[ctl] == "" {
						c.v1[ctl] = a[4]
					}
				}
			}
		case "cgroup2":
			if c.v2 == "" {
				c.v2 = a[4]
			}
		}
	}
	if c.v2 != "" {
		b, _ := os.ReadFile(filepath.Join(c.v2, "cgroup.controllers"))
		for _, ctl := range strings.Fields(string(b)) {
			c.v2ctl[ctl] = true
		}
	}
	return c
}

// holder is the hierarchy that holds ctl: its v1 mount, or cgroup2's.
func (c *cgroupFS) holder(ctl string) string {
	if d := c.v1[ctl]; d != "" {
		return d
	}
	if c.v2ctl[ctl] {
		return c.v2
	}
	return ""
}

// hierarchies are the mounts a cgroup of tandem's spans: those holding a
// controller it uses, and cgroup2 in any case (for cgroup.kill).
func (c *cgroupFS) hierarchies() []string {
	var out []string
	add := func(d string) {
		for _, o := range out {
			if o == d {
				return
			}
		}
		if d != "" {
			out = append(out, d)
		}
	}
	for _, ctl := range limited {
		add(c.holder(ctl))
	}
	add(c.v2)
	return out
}

// cgroup is one cgroup, in each hierarchy.
type cgroup struct {
	fs   *cgroupFS
	rel  string   // "tandem/u200001/s-api"
	dirs []string // one per hierarchy
}

// create makes the cgroup rel in every hierarchy (its parents too), with
// cgroup2's controllers enabled down to it.
func (c *cgroupFS) create(rel string) (*cgroup, error) {
	g := &cgroup{fs: c, rel: rel}
	for _, h := range c.hierarchies() {
		dir := filepath.Join(h, rel)
		if h == c.v2 {
			c.enable(rel)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("cgroup %s: %w", dir, err)
		}
		g.dirs = append(g.dirs, dir)
	}
	if len(g.dirs) == 0 {
		return nil, errors.New("no cgroup file system is mounted")
	}
	return g, nil
}

// enable turns on, in each cgroup2 parent of rel, the controllers tandem
// uses that cgroup2 holds: a child can only use what its parent enables.
func (c *cgroupFS) enable(rel string) {
	var want []string
	for _, ctl := range limited {
		if c.v1[ctl] == "" && c.v2ctl[ctl] {
			want = append(want, "+"+ctl)
		}
	}
	dir := c.v2
	for _, part := range strings.Split(rel, "/") {
		for _, w := range want {
			os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte(w), 0)
		}
		dir = filepath.Join(dir, part)
		os.Mkdir(dir, 0o755)
	}
}

// procs are the files a process writes "0" to, to join the cgroup. cpu
// says whether it joins the cpu controller too: only under a CPU limit,
// where it is a v1 hierarchy of its own. In v1, tasks of the root cgroup
// each weigh as much as a whole cgroup, so all instances under tandem/
// would share what one busy process elsewhere on the machine gets; out of
// it, each process of a service is scheduled as before.
func (g *cgroup) procs(cpu bool) []string {
	if g == nil {
		return nil
	}
	cpuOnly := g.fs.v1["cpu"]
	for _, ctl := range limited {
		if ctl != "cpu" && g.fs.holder(ctl) == cpuOnly {
			cpuOnly = "" // shared with a controller it needs anyway
		}
	}
	var out []string
	for _, d := range g.dirs {
		if !cpu && cpuOnly != "" && strings.HasPrefix(d, cpuOnly+"/") {
			continue
		}
		out = append(out, filepath.Join(d, "cgroup.procs"))
	}
	return out
}

// limit applies l and returns, for each limit it could not apply, why.
func (g *cgroup) limit(l tandem.Limits) []string {
	var missed []string
	set := func(ctl, what string, files map[bool][][2]string) {
		h := g.fs.holder(ctl)
		if h == "" {
			missed = append(missed, what+" not applied: this machine has no "+ctl+" cgroup controller")
			return
		}
		dir := filepath.Join(h, g.rel)
		for _, kv := range files[h == g.fs.v2] {
			if err := os.WriteFile(filepath.Join(dir, kv[0]), []byte(kv[1]), 0); err != nil {
				missed = append(missed, fmt.Sprintf("%s not applied: %s: %v", what, kv[0], err))
				return
			}
		}
	}
	if l.Memory > 0 {
		n := strconv.FormatInt(l.Memory, 10)
		set("memory", "memory limit "+sizeString(l.Memory), map[bool][][2]string{
			false: {{"memory.limit_in_bytes", n}}, true: {{"memory.max", n}}})
	}
	if l.CPUs > 0 {
		const period = 100000
		quota := strconv.Itoa(max(1000, int(l.CPUs*period)))
		set("cpu", fmt.Sprintf("CPU limit %g", l.CPUs), map[bool][][2]string{
			false: {{"cpu.cfs_period_us", strconv.Itoa(period)}, {"cpu.cfs_quota_us", quota}},
			true:  {{"cpu.max", quota + " " + strconv.Itoa(period)}}})
	}
	if l.Pids > 0 {
		n := strconv.FormatInt(l.Pids, 10)
		set("pids", "process limit "+n, map[bool][][2]string{false: {{"pids.max", n}}, true: {{"pids.max", n}}})
	}
	return missed
}

func sizeString(b int64) string {
	switch {
	case b >= 1<<30 && b%(1<<30) == 0:
		return fmt.Sprintf("%dg", b>>30)
	case b >= 1<<20:
		return fmt.Sprintf("%dm", b>>20)
	}
	return fmt.Sprintf("%d bytes", b)
}

// remove ends whatever still runs in the cgroup and its children, and
// removes them all.
func (g *cgroup) remove() {
	if g == nil {
		return
	}
	for _, d := range g.dirs {
		removeCgroup(d)
	}
}

// removeCgroup kills what runs in dir and below, and removes them,
// children first. A cgroup whose processes were just killed can refuse
// removal for a moment while they exit.
func removeCgroup(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() {
			removeCgroup(filepath.Join(dir, e.Name()))
		}
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		if err := os.Remove(dir); err == nil || errors.Is(err, fs.ErrNotExist) || time.Now().After(deadline) {
			return
		}
		if err := os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0); err != nil {
			b, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sweep removes the cgroups of instances that no tandem runs any more:
// those whose user nobody holds.
func (c *cgroupFS) sweep() {
	for _, h := range c.hierarchies() {
		entries, _ := os.ReadDir(filepath.Join(h, cgroupRoot))
		for _, e := range entries {
			id, err := strconv.Atoi(strings.TrimPrefix(e.Name(), "u"))
			if !e.IsDir() || err != nil || !strings.HasPrefix(e.Name(), "u") || held(id) {
				continue
			}
			removeCgroup(filepath.Join(h, cgroupRoot, e.Name()))
		}
	}
}

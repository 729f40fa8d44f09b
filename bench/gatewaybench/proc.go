package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// setGroup puts cmd in a process group of its own: stopping the group stops
// whatever it started (nginx's workers), and Ctrl-C in the terminal reaches
// only us, so we decide the order of shutdown.
func setGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// command is a short-lived command (wrk, curl) in a group of its own, the
// whole group killed when ctx ends (nsenter and the wrk it runs, say).
func command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	setGroup(cmd)
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// proc is a server we started and must stop, whatever happens.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string // its output, for the error message when it fails
	done chan struct{}
	err  error // after done
}

// procs are every server still running, stopped by stopAll on any exit.
var procs struct {
	sync.Mutex
	list []*proc
}

// start runs args in dir with env added, output to logFile.
func start(name, dir string, env []string, logFile string, args ...string) (*proc, error) {
	out, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	setGroup(cmd)
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logFile, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		out.Close()
		close(p.done)
	}()
	procs.Lock()
	procs.list = append(procs.list, p)
	procs.Unlock()
	return p, nil
}

// stop asks the process to end (SIGTERM to its leader, so tandem up stops
// its services in order), then kills the whole group if it has not ended in
// grace, and waits until no member of the group is left.
func (p *proc) stop(grace time.Duration) {
	pid := p.cmd.Process.Pid
	_ = syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		fmt.Fprintf(os.Stderr, "gatewaybench: %s did not stop in %v; killing its process group\n", p.name, grace)
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	<-p.done
	for i := 0; i < 50 && len(groupPids(pid)) > 0; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	procs.Lock()
	defer procs.Unlock()
	for i, q := range procs.list {
		if q == p {
			procs.list = append(procs.list[:i], procs.list[i+1:]...)
			break
		}
	}
}

// stopAll stops every process still running, the last started first.
func stopAll() {
	procs.Lock()
	list := append([]*proc(nil), procs.list...)
	procs.Unlock()
	for i := len(list) - 1; i >= 0; i-- {
		list[i].stop(20 * time.Second)
	}
}

// waitPort waits until addr accepts connections, failing early if p exits.
func (p *proc) waitPort(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before listening on %s: %v\n%s", p.name, addr, p.err, tail(p.log, 20))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: nothing listens on %s after %v\n%s", p.name, addr, timeout, tail(p.log, 20))
		}
	}
}

// tail returns the last n lines of a log file, for error messages.
func tail(file string, n int) string {
	b, _ := os.ReadFile(file)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// groupRSS sums VmRSS over the process group of pid: nginx's master and its
// workers, or the one process of tandem and Caddy.
func groupRSS(pid int) (int64, error) {
	var total int64
	pids := groupPids(pid)
	if len(pids) == 0 {
		return 0, errors.New("no process left to measure")
	}
	for _, p := range pids {
		kb, err := vmRSS(p)
		if err != nil {
			return 0, err
		}
		total += kb * 1024
	}
	return total, nil
}

func vmRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

// groupPids lists the processes whose process group is pgid.
func groupPids(pgid int) []int {
	var pids []int
	for _, st := range procStats() {
		if st.pgrp == pgid {
			pids = append(pids, st.pid)
		}
	}
	return pids
}

type procStat struct{ pid, ppid, pgrp int }

// procStats reads pid, parent and group of every process from /proc.
func procStats() []procStat {
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []procStat
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil {
			continue // ended meanwhile
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 3 {
			continue
		}
		pid, _ := strconv.Atoi(strings.Fields(s)[0])
		ppid, _ := strconv.Atoi(f[1])
		pgrp, _ := strconv.Atoi(f[2])
		out = append(out, procStat{pid, ppid, pgrp})
	}
	return out
}

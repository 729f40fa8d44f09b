//go:build linux

package process

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The shim is tandem itself, re-executed under this argv[0]. It is started in
// new PID, mount, UTS and IPC namespaces; it joins the instance's cgroup and
// network namespace (fd 3), builds the sandbox's file system on a fresh root
// (see rootfs.go), drops every privilege it can, and runs the service's
// command as its only child, as the instance's user. Being PID 1 of the
// namespace it reaps orphans, forwards signals to the command as Docker does
// to a container's main process, and when the command ends, the kernel ends
// everything else in the namespace: no service can leave a process behind.
// It is written by hand because Go's os/exec cannot join an existing
// namespace or build a root before exec.
const shimName = "tandem-nsexec"

// shimEnv carries the shim's config; the command never sees it.
const shimEnv = "TANDEM_NSEXEC_CONFIG"

// The shim's file descriptors: the instance's network namespace, a pipe on
// which it reports that the command runs (and signals will reach it) or why
// it could not start, and from shimFirstFile on, what its mounts refer to
// (user namespaces for idmapped mounts, a service's /tmp).
const (
	shimNetnsFD   = 3
	shimReportFD  = 4
	shimFirstFile = 5
)

type shimReport struct {
	Pid   int    `json:"pid,omitempty"` // inside the namespace
	Error string `json:"error,omitempty"`
}

type shimConfig struct {
	Argv     []string `json:"argv"`
	Env      []string `json:"env"`
	Dir      string   `json:"dir"`
	UID      int      `json:"uid"` // the command's user and group
	GID      int      `json:"gid"`
	Hostname string   `json:"hostname,omitempty"`
	// Cgroups are the cgroup.procs files the shim joins first, so that
	// everything it starts counts against the instance's limits.
	Cgroups []string `json:"cgroups,omitempty"`
	Mounts  []mount  `json:"mounts"` // the sandbox's file system

	HostNetwork bool `json:"host_network"` // stay in the host's network namespace
}

// Init runs the shim when this process was started as one, and never returns
// then. Programs using the process runtime call it first thing in main (and
// in TestMain).
func Init() {
	switch filepath.Base(os.Args[0]) {
	case shimName:
		os.Exit(shimMain())
	case usernsHelper:
		usernsHelperMain()
	}
}

func shimMain() int {
	report := os.NewFile(shimReportFD, "report")
	fail := func(code int, err error) int {
		fmt.Fprintf(os.Stderr, "tandem: %v\n", err)
		json.NewEncoder(report).Encode(shimReport{Error: err.Error()})
		return code
	}
	var cfg shimConfig
	if err := json.Unmarshal([]byte(os.Getenv(shimEnv)), &cfg); err != nil {
		return fail(125, fmt.Errorf("shim config: %w", err))
	}
	// setns changes only this thread; the command is forked from it.
	runtime.LockOSThread()
	if err := shimSetup(cfg); err != nil {
		return fail(125, err)
	}
	path, err := lookPath(cfg)
	if err != nil {
		if os.IsPermission(err) {
			return fail(126, err)
		}
		return fail(127, err)
	}
	// Signals that arrive from here on wait in the channel until the
	// command exists to receive them.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGHUP,
		syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH)
	sys := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(cfg.UID), Gid: uint32(cfg.GID), Groups: []uint32{}}}
	pid, err := syscall.ForkExec(path, cfg.Argv, &syscall.ProcAttr{
		Dir: cfg.Dir, Env: cfg.Env, Files: []uintptr{0, 1, 2}, Sys: sys,
	})
	if err != nil {
		return fail(126, fmt.Errorf("run %s: %w", cfg.Argv[0], err))
	}
	json.NewEncoder(report).Encode(shimReport{Pid: pid})
	report.Close()
	go func() {
		for s := range sigs {
			syscall.Kill(pid, s.(syscall.Signal))
		}
	}()
	for {
		var ws syscall.WaitStatus
		wpid, err := syscall.Wait4(-1, &ws, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "tandem: wait: %v\n", err)
			return 125
		}
		if wpid != pid {
			continue // an orphan reparented to us
		}
		if ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ws.ExitStatus()
	}
}

func shimSetup(cfg shimConfig) error {
	for _, f := range cfg.Cgroups {
		if err := os.WriteFile(f, []byte("0"), 0); err != nil {
			return fmt.Errorf("join cgroup: %w", err)
		}
	}
	if len(cfg.Cgroups) > 0 {
		// The command sees its own cgroup as the root of the hierarchy.
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			return fmt.Errorf("cgroup namespace: %w", err)
		}
	}
	if !cfg.HostNetwork {
		if err := unix.Setns(shimNetnsFD, unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("join network namespace: %w", err)
		}
		unix.Close(shimNetnsFD)
	}
	if cfg.Hostname != "" {
		if err := unix.Sethostname([]byte(cfg.Hostname)); err != nil {
			return fmt.Errorf("hostname: %w", err)
		}
	}
	// Our mounts must not propagate back to the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	if err := buildRoot(cfg.Mounts); err != nil {
		return fmt.Errorf("sandbox file system: %w", err)
	}
	if err := dropPrivileges(); err != nil {
		return err
	}
	return installSeccomp()
}

// lookPath finds argv[0] as a shell would: a name with a slash relative to
// the working directory, a bare name on the command's own PATH.
func lookPath(cfg shimConfig) (string, error) {
	name := cfg.Argv[0]
	if strings.Contains(name, "/") {
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(cfg.Dir, p)
		}
		return p, executable(p)
	}
	path := "/usr/local/bin:/usr/bin:/bin"
	for _, kv := range cfg.Env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if !filepath.IsAbs(p) {
			p = filepath.Join(cfg.Dir, p)
		}
		if executable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: command not found (PATH=%s)", name, path)
}

func executable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return &os.PathError{Op: "exec", Path: p, Err: os.ErrPermission}
	}
	return nil
}

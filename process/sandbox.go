//go:build linux

package process

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/internal/netns"
)

// Sandbox is one stack instance: a network namespace, a hosts file naming
// its services, a user of its own, a cgroup, and the processes running in
// it, each in a file system of its own (see instance.go).
type Sandbox struct {
	rt       *Runtime
	spec     tandem.SandboxSpec
	ns       *os.File
	user     *identity
	data     string  // spec.DataDir, absolute, symlinks resolved
	tree     string  // spec.WorkTree, the same; "" if none
	runDir   string  // data/run: hosts, accounts, the PostgreSQL socket
	pgSocket string  // the instance's own PostgreSQL socket directory
	cg       *cgroup // nil: no cgroup could be made
	notes    []string
	dialer   net.Dialer

	mu       sync.Mutex
	procs    map[*proc]struct{}
	closed   bool
	services map[string]*serviceBox
	idmaps   map[[2]int]*os.File
	said     map[string]bool
}

// DialContext connects to "service:port" inside the instance.
func (s *Sandbox) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	network, target, _, err := netns.Target(network, addr, s.spec.Name, s.knows)
	if err != nil {
		return nil, err
	}
	return dialIn(ctx, s.ns, &s.dialer, network, target)
}

func (s *Sandbox) knows(host string) bool {
	switch host {
	case "localhost", "127.0.0.1":
		return true
	}
	for _, name := range s.spec.Services {
		if name == host {
			return true
		}
	}
	return false
}

// Start runs svc's command in the instance.
func (s *Sandbox) Start(ctx context.Context, svc *tandem.Service, stdout, stderr io.Writer) (tandem.Process, error) {
	cfg, p, err := s.config(svc, svc.Argv(), stderr)
	if err != nil {
		return nil, err
	}
	if isPostgres(svc.Image) && svc.TandemCommand == nil {
		if cfg, err = s.preparePostgres(ctx, svc, cfg, p, stdout, stderr); err != nil {
			return nil, err
		}
	}
	if len(cfg.Argv) == 0 {
		return nil, s.rt.Check(svc)
	}
	cfg.Mounts = p.all()
	pr, err := s.spawn(cfg, p, nil, stdout, stderr)
	if tandem.ErrorCode(err) == tandem.EINTERNAL {
		return nil, tandem.Errorf(tandem.EINVALID, "service %s: %w", svc.Name, err)
	}
	if err != nil {
		return nil, fmt.Errorf("service %s: %w", svc.Name, err)
	}
	pr.stopSig = stopSignal(svc.StopSignal)
	return pr, nil
}

// Exec runs argv to completion in svc's directory and environment.
func (s *Sandbox) Exec(ctx context.Context, svc *tandem.Service, argv []string, stdout, stderr io.Writer) error {
	if len(argv) == 0 {
		return tandem.Errorf(tandem.EINVALID, "exec in %s: empty command", svc.Name)
	}
	cfg, p, err := s.config(svc, argv, nil)
	if err != nil {
		return err
	}
	if isPostgres(svc.Image) && svc.TandemCommand == nil {
		// pg_isready, psql: where the image has the server's programs.
		if bins, err := s.rt.postgresBins(); err == nil {
			cfg.Env = mergeEnv(cfg.Env, "PATH="+bins.dir+":"+envValue(cfg.Env, "PATH"))
		}
	}
	cfg.Mounts = p.all()
	return s.run(ctx, cfg, p, nil, stdout, stderr)
}

// run spawns cfg and waits for it; canceling ctx kills it.
func (s *Sandbox) run(ctx context.Context, cfg shimConfig, p *plan, stdin io.Reader, stdout, stderr io.Writer) error {
	pr, err := s.spawn(cfg, p, stdin, stdout, stderr)
	return complete(ctx, pr, err)
}

// complete waits for a process started to run to completion; canceling ctx
// kills it. A command that could not start ended with the shell's status
// for it, which is its result.
func complete(ctx context.Context, p *proc, err error) error {
	var se *startError
	if errors.As(err, &se) {
		return se.proc.Wait()
	}
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { p.Kill() })
	defer stop()
	err = p.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func workDir(svc *tandem.Service) string {
	switch {
	case svc.WorkingDir != "":
		return svc.WorkingDir
	case svc.Context != "":
		return svc.Context
	}
	return "/"
}

func (s *Sandbox) spawn(cfg shimConfig, p *plan, stdin io.Reader, stdout, stderr io.Writer) (*proc, error) {
	return startShim(cfg, s.ns, p.files, stdin, stdout, stderr, s)
}

// track records a started process, so Close can end it; a process started
// as the sandbox closes is refused.
func (s *Sandbox) track(p *proc) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return tandem.Errorf(tandem.ECONFLICT, "instance %s is shut down", s.spec.Name)
	}
	s.procs[p] = struct{}{}
	return nil
}

func (s *Sandbox) untrack(p *proc) {
	s.mu.Lock()
	delete(s.procs, p)
	s.mu.Unlock()
}

// startError is a command that could not run: not found, not executable.
// Its proc has ended with the shell's status for it (127, 126).
type startError struct {
	msg  string
	proc *proc
}

func (e *startError) Error() string { return e.msg }

// Close kills whatever still runs in the instance, removes its cgroup and
// releases its namespace. Its user stays recorded for its data directory.
func (s *Sandbox) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	procs := make([]*proc, 0, len(s.procs))
	for p := range s.procs {
		procs = append(procs, p)
	}
	s.mu.Unlock()
	for _, p := range procs {
		p.Kill()
	}
	for _, p := range procs {
		p.Wait()
	}
	s.release()
	return s.ns.Close()
}

// proc is a service's command, seen through its shim.
type proc struct {
	cmd     *exec.Cmd
	done    chan struct{}
	err     error
	stopSig syscall.Signal // the service's stop signal; SIGTERM if unset
}

// ID is the shim's host pid: the service's init, whose PID namespace holds
// everything the service started.
func (p *proc) ID() string { return strconv.Itoa(p.cmd.Process.Pid) }

// Stop signals the command, and kills the shim's whole PID namespace if it
// has not ended within grace.
func (p *proc) Stop(ctx context.Context, grace time.Duration) error {
	if grace > 0 {
		sig := p.stopSig
		if sig == 0 {
			sig = syscall.SIGTERM
		}
		p.Signal(sig)
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-p.done:
		case <-t.C:
		case <-ctx.Done():
		}
	}
	p.Kill()
	return p.Wait()
}

// Signal goes to the shim, which forwards it to the command.
func (p *proc) Signal(sig os.Signal) error {
	err := p.cmd.Process.Signal(sig)
	if errors.Is(err, os.ErrProcessDone) {
		return nil
	}
	return err
}

// Kill ends the shim, and the kernel ends its whole PID namespace.
func (p *proc) Kill() error { return p.Signal(syscall.SIGKILL) }

func (p *proc) Wait() error {
	<-p.done
	return p.err
}

func exitError(err error) error {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return err
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	if !ok {
		return err
	}
	if ws.Signaled() {
		return &tandem.ExitError{Code: 128 + int(ws.Signal()), Signal: signalName(ws.Signal())}
	}
	return &tandem.ExitError{Code: ws.ExitStatus()}
}

// stopSignal reads a Compose stop_signal ("SIGINT", "INT"); SIGTERM when
// it is empty or unknown.
func stopSignal(name string) syscall.Signal {
	n := strings.ToUpper(name)
	if n != "" && !strings.HasPrefix(n, "SIG") {
		n = "SIG" + n
	}
	if s := unix.SignalNum(n); s != 0 {
		return s
	}
	return syscall.SIGTERM
}

func signalName(s syscall.Signal) string {
	if n := unix.SignalName(s); n != "" {
		return n
	}
	return "signal " + strconv.Itoa(int(s))
}

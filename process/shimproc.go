//go:build linux

package process

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"

	"github.com/tandem-dev/tandem"
)

// tracker is told of each process started and ended (a Sandbox, to end
// them on Close); track may refuse one.
type tracker interface {
	track(*proc) error
	untrack(*proc)
}

// startShim starts cfg under the shim, in the network namespace ns, or in
// the host's network if ns is nil, with files from fd shimFirstFile on. It
// returns once the command runs (or could not be run: *startError).
func startShim(cfg shimConfig, ns *os.File, files []*os.File, stdin io.Reader, stdout, stderr io.Writer, t tracker) (*proc, error) {
	cfg.HostNetwork = ns == nil
	js, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	stdout, stderr, pipes, err := childOutput(stdout, stderr)
	if err != nil {
		return nil, err
	}
	rd, wr, err := os.Pipe()
	if err != nil {
		closePipes(pipes)
		return nil, err
	}
	defer rd.Close()
	cmd := &exec.Cmd{
		Path:   "/proc/self/exe",
		Args:   []string{shimName},
		Env:    []string{shimEnv + "=" + string(js)},
		Stdin:  stdin,
		Stdout: stdout,
		Stderr: stderr,
		// shimNetnsFD (closed when nil), shimReportFD, then files.
		ExtraFiles: append([]*os.File{ns, wr}, files...),
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC,
			// If tandem dies, even by SIGKILL, the shim dies, and with the
			// init of its PID namespace gone the kernel ends the rest.
			Pdeathsig: syscall.SIGKILL,
			// Ctrl-C in the terminal reaches tandem, which stops services
			// in order, and not every process at once.
			Setpgid: true,
		},
	}
	err = cmd.Start()
	wr.Close()
	if err != nil {
		closePipes(pipes)
		return nil, fmt.Errorf("start %s: %w", cfg.Argv[0], err)
	}
	started(pipes)
	p := &proc{cmd: cmd, done: make(chan struct{})}
	if t != nil {
		if err := t.track(p); err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			drain(pipes)
			return nil, err
		}
	}
	go func() {
		p.err = exitError(cmd.Wait())
		drain(pipes)
		if t != nil {
			t.untrack(p)
		}
		close(p.done)
	}()
	// Wait for the shim to say the command runs: a signal sent before that
	// could be lost, and a command that cannot run is a start error.
	var rep shimReport
	if err := json.NewDecoder(rd).Decode(&rep); err != nil || rep.Error != "" {
		if rep.Error != "" {
			// The shim ends by itself, with the shell's status for it.
			p.Wait()
			return p, &startError{msg: rep.Error, proc: p}
		}
		p.Kill()
		return nil, fmt.Errorf("start %s: the shim ended before the command ran: %v", cfg.Argv[0], p.Wait())
	}
	return p, nil
}

// Cmd is a command Run runs.
type Cmd struct {
	Argv   []string
	Dir    string
	Env    []string // the whole environment: nothing of tandem's is added
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Limits bound the command and everything it starts; zero: none.
	Limits tandem.Limits
}

// Run runs c to completion in the host's network (a build step that fetches
// packages, say), but sandboxed as services are, only in the host's
// network: as a user of its own (allocated for the run), with no
// capability, on a fresh root with the system read-only, a private /tmp and
// an empty home, and c.Dir the one host directory it may write (idmapped:
// what it writes belongs to the directory's owner); a .tandem data
// directory inside it stays hidden. It runs in a PID namespace of its own
// under tandem's init, so when it ends, is canceled, or tandem dies even by
// SIGKILL, nothing it started lives on. A non-zero exit is a
// *tandem.ExitError.
func Run(ctx context.Context, c Cmd) error {
	if len(c.Argv) == 0 {
		return errors.New("run: empty command")
	}
	b, err := newBuildBox(c)
	if err != nil {
		return err
	}
	defer b.close()
	p, err := startShim(b.cfg, nil, b.plan.files, c.Stdin, c.Stdout, c.Stderr, nil)
	return complete(ctx, p, err)
}

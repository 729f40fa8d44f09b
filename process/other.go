//go:build !linux

package process

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"runtime"

	"github.com/tandem-dev/tandem"
)

// Runtime is unavailable off Linux: it is built on network namespaces.
type Runtime struct{ SnapshotDir string }

var _ tandem.Runtime = (*Runtime)(nil)

func New() *Runtime           { return &Runtime{} }
func Init()                   {}
func (*Runtime) Name() string { return "process" }

func (*Runtime) Available(context.Context) error { return errUnsupported() }

func (*Runtime) RemoveSnapshot(context.Context, string) error { return errUnsupported() }

// Check has nothing to say about a service: no service can run here, and
// Available says so once, rather than once per service.
func (*Runtime) Check(svc *tandem.Service) error { return nil }

// Available reports that the process runtime cannot run here, and what will.
func Available() error { return errUnsupported() }

func (*Runtime) NewSandbox(context.Context, tandem.SandboxSpec) (tandem.Sandbox, error) {
	return nil, errUnsupported()
}

// NewSandboxIn cannot make a sandbox here either.
func (*Runtime) NewSandboxIn(context.Context, tandem.SandboxSpec, *os.File) (tandem.Sandbox, error) {
	return nil, errUnsupported()
}

func errUnsupported() error {
	return tandem.Errorf(tandem.EUNSUPPORTED,
		"the process runtime runs each stack instance in Linux network namespaces, which %s does not have: "+
			"run stacks with the docker runtime (Docker Desktop) instead: tandem up --runtime docker, or runtime: docker in tandem.yaml", runtime.GOOS)
}

// Cmd is a command Run runs.
type Cmd struct {
	Argv   []string
	Dir    string
	Env    []string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Limits tandem.Limits // not applied off Linux
}

// Run runs c to completion: off Linux, a plain child process.
func Run(ctx context.Context, c Cmd) error {
	cmd := exec.CommandContext(ctx, c.Argv[0], c.Argv[1:]...)
	cmd.Dir, cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Stderr = c.Dir, c.Env, c.Stdin, c.Stdout, c.Stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return &tandem.ExitError{Code: ee.ExitCode()}
	}
	return err
}

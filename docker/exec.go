package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"strings"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/internal/tail"
)

// Exec runs argv in svc's running container, as docker exec does; when svc
// does not run, in a container of its own made as svc's would be (its
// image, environment, volumes, in the instance's namespace), as docker
// compose run does: seed commands run before their service starts.
func (s *Sandbox) Exec(ctx context.Context, svc *tandem.Service, argv []string, stdout, stderr io.Writer) error {
	if len(argv) == 0 {
		return tandem.Errorf(tandem.EINVALID, "service %s: exec of an empty command", svc.Name)
	}
	if s.isClosed() {
		return tandem.Errorf(tandem.ECONFLICT, "instance %s is shut down", s.spec.Name)
	}
	if p := s.running(svc.Name); p != nil {
		return s.execIn(ctx, p, svc, argv, stdout, stderr)
	}
	return s.execOnce(ctx, svc, argv, stdout, stderr)
}

// execIn is docker exec in p's container.
func (s *Sandbox) execIn(ctx context.Context, p *proc, svc *tandem.Service, argv []string, stdout, stderr io.Writer) error {
	created, err := s.cli.ExecCreate(ctx, p.id, client.ExecCreateOptions{Cmd: argv, Env: svc.Env(), AttachStdout: true, AttachStderr: true})
	if err != nil {
		return tandem.Errorf(tandem.ECONFLICT, "service %s: exec: %w", svc.Name, err)
	}
	att, err := s.cli.ExecAttach(ctx, created.ID, client.ExecAttachOptions{})
	if err != nil {
		return err
	}
	defer att.Close()
	last := &tail.Writer{}
	copied := make(chan struct{})
	go func() {
		stdcopy.StdCopy(io.MultiWriter(stdout, last), io.MultiWriter(stderr, last), att.Reader)
		close(copied)
	}()
	select {
	case <-copied:
	case <-ctx.Done():
		s.killExec(created.ID)
		return ctx.Err()
	}
	bg := context.WithoutCancel(ctx)
	for {
		in, err := s.cli.ExecInspect(bg, created.ID, client.ExecInspectOptions{})
		if err != nil {
			return err
		}
		if !in.Running {
			return execStatus(in.ExitCode, last)
		}
		// The stream ended a moment before the engine saw the exit.
		select {
		case <-ctx.Done():
			s.killExec(created.ID)
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// killExec kills an exec's process: the engine has no call for it, but on
// a local engine its pid is this machine's.
func (s *Sandbox) killExec(id string) {
	in, err := s.cli.ExecInspect(context.Background(), id, client.ExecInspectOptions{})
	if err == nil && in.Running && in.PID > 0 && s.rt.canEnter() {
		if proc, err := os.FindProcess(in.PID); err == nil {
			proc.Kill()
		}
	}
}

// execStatus is an exec's exit code as the contract reports it: a command
// the runtime could not find is 127, as from a shell, though runc says 126.
func execStatus(code int, last *tail.Writer) error {
	if code == 0 {
		return nil
	}
	if code == 126 && strings.Contains(last.Lines(10), "executable file not found") {
		code = 127
	}
	return exitError(code)
}

// execOnce runs argv in a container of its own, removed once it ends.
func (s *Sandbox) execOnce(ctx context.Context, svc *tandem.Service, argv []string, stdout, stderr io.Writer) error {
	image, err := s.image(ctx, svc, stdout)
	if err != nil {
		return err
	}
	cfg, host, err := s.containerConfig(ctx, svc, image)
	if err != nil {
		return err
	}
	cfg.Entrypoint, cfg.Cmd, cfg.Healthcheck = argv[:1], argv[1:], nil
	b := make([]byte, 4)
	rand.Read(b)
	p, err := s.run(ctx, svc.Name, containerName(s.spec, svc.Name+"-run-"+hex.EncodeToString(b)), cfg, host, stdout, stderr)
	if err != nil {
		return err
	}
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		p.Stop(context.WithoutCancel(ctx), 0)
		return ctx.Err()
	}
}

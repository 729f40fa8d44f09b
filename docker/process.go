package docker

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/internal/tail"
)

// proc is a service's container. It is removed once it has ended: its
// output went to the service's writers, its data to the data directory.
type proc struct {
	s       *Sandbox
	id      string
	service string
	done    chan struct{}
	err     error
}

var _ tandem.Process = (*proc)(nil)

func (p *proc) ID() string {
	if len(p.id) > 12 {
		return p.id[:12]
	}
	return p.id
}

func (p *proc) ended() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) Wait() error {
	<-p.done
	return p.err
}

// Stop is docker stop: the container's stop signal (the service's), then
// SIGKILL after grace, whole seconds, as the engine counts them.
func (p *proc) Stop(ctx context.Context, grace time.Duration) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	if grace <= 0 {
		p.s.cli.ContainerKill(context.WithoutCancel(ctx), p.id, client.ContainerKillOptions{Signal: "SIGKILL"})
		return p.Wait()
	}
	secs := int(math.Ceil(grace.Seconds()))
	stopped := make(chan struct{})
	go func() {
		p.s.cli.ContainerStop(context.WithoutCancel(ctx), p.id, client.ContainerStopOptions{Timeout: &secs})
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-p.done:
	case <-ctx.Done():
		p.s.cli.ContainerKill(context.WithoutCancel(ctx), p.id, client.ContainerKillOptions{Signal: "SIGKILL"})
	}
	return p.Wait()
}

// Start runs svc as a container in the instance's network namespace.
func (s *Sandbox) Start(ctx context.Context, svc *tandem.Service, stdout, stderr io.Writer) (tandem.Process, error) {
	if s.isClosed() {
		return nil, tandem.Errorf(tandem.ECONFLICT, "instance %s is shut down", s.spec.Name)
	}
	image, err := s.image(ctx, svc, stdout)
	if err != nil {
		return nil, fmt.Errorf("service %s: %w", svc.Name, err)
	}
	if isPostgres(svc) {
		if err := s.restore(ctx, svc, stdout); err != nil {
			return nil, fmt.Errorf("service %s: %w", svc.Name, err)
		}
	}
	cfg, host, err := s.containerConfig(ctx, svc, image)
	if err != nil {
		return nil, fmt.Errorf("service %s: %w", svc.Name, err)
	}
	name := containerName(s.spec, svc.Name)
	if old := s.running(svc.Name); old != nil {
		old.Stop(ctx, 0)
	}
	s.cli.ContainerRemove(ctx, name, client.ContainerRemoveOptions{Force: true})
	p, err := s.run(ctx, svc.Name, name, cfg, host, stdout, stderr)
	if err != nil {
		return nil, fmt.Errorf("service %s: %w", svc.Name, err)
	}
	if err := s.track(svc.Name, p); err != nil {
		p.Stop(ctx, 0)
		return nil, err
	}
	return p, nil
}

// run creates and starts a container, its output copied to stdout and
// stderr from its first byte, and removes it once it has ended. A
// container that cannot start is removed at once, and the error says why
// with its last lines.
func (s *Sandbox) run(ctx context.Context, service, name string, cfg *container.Config, host *container.HostConfig, stdout, stderr io.Writer) (*proc, error) {
	created, err := s.cli.ContainerCreate(ctx, client.ContainerCreateOptions{Name: name, Config: cfg, HostConfig: host})
	if err != nil {
		return nil, err
	}
	p := &proc{s: s, id: created.ID, service: service, done: make(chan struct{})}
	bg := context.WithoutCancel(ctx)
	remove := func() { s.cli.ContainerRemove(bg, p.id, client.ContainerRemoveOptions{Force: true}) }
	att, err := s.cli.ContainerAttach(bg, p.id, client.ContainerAttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		remove()
		return nil, err
	}
	last := &tail.Writer{}
	copied := make(chan struct{})
	go func() {
		stdcopy.StdCopy(io.MultiWriter(stdout, last), io.MultiWriter(stderr, last), att.Reader)
		close(copied)
	}()
	waited := s.cli.ContainerWait(bg, p.id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if _, err := s.cli.ContainerStart(ctx, p.id, client.ContainerStartOptions{}); err != nil {
		att.Close()
		remove()
		return nil, startError(err, last)
	}
	go func() {
		code := -1
		select {
		case res := <-waited.Result:
			code = int(res.StatusCode)
		case err := <-waited.Error:
			p.err = fmt.Errorf("docker: wait for %s: %w", name, err)
		}
		// The stream ends with the container; do not let a stuck one
		// hold the exit.
		select {
		case <-copied:
		case <-time.After(5 * time.Second):
		}
		att.Close()
		remove()
		if p.err == nil && code != 0 {
			p.err = exitError(code)
		}
		// Forgotten before Wait returns, so that what follows a Stop
		// (a snapshot, a new start) finds the service stopped.
		s.untrack(service, p)
		close(p.done)
	}()
	return p, nil
}

func exitError(code int) error {
	ee := &tandem.ExitError{Code: code}
	if code == 137 {
		ee.Signal = "SIGKILL"
	}
	return ee
}

// startError is the engine's refusal to start a container, with what the
// container said before, and exit status 127 for a command not found.
func startError(err error, last *tail.Writer) error {
	msg := err.Error()
	if lines := last.Lines(10); lines != "" {
		msg += "\n" + lines
	}
	if strings.Contains(msg, "executable file not found") || strings.Contains(msg, "no such file or directory") {
		return &notFound{msg: msg}
	}
	return tandem.Errorf(tandem.EINVALID, "%s", msg)
}

// notFound is a command that does not exist: an ExitError of 127, as a
// shell reports it, that says what the engine said.
type notFound struct{ msg string }

func (e *notFound) Error() string { return e.msg }
func (e *notFound) Unwrap() error { return &tandem.ExitError{Code: 127} }

// Package mixed runs one stack instance with two runtimes: the services the
// process runtime can run as local programs, and the others (images such as
// redis:7) as containers of the Docker Engine, all in one network
// namespace, the one the docker runtime's holder container keeps. Names,
// ports and Host headers are the same for both kinds, as in an instance of
// either runtime alone.
package mixed

import (
	"context"
	"io"
	"net"
	"strings"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/docker"
	"github.com/tandem-dev/tandem/process"
)

// Runtime runs each service with the process runtime if it can, else with
// the docker one.
type Runtime struct {
	Process *process.Runtime
	Docker  *docker.Runtime
}

var _ tandem.Runtime = (*Runtime)(nil)

// New returns the mixed runtime of p and d.
func New(p *process.Runtime, d *docker.Runtime) *Runtime { return &Runtime{Process: p, Docker: d} }

func (*Runtime) Name() string { return "mixed" }

// Available is the process runtime's: containers are checked when an
// instance needs them.
func (r *Runtime) Available(ctx context.Context) error { return r.Process.Available(ctx) }

// InContainer reports whether svc runs as a container: an image the
// process runtime cannot run (a service built from source stays a process,
// and the process runtime's check says what it lacks).
func (r *Runtime) InContainer(svc *tandem.Service) bool {
	return svc.Context == "" && r.Process.Check(svc) != nil && r.Docker.Check(svc) == nil
}

// Check accepts an image service the docker runtime runs; for the others
// it says what the process runtime says.
func (r *Runtime) Check(svc *tandem.Service) error {
	if r.InContainer(svc) {
		return nil
	}
	return r.Process.Check(svc)
}

var _ tandem.ImageHealthchecker = (*Runtime)(nil)

// ImageHealthcheck is the docker runtime's for a service that runs as a
// container; a process has no image.
func (r *Runtime) ImageHealthcheck(ctx context.Context, svc *tandem.Service, out io.Writer) (*tandem.Healthcheck, error) {
	if !r.InContainer(svc) {
		return nil, nil
	}
	return r.Docker.ImageHealthcheck(ctx, svc, out)
}

// Containers reports whether any of services runs as a container.
func (r *Runtime) Containers(services []*tandem.Service) bool {
	for _, svc := range services {
		if r.InContainer(svc) {
			return true
		}
	}
	return false
}

// NewSandbox starts the docker runtime's holder, then makes the process
// runtime's sandbox in the holder's network namespace.
func (r *Runtime) NewSandbox(ctx context.Context, spec tandem.SandboxSpec) (_ tandem.Sandbox, err error) {
	if err := r.Process.Available(ctx); err != nil {
		return nil, err
	}
	dsb, err := r.Docker.NewSandbox(ctx, spec)
	if err != nil {
		return nil, err
	}
	dock := dsb.(*docker.Sandbox)
	defer func() {
		if err != nil {
			dock.Close()
		}
	}()
	ns, err := dock.Netns(ctx)
	if err != nil {
		return nil, err
	}
	proc, err := r.Process.NewSandboxIn(ctx, spec, ns)
	if err != nil {
		ns.Close()
		return nil, err
	}
	return &Sandbox{rt: r, proc: proc, dock: dock}, nil
}

// RemoveSnapshot asks the runtime whose id it is.
func (r *Runtime) RemoveSnapshot(ctx context.Context, id string) error {
	if strings.HasPrefix(id, "dk-") {
		return r.Docker.RemoveSnapshot(ctx, id)
	}
	return r.Process.RemoveSnapshot(ctx, id)
}

// Sandbox is an instance whose services are processes and containers in
// one network namespace.
type Sandbox struct {
	rt   *Runtime
	proc tandem.Sandbox
	dock *docker.Sandbox
}

var _ tandem.Sandbox = (*Sandbox)(nil)

func (s *Sandbox) of(svc *tandem.Service) tandem.Sandbox {
	if s.rt.InContainer(svc) {
		return s.dock
	}
	return s.proc
}

// DialContext dials in the shared namespace.
func (s *Sandbox) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return s.proc.DialContext(ctx, network, addr)
}

func (s *Sandbox) Start(ctx context.Context, svc *tandem.Service, stdout, stderr io.Writer) (tandem.Process, error) {
	return s.of(svc).Start(ctx, svc, stdout, stderr)
}

func (s *Sandbox) Exec(ctx context.Context, svc *tandem.Service, argv []string, stdout, stderr io.Writer) error {
	return s.of(svc).Exec(ctx, svc, argv, stdout, stderr)
}

func (s *Sandbox) Snapshot(ctx context.Context, svc *tandem.Service) (string, error) {
	return s.of(svc).Snapshot(ctx, svc)
}

// Close stops the processes, then removes the containers and the holder.
func (s *Sandbox) Close() error {
	perr := s.proc.Close()
	derr := s.dock.Close()
	if perr != nil {
		return perr
	}
	return derr
}

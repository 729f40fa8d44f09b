package tandem

import (
	"context"
	"io"
	"net"
	"strconv"
	"time"
)

// Runtime runs the services of stack instances. It is the driver: it knows
// how to isolate an instance and start one service, not the Compose rules of
// ordering and health, which the supervisor applies the same way on every
// runtime. Implementations: process (local programs in network namespaces),
// docker (containers of the Docker Engine), and mixed (both in one
// instance). Every implementation passes the conformance suite in package
// runtimetest.
//
// Errors are *Error values with these codes, so callers can tell them apart
// without knowing the runtime: EUNSUPPORTED (this runtime cannot do that
// here, and will not until something changes), EINVALID (the service or
// spec asks for something no runtime would do), ENOTFOUND (no such service,
// snapshot), ECONFLICT (the state forbids it: closed sandbox, running
// database), EUNAVAILABLE (the runtime's engine does not answer now). A
// command's own failure is an *ExitError.
type Runtime interface {
	// Name is the runtime's name as users choose it: "process", "docker".
	Name() string

	// Available returns nil when the runtime can run instances here and
	// now, or an error saying what it lacks and what would work instead:
	// EUNSUPPORTED (no namespaces on this OS, no privilege) or EUNAVAILABLE
	// (the engine does not answer). It is cheap enough to ask before every
	// command that needs the runtime.
	Available(ctx context.Context) error

	// Check returns nil when the runtime can run svc, or an error that names
	// the service, says why not, and what would work instead. Code
	// EUNSUPPORTED. It looks at the service alone: it does not start
	// anything nor ask an engine, so tandem check can run it anywhere.
	Check(svc *Service) error

	// NewSandbox creates the isolated network of one stack instance: inside
	// it every service binds the ports its command names and reaches the
	// others by service name. The sandbox lasts until Close. A sandbox left
	// by an earlier tandem that was killed (same Name) is removed first.
	// Errors: EINVALID for a spec without DataDir, EUNSUPPORTED or
	// EUNAVAILABLE as Available says.
	NewSandbox(ctx context.Context, spec SandboxSpec) (Sandbox, error)

	// RemoveSnapshot deletes a snapshot Sandbox.Snapshot made. One that is
	// already gone is no error; an id this runtime never makes is EINVALID.
	RemoveSnapshot(ctx context.Context, id string) error
}

// SandboxSpec describes the instance a sandbox is made for.
type SandboxSpec struct {
	// Name identifies the instance: "local", "pr-7". Unique per runtime.
	Name string
	// Services are the names that must resolve to the instance's services.
	Services []string
	// Ports are the ports the gateway dials (the stack's routes and
	// published ports). A runtime whose namespaces tandem cannot enter
	// (Docker Desktop) publishes these on the host's loopback for
	// DialContext; the others need not look at them.
	Ports []int
	// DataDir is the instance's own directory: databases, sockets, state.
	DataDir string
	// WorkTree holds the instance's source: the project directory under
	// tandem up, a preview's checkout. Build contexts and bind mounts must
	// lie inside it: a runtime that isolates services lets them see and
	// write that and their own data, nothing else of the host's files.
	// Empty: no host directory is mounted into the instance.
	WorkTree string
	// Restore names, by service, a snapshot (an id Sandbox.Snapshot
	// returned, on the same runtime): a database service whose data is not
	// initialised yet starts from a copy of it instead of from an empty
	// database.
	Restore map[string]string
	// Limits bound the whole instance (every service together); a
	// service's own Limits apply within them. Zero: no instance limit.
	Limits Limits
}

// Sandbox is one running stack instance's isolated network.
type Sandbox interface {
	// DialContext connects to addr, written as the stack writes it
	// ("api:8000", "db:5432"), inside the instance's network. A host that
	// is not one of the instance's services is ENOTFOUND; a port nothing
	// listens on is the dialer's own error (connection refused).
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)

	// Start starts svc's command inside the sandbox, its output to stdout and
	// stderr. Start returns once the process runs; the Process says when it
	// ends. A well-known image (postgres:*) is prepared first (initialised
	// data directory, or a copy of SandboxSpec.Restore's snapshot) as its
	// official image would. A command that cannot start at all fails Start
	// with an error that carries the service's last lines of output; one
	// that starts and fails is the Process's Wait's *ExitError. ECONFLICT
	// once the sandbox is closed.
	Start(ctx context.Context, svc *Service, stdout, stderr io.Writer) (Process, error)

	// Exec runs argv to completion inside the sandbox, in svc's working
	// directory and environment: healthchecks and seed commands. An exit
	// status other than zero is an *ExitError (127: no such command).
	// Canceling ctx kills it and returns ctx's error.
	Exec(ctx context.Context, svc *Service, argv []string, stdout, stderr io.Writer) error

	// Snapshot keeps a copy of the data of svc, a database service that is
	// not running, and returns its id for SandboxSpec.Restore. The snapshot
	// outlives the sandbox until Runtime.RemoveSnapshot. Errors:
	// EUNSUPPORTED (not a database this runtime snapshots), ECONFLICT (its
	// server runs), ENOTFOUND (it has no data yet).
	Snapshot(ctx context.Context, svc *Service) (string, error)

	// Close stops whatever still runs in the sandbox and removes it and its
	// network (and, on an engine, its containers). The instance's data
	// stays in DataDir, and only there, for the next sandbox made with it:
	// removing DataDir removes the instance for good. It is safe to call
	// more than once.
	Close() error
}

// Process is a service's running command.
type Process interface {
	// ID is what the runtime calls it, for people and tests: a host pid
	// under the process runtime, a container id under docker.
	ID() string
	// Stop sends the service's stop signal (Service.StopSignal) to the
	// command, waits up to grace for it to end, then kills everything it
	// started, and returns once all of it has ended. grace <= 0 kills at
	// once; so does canceling ctx. The error is Wait's.
	Stop(ctx context.Context, grace time.Duration) error
	// Wait returns when the process has ended and everything it started is
	// gone: nil on exit status 0, *ExitError otherwise.
	Wait() error
}

// DataRemover is a Runtime that keeps some of an instance's data outside
// its data directory, where the directory's removal cannot reach it (the
// kubernetes runtime's volume claims). Whoever removes instances' data
// directories for good (a preview's destroy, an update's replaced
// instance) calls RemoveData after.
type DataRemover interface {
	// RemoveData removes what the runtime keeps of the instances whose
	// data directories were dir or lay inside it.
	RemoveData(ctx context.Context, dir string) error
}

// ProbedProcess is a Process whose runtime runs its service's healthcheck
// itself, as Kubernetes runs a readiness probe: the supervisor reads the
// verdict instead of running the test by Exec, and applies Compose's rules
// to it as it does to its own (start_period and retries before a service
// that never passed is unhealthy). The runtime counts retries consecutive
// failures before it reports a passing service failing.
type ProbedProcess interface {
	Process
	// Probed is the healthcheck's latest verdict (false until it has
	// passed once, or while it fails), and a channel closed when the
	// verdict may have changed.
	Probed() (ok bool, changed <-chan struct{})
	// ProbeFailure is what the failing healthcheck last said, for people.
	ProbeFailure(ctx context.Context) string
}

// ExitError reports a command that ended with a non-zero status or a signal.
type ExitError struct {
	Code   int    // exit status; 128+n for signal n, as shells report it
	Signal string // "SIGKILL" when a signal ended it
}

func (e *ExitError) Error() string {
	if e.Signal != "" {
		return "killed by " + e.Signal
	}
	return "exit status " + strconv.Itoa(e.Code)
}

// ImageHealthchecker is a Runtime that runs services from their images as
// an engine does, and so knows each image's own HEALTHCHECK, which docker
// compose uses where the Compose file gives none. The docker runtime is
// one; mixed is, for the services it runs as containers.
type ImageHealthchecker interface {
	// ImageHealthcheck returns the HEALTHCHECK of the image svc runs
	// from, with Docker's defaults filled in, or nil when its image has
	// none (or HEALTHCHECK NONE) or svc does not run from an image here.
	// The image is pulled first if the engine lacks it, saying so on out.
	// Errors name the service and the image: ENOTFOUND (the image cannot
	// be had), EUNAVAILABLE (the engine does not answer).
	ImageHealthcheck(ctx context.Context, svc *Service, out io.Writer) (*Healthcheck, error)
}

// UseImageHealthchecks gives every service of services that Compose gives
// no healthcheck, without turning it off, its image's HEALTHCHECK when rt
// runs it from that image (ImageHealthchecker): depends_on's
// service_healthy then waits for it, and the supervisor runs it, as any
// other. It is done once, where a stack is prepared for the supervisor,
// before it is checked.
func UseImageHealthchecks(ctx context.Context, rt Runtime, services []*Service, out io.Writer) error {
	ih, ok := rt.(ImageHealthchecker)
	if !ok {
		return nil
	}
	for _, svc := range services {
		if svc.Healthcheck != nil || svc.HealthcheckOff {
			continue
		}
		hc, err := ih.ImageHealthcheck(ctx, svc, out)
		if err != nil {
			return err
		}
		svc.Healthcheck = hc
	}
	return nil
}

package tandem

import (
	"context"
	"io"
	"net"
	"os"
	"strconv"
)

// Runtime runs the services of stack instances. It is the driver: it knows
// how to isolate an instance and start one service, not the Compose rules of
// ordering and health, which the supervisor applies the same way on every
// runtime. Implementations: process (local programs in network namespaces),
// docker, kubernetes.
type Runtime interface {
	// Name is the runtime's name as users choose it: "process".
	Name() string

	// Check returns nil when the runtime can run svc, or an error that names
	// the service, says why not, and what would work instead. Code EUNSUPPORTED.
	Check(svc *Service) error

	// NewSandbox creates the isolated network of one stack instance: inside
	// it every service binds the ports its command names and reaches the
	// others by service name. The sandbox lasts until Close.
	NewSandbox(ctx context.Context, spec SandboxSpec) (Sandbox, error)
}

// SandboxSpec describes the instance a sandbox is made for.
type SandboxSpec struct {
	// Name identifies the instance: "local", "pr-7". Unique per runtime.
	Name string
	// Services are the names that must resolve to the instance's services.
	Services []string
	// DataDir is the instance's own directory: databases, sockets, state.
	DataDir string
	// WorkTree holds the instance's source: the project directory under
	// tandem up, a preview's checkout. Build contexts and bind mounts must
	// lie inside it: a runtime that isolates services lets them see and
	// write that and their own data, nothing else of the host's files.
	// Empty: no host directory is mounted into the instance.
	WorkTree string
	// Restore names, by service, a directory Sandbox.Snapshot made: a
	// database service whose data is not initialised yet starts from a copy
	// of it instead of from an empty database.
	Restore map[string]string
	// Limits bound the whole instance (every service together); a
	// service's own Limits apply within them. Zero: no instance limit.
	Limits Limits
}

// Sandbox is one running stack instance's isolated network.
type Sandbox interface {
	// DialContext connects to addr, written as the stack writes it
	// ("api:8000", "db:5432"), inside the instance's network.
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)

	// Start starts svc's command inside the sandbox, its output to stdout and
	// stderr. Start returns once the process runs; the Process says when it
	// ends. A well-known image (postgres:*) is prepared first (initialised
	// data directory) as its official image would.
	Start(ctx context.Context, svc *Service, stdout, stderr io.Writer) (Process, error)

	// Exec runs argv to completion inside the sandbox, in svc's working
	// directory and environment: healthchecks and seed commands. An exit
	// status other than zero is an *ExitError. Canceling ctx kills it.
	Exec(ctx context.Context, svc *Service, argv []string, stdout, stderr io.Writer) error

	// Snapshot copies the data of svc, a database service that is not
	// running, to dir (which must not exist), for SandboxSpec.Restore.
	Snapshot(svc *Service, dir string) error

	// Close stops whatever still runs in the sandbox and removes it and its
	// network. It is safe to call more than once.
	Close() error
}

// Process is a service's running command.
type Process interface {
	// Pid is the host process id of the service's top process, for people
	// and tests; 0 if the runtime has none.
	Pid() int
	// Signal sends sig to the service's whole process tree.
	Signal(sig os.Signal) error
	// Kill ends the service's whole process tree at once.
	Kill() error
	// Wait returns when the process has ended and everything it started is
	// gone: nil on exit status 0, *ExitError otherwise.
	Wait() error
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

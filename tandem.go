// Package tandem holds the domain of tandem: a decoupled web stack (an API
// backend, a server-rendering frontend, a database) described by a Compose
// file with an x-tandem extension, the routes that put it behind one origin,
// and the interfaces of the parts that run it.
//
// Data flows one way: the stack file is loaded into a Stack (package compose),
// a Runtime brings instances of it up (package process), a Supervisor keeps
// them in the state Compose describes (package supervisor), and the gateway's
// routing table is rebuilt from what is running (package gateway).
package tandem

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Stack is a loaded stack file: the Compose services tandem runs and the
// x-tandem extension that says what Compose cannot.
type Stack struct {
	Name  string   // Compose project name
	Files []string // the Compose files, as given, first one first
	Dir   string   // the project directory (relative paths resolve against it)

	// Services are the enabled services (active profiles), sorted by name.
	Services []*Service
	// Disabled names services that exist in the file but whose profiles are
	// not active, so a route to one can be told apart from a typo.
	Disabled []string
	// Profiles are the profiles of each service that names some, enabled or
	// not, by service name: what would enable a disabled service.
	Profiles map[string][]string

	Routes  []Route
	Preview PreviewSettings
	// Review is x-tandem.review, the review plan, if the stack file holds
	// it (see ReviewPlanFile); nil otherwise.
	Review *ReviewPlan

	// Warnings are what loading allowed but questions: paths that lead
	// outside the repository, which tandem serve would refuse.
	Warnings []Problem

	// Pos maps dotted paths of the stack file ("services.api.image",
	// "x-tandem.routes.0.to") to where they were written. Use PosOf.
	Pos map[string]Pos
}

// Service returns the enabled service called name, or nil.
func (s *Stack) Service(name string) *Service {
	for _, svc := range s.Services {
		if svc.Name == name {
			return svc
		}
	}
	return nil
}

// PosOf returns where path was written, falling back to its closest parent
// that was written down, then to the first file.
func (s *Stack) PosOf(path string) Pos {
	for p := path; p != ""; {
		if pos, ok := s.Pos[p]; ok {
			return pos
		}
		i := strings.LastIndexByte(p, '.')
		if i < 0 {
			break
		}
		p = p[:i]
	}
	if len(s.Files) > 0 {
		return Pos{File: s.Files[0]}
	}
	return Pos{}
}

// Service is one Compose service as tandem runs it.
type Service struct {
	Name string

	// Image is the Compose image ("postgres:16"). A service with a build
	// context runs its command from source; Image is then only informative.
	Image string
	// Context is the absolute build context directory, empty for an
	// image-only service. The command runs there unless WorkingDir says
	// otherwise.
	Context string
	// WorkingDir is where the command runs: Compose working_dir resolved
	// against Context, or Context itself.
	WorkingDir string

	// Entrypoint and Command form the argv, as Compose would pass them to the
	// container (entrypoint first). Both nil means "what the image runs by
	// default".
	Entrypoint []string
	Command    []string
	// TandemCommand is x-tandem.command: the argv to run under tandem instead
	// of Entrypoint and Command, for a service whose image tandem cannot run
	// as it is (image: redis:7 with command redis-server). nil if not set.
	TandemCommand []string
	// DockerBuild is Compose's build: as an engine builds it (docker
	// runtime): nil for an image-only service.
	DockerBuild *DockerBuild
	// User is Compose's user: ("app", "1000:1000"); "" runs as the image
	// says. Only runtimes that run images honour it.
	User string
	// ImageWorkingDir is Compose's working_dir when it is a path inside
	// the image ("/app"); "" runs where the image says. Only runtimes that
	// run images honour it.
	ImageWorkingDir string
	// Dockerfile names the Dockerfile that Entrypoint, Command, and what
	// Compose leaves to the image (healthcheck, environment, ports, stop
	// signal) were read from, for a service with a build context and no
	// command: a path as messages show it, or "dockerfile_inline". ""
	// when Compose gives the command and the Dockerfile is not read.
	Dockerfile string
	// Unhonoured are that Dockerfile's instructions a local program does
	// not honour (RUN, USER, a WORKDIR the context is not copied to, ENV
	// values naming paths in the image), as warnings at their lines.
	Unhonoured []Problem

	// Environment is the resolved Compose environment (environment and
	// env_file), after interpolation.
	Environment map[string]string

	// Ports are the ports the service listens on as far as the file says:
	// ports targets, expose, and those of well-known images.
	Ports []int
	// Publish are the Compose ports entries that publish a port on the
	// host ("3000:3000", "127.0.0.1:5432:5432"), for tools that bypass the
	// gateway. Only tandem up publishes them; previews never do.
	Publish []PortBinding

	DependsOn   []Dependency // sorted by service name
	Healthcheck *Healthcheck // nil: none (or disabled)
	// HealthcheckOff says Compose turns the healthcheck off (disable:
	// true, test: [NONE]): a runtime does not use the image's either.
	HealthcheckOff bool `json:",omitempty"`
	Restart        Restart
	StopSignal     string        // "SIGTERM" unless Compose says otherwise
	StopGrace      time.Duration // Compose stop_grace_period, default 10s
	Mounts         []Mount       // bind mounts and named volumes, as written
	// Limits are Compose's mem_limit, cpus and pids_limit, or
	// deploy.resources.limits: what the service may use at most.
	Limits Limits

	// Build is x-tandem.build: a shell command run in Context, with the
	// service's environment, before the service starts.
	Build string
	// BuildEnv names the variables the build reads, beyond those build
	// tools inline by convention (NEXT_PUBLIC_*, VITE_*, NODE_ENV...): a
	// change to one of them means the build must run again.
	BuildEnv []string
	// Seed is x-tandem.seed: shell commands that bring a fresh database to
	// its seeded state.
	Seed []string
}

// DockerBuild is how an engine builds a service's image from its Context.
type DockerBuild struct {
	Dockerfile string            // relative to Context; "" is Dockerfile
	Inline     string            // dockerfile_inline, instead of Dockerfile
	Args       map[string]string // build.args
	Target     string            // build.target
}

// Argv is the command line the service runs: x-tandem.command if set,
// else entrypoint then command.
func (s *Service) Argv() []string {
	if s.TandemCommand != nil {
		return append([]string(nil), s.TandemCommand...)
	}
	argv := make([]string, 0, len(s.Entrypoint)+len(s.Command))
	argv = append(argv, s.Entrypoint...)
	return append(argv, s.Command...)
}

// IsPostgresImage reports whether image is the official postgres image
// ("postgres:16", "docker.io/library/postgres@sha256:..."): the database
// server whose data directory runtimes snapshot and restore.
func IsPostgresImage(image string) bool {
	name, _, _ := strings.Cut(image, "@")
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name = name[:i]
	}
	return strings.TrimPrefix(strings.TrimPrefix(name, "docker.io/"), "library/") == "postgres"
}

// Env returns the service environment as sorted KEY=VALUE pairs.
func (s *Service) Env() []string {
	env := make([]string, 0, len(s.Environment))
	for k, v := range s.Environment {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	return env
}

// ListensOn reports whether port is among the ports the file says the
// service listens on.
func (s *Service) ListensOn(port int) bool {
	for _, p := range s.Ports {
		if p == port {
			return true
		}
	}
	return false
}

// Limits bound what a service, or a whole instance, may use. Zero means no
// limit of that kind.
type Limits struct {
	Memory int64   // bytes
	CPUs   float64 // cores: 0.5 is half of one
	Pids   int64   // processes and threads
}

// IsZero reports whether no limit is set.
func (l Limits) IsZero() bool { return l == Limits{} }

// PortBinding is one published port: the host's HostIP:HostPort reaches the
// service's Port inside its instance.
type PortBinding struct {
	HostIP   string // "" means every address, as Docker binds 0.0.0.0
	HostPort int
	Port     int
	Protocol string // "tcp" or "udp"
	Pos      Pos
}

// Condition is a Compose depends_on condition.
type Condition string

const (
	ServiceStarted               Condition = "service_started"
	ServiceHealthy               Condition = "service_healthy"
	ServiceCompletedSuccessfully Condition = "service_completed_successfully"
)

// Dependency is one depends_on entry.
type Dependency struct {
	Service   string
	Condition Condition
	Required  bool // Compose "required", true unless the file says false
	Restart   bool // restart this service when the dependency restarts
}

// Healthcheck is a Compose healthcheck with Docker's defaults filled in.
type Healthcheck struct {
	// Test is ["CMD", argv...] or ["CMD-SHELL", "shell command"].
	Test          []string
	Interval      time.Duration
	Timeout       time.Duration
	StartPeriod   time.Duration
	StartInterval time.Duration
	Retries       int
}

// Timing is the healthcheck's interval and timeout, Docker's defaults
// where the file gave none.
func (hc *Healthcheck) Timing() (interval, timeout time.Duration) {
	interval, timeout = hc.Interval, hc.Timeout
	if interval <= 0 {
		interval = DefaultHealthInterval
	}
	if timeout <= 0 {
		timeout = DefaultHealthTimeout
	}
	return interval, timeout
}

// Argv is the command line of the healthcheck's test: CMD's argv, a
// CMD-SHELL command under /bin/sh -c, nil for NONE or no test.
func (hc *Healthcheck) Argv() []string {
	if hc == nil || len(hc.Test) == 0 {
		return nil
	}
	switch hc.Test[0] {
	case "CMD":
		return hc.Test[1:]
	case "CMD-SHELL":
		return []string{"/bin/sh", "-c", strings.Join(hc.Test[1:], " ")}
	case "NONE":
		return nil
	}
	// A bare list, as some files write it, is a command.
	return hc.Test
}

// Docker's healthcheck defaults, used where the file is silent.
const (
	DefaultHealthInterval      = 30 * time.Second
	DefaultHealthTimeout       = 30 * time.Second
	DefaultHealthStartInterval = 5 * time.Second
	DefaultHealthRetries       = 3
	DefaultStopGrace           = 10 * time.Second
)

// Restart is a Compose restart policy.
type Restart string

const (
	RestartNo            Restart = "no"
	RestartAlways        Restart = "always"
	RestartOnFailure     Restart = "on-failure"
	RestartUnlessStopped Restart = "unless-stopped"
)

// Mount is a Compose volume entry: a bind mount of a host path or a named volume.
type Mount struct {
	Type     string // "bind" or "volume"
	Source   string // absolute host path for binds, volume name for volumes
	Target   string // path inside the container
	ReadOnly bool
}

// ErrorFormat says how the gateway answers when a route's service cannot.
type ErrorFormat string

const (
	ErrorsHTML ErrorFormat = "html" // a small HTML page, for page routes
	ErrorsJSON ErrorFormat = "json" // {"status":"error","data":null,"error":"..."}
)

// Route sends requests whose path starts with Path to a service's port.
// The longest matching Path wins, as nginx "location /prefix/" does.
type Route struct {
	Path        string // "/api/"; always starts with "/"
	Service     string
	Port        int
	StripPrefix bool // "/api/users/" reaches the service as "/users/"
	Errors      ErrorFormat
	ErrorPage   string // optional HTML file served instead of the built-in page
	// ErrorPageBody is ErrorPage's content, read and checked when the stack
	// was loaded: the gateway serves it without opening a path the stack
	// file names, which a build may since have pointed elsewhere.
	ErrorPageBody string
	Pos           Pos
}

// Target is the route's upstream address as the stack names it: "api:8000".
func (r Route) Target() string { return fmt.Sprintf("%s:%d", r.Service, r.Port) }

// PreviewSettings is x-tandem.preview: how previews of the stack are served.
type PreviewSettings struct {
	Domain  string        // previews answer at NAME.Domain
	TTL     time.Duration // zero: no expiry
	Secrets []string      // variables generated once per preview, never logged
	// Access is the stack's own say on who may open its previews; see
	// EffectiveAccess for how it meets the repository's. "": not said.
	Access PreviewAccess `json:",omitempty"`
}

// Pos is a place in a stack file. Line 0 means "somewhere in File".
type Pos struct {
	File string
	Line int
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// Severity grades a Problem.
type Severity int

const (
	SeverityError Severity = iota
	SeverityWarning
)

// Problem is something wrong with a stack file, at a place in it.
type Problem struct {
	Pos      Pos
	Severity Severity
	Message  string
}

// String formats the problem as compilers do: "file:line: message", with
// "warning: " before the message of a warning.
func (p Problem) String() string {
	if p.Severity == SeverityWarning {
		return p.Pos.String() + ": warning: " + p.Message
	}
	return p.Pos.String() + ": " + p.Message
}

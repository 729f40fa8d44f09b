// Package preview runs previews: a copy of a stack per pull request, built
// at its commit, with its own seeded database and secrets, served at its own
// host, updated without downtime, destroyed on request or when its TTL runs
// out, and brought back as it was after tandem itself restarts.
package preview

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/build"
	"github.com/tandem-dev/tandem/seed"
	"github.com/tandem-dev/tandem/supervisor"
)

// Repo is a registered repository previews are made from.
type Repo struct {
	Name          string
	Source        tandem.Source
	Compose       string // the Compose file's path in the repository ("": it only supplies services to others)
	DefaultBranch string

	// Services are the stack's services built from another registered
	// repository, by service name (see sources.go).
	Services map[string]ServiceSource
	// PRRef is how the repository names a pull request's head, with one
	// %d: "refs/pull/%d/head" (the default), GitLab's
	// "refs/merge-requests/%d/head".
	PRRef string
	// Env are values the server supplies (tandem.yaml), which the stack
	// file interpolates as it does its generated secrets. Untrusted code
	// (a fork's pull request) gets them only if ForkEnv.
	Env     map[string]string
	ForkEnv bool
	// SleepAfter is how long its previews may go without a request before
	// they sleep: 0 takes Options.SleepAfter, a negative value never.
	SleepAfter time.Duration
}

// Options configure a Manager.
type Options struct {
	Store   tandem.PreviewStore
	Runtime tandem.Runtime
	Repos   map[string]Repo
	DataDir string // previews/, cache/ go here

	// Domain is where previews answer: NAME.Domain. Scheme ("http" or
	// "https") and PublicPort ("" for the scheme's own) make their URL.
	Domain     string
	Scheme     string
	PublicPort string

	// Hosts are the server's own hosts under Domain (the sign-in host): no
	// preview may take their names.
	Hosts []string

	Parallelism int           // previews made at once (default 2)
	DefaultTTL  time.Duration // when neither the request nor the stack says (0: none)
	Drain       time.Duration // how long a replaced instance still runs after the switch (default 2s)
	Timeout     time.Duration // for one create, from checkout to ready (default 15m)
	// CacheLimit bounds the caches (build outputs, dependency folders,
	// database snapshots) together, in bytes: past it the least recently
	// used go, never one a preview uses. 0: no limit.
	CacheLimit int64
	// SnapshotPath is where the runtime keeps a snapshot, to weigh it
	// (Caches.SnapshotPath).
	SnapshotPath func(id string) string
	// SleepAfter is how long a preview may go without a request before its
	// processes stop (its files stay, and the next request wakes it), unless
	// its repository says otherwise: default 30 minutes, negative never.
	SleepAfter time.Duration
	// Limits bound each preview's instance as a whole (every service
	// together); a service's own Compose limits apply within them.
	Limits tandem.Limits
	// Audit is the log that records each generation that serves and each
	// preview destroyed, with what it ran (nil: none).
	Audit tandem.AuditLog
	// ReviewPlan reads and keeps the review plan of generation gen from its
	// work tree and loaded stack, and returns its digest for the binding
	// (package review); an error fails the generation at step "review
	// plan". nil: no plans.
	ReviewPlan func(ctx context.Context, p *tandem.Preview, gen int, workTree string, st *tandem.Stack) (string, error)

	BuildEnv  []string // what builds get from tandem's environment (PATH, HOME...)
	BuildExec func(ctx context.Context, dir string, env []string, command string, out io.Writer) error

	// Serve is called, after every change, with the instances to route to,
	// by host. It must not block.
	Serve  func(map[string]*Instance)
	Logger *slog.Logger
}

// Instance is a preview instance, as the gateway needs it: running, or
// asleep (sleep.go) until a request wakes it.
type Instance struct {
	Preview    string
	Repo       string
	Generation int
	Host       string
	Routes     []tandem.Route
	// Access is the stack file's own say on who may open the preview
	// (x-tandem.preview.access); tandem.EffectiveAccess weighs it.
	Access tandem.PreviewAccess

	sup    atomic.Pointer[supervisor.Supervisor] // nil while asleep
	dir    string                                // previews/NAME/GEN
	source tandem.Source
	// progress receives the services' output while the instance starts,
	// as the create's progress; nil once it is ready.
	progress atomic.Pointer[step]
	nap      nap // sleep.go
	m        *Manager
}

// Supervisor is what runs the instance's services, nil while it sleeps.
func (in *Instance) Supervisor() *supervisor.Supervisor { return in.sup.Load() }

// CreateRequest asks for a preview of Repo at Ref.
type CreateRequest struct {
	Name string        `json:"name"`
	Repo string        `json:"repo"`
	Ref  string        `json:"ref,omitempty"` // default: the repository's default branch
	PR   int           `json:"pr,omitempty"`
	TTL  time.Duration `json:"ttl,omitempty"` // 0: the stack's preview.ttl, then the server's

	// By and Reason say who asked and why, for the audit log: "gitea:alice",
	// "opened pull request #7". Untrusted marks a fork's code.
	By        string `json:"by,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Untrusted bool   `json:"untrusted,omitempty"`
	// Author is who wrote the change, its pull request's author: an email
	// address where known, else "FORGE:LOGIN"; they sign no stage of its
	// review. Empty keeps the one recorded.
	Author string `json:"author,omitempty"`
}

// Manager makes, serves and removes previews.
type Manager struct {
	opts   Options
	log    *slog.Logger
	builds *build.Cache
	snaps  *seed.Snapshots
	caches *Caches
	prune  sync.Mutex // one pruning at a time
	queue  chan job
	qmu    sync.RWMutex // held to send on queue; Close closes it under the write lock

	mu       sync.Mutex
	serving  map[string]*Instance // by preview name
	running  map[string]context.CancelFunc
	begun    map[string]time.Time // when each running job began
	locks    map[string]*sync.Mutex
	subs     map[chan tandem.Event]string
	ttlWake  chan struct{}
	closing  bool
	workers  sync.WaitGroup
	stopLoop context.CancelFunc
}

// New returns a manager; nothing runs until Start.
func New(opts Options) (*Manager, error) {
	if opts.Parallelism <= 0 {
		opts.Parallelism = 2
	}
	if opts.Drain == 0 {
		opts.Drain = 2 * time.Second
	}
	if opts.Timeout == 0 {
		opts.Timeout = 15 * time.Minute
	}
	if opts.SleepAfter == 0 {
		opts.SleepAfter = DefaultSleepAfter
	}
	if opts.Scheme == "" {
		opts.Scheme = "http"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	// Work trees, instances' data and caches (builds, database snapshots)
	// are nobody else's to read.
	for _, d := range []string{"previews", "cache"} {
		dir := filepath.Join(opts.DataDir, d)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, err
		}
	}
	m := &Manager{
		opts:    opts,
		log:     opts.Logger,
		builds:  &build.Cache{Dir: filepath.Join(opts.DataDir, "cache", "builds"), BaseEnv: opts.BuildEnv, Exec: opts.BuildExec},
		snaps:   &seed.Snapshots{Dir: filepath.Join(opts.DataDir, "cache", "snapshots"), Runtime: opts.Runtime, Limits: opts.Limits},
		queue:   make(chan job, 1024),
		serving: map[string]*Instance{},
		running: map[string]context.CancelFunc{},
		begun:   map[string]time.Time{},
		locks:   map[string]*sync.Mutex{},
		subs:    map[chan tandem.Event]string{},
		ttlWake: make(chan struct{}, 1),
	}
	m.caches = &Caches{DataDir: opts.DataDir, Builds: m.builds, Snapshots: m.snaps, SnapshotPath: opts.SnapshotPath}
	return m, nil
}

// host is where a preview answers, and its PREVIEW_HOST: a bare name, as
// Django's ALLOWED_HOSTS compares it. hostPort adds the public port, as
// browsers send it and PREVIEW_URL says it.
func (m *Manager) host(name string) string { return name + "." + m.opts.Domain }

func (m *Manager) hostPort(name string) string {
	if m.opts.PublicPort == "" {
		return m.host(name)
	}
	return m.host(name) + ":" + m.opts.PublicPort
}

func (m *Manager) url(name string) string { return m.opts.Scheme + "://" + m.hostPort(name) }

// lock serialises what happens to one preview.
func (m *Manager) lock(name string) func() {
	m.mu.Lock()
	l := m.locks[name]
	if l == nil {
		l = &sync.Mutex{}
		m.locks[name] = l
	}
	m.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// genDir is where generation gen of a preview keeps its work tree (src)
// and its instance's data (data).
func (m *Manager) genDir(name string, gen int) string {
	return filepath.Join(m.opts.DataDir, "previews", name, fmt.Sprint(gen))
}

// publish tells the gateway what to route to now.
func (m *Manager) publish() {
	m.mu.Lock()
	routes := make(map[string]*Instance, len(m.serving))
	for _, in := range m.serving {
		routes[in.Host] = in
	}
	m.mu.Unlock()
	if m.opts.Serve != nil {
		m.opts.Serve(routes)
	}
}

// Instance returns the instance a preview is served by while it runs: nil
// when there is none, or while it sleeps.
func (m *Manager) Instance(name string) *Instance {
	m.mu.Lock()
	in := m.serving[name]
	m.mu.Unlock()
	if in == nil || !in.Awake() {
		return nil
	}
	return in
}

package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/gateway"
	"github.com/tandem-dev/tandem/git"
	"github.com/tandem-dev/tandem/httpapi"
	"github.com/tandem-dev/tandem/internal/fsutil"
	"github.com/tandem-dev/tandem/metrics"
	"github.com/tandem-dev/tandem/preview"
	"github.com/tandem-dev/tandem/review"
	"github.com/tandem-dev/tandem/sqlite"
)

func newServeCmd(stdout, stderr io.Writer) *cobra.Command {
	var file string
	var checkOnly bool
	cmd := &cobra.Command{
		Use:   "serve --config tandem.yaml",
		Short: "Run the preview server: gateway, API and a stack per pull request",
		Long: `Run the preview server. Each preview is a copy of a registered repository's
stack at one commit, built in a work tree of its own, with its own seeded
database and generated secrets, served at NAME.DOMAIN by the gateway. Create
them with "tandem preview create" (or POST /v1/previews from any CI).

The state is a SQLite file in the data directory: after a restart, even
after a crash, previews that were ready come back at the same URL with the
same secrets and data. SIGINT or SIGTERM stop every instance and keep the
state. See docs/serve.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := readServeConfig(file)
			if err != nil {
				return err
			}
			if checkOnly {
				fmt.Fprintf(stdout, "%s: ok: %d repositories, previews at *.%s, each limited to %s\n", file, len(cfg.Repos), cfg.Domain, describeLimits(cfg.limits))
				return nil
			}
			return runServe(cmd.Context(), cfg, stderr)
		},
	}
	cmd.Flags().StringVarP(&file, "config", "c", "tandem.yaml", "the server's configuration file")
	cmd.Flags().BoolVar(&checkOnly, "check", false, "check the file and exit")
	return cmd
}

func runServe(ctx context.Context, cfg *serveConfig, stderr io.Writer) error {
	rt, err := serveRuntime(ctx, cfg) // runtime.go
	if err != nil {
		return err
	}
	how := ""
	if k := cfg.Kubernetes; rt.Name() == runtimeKubernetes && k != nil && k.Dial == "port-forward" {
		how = "; the gateway reaches pods through the API server's port-forward"
	}
	fmt.Fprintf(stderr, "tandem: previews run on the %s runtime (runtime: %s%s)\n", rt.Name(), cfg.Runtime, how)
	// The data directory holds every preview's secrets, code and data:
	// nobody else's to read, whatever an older tandem or the umask left.
	for _, dir := range []string{cfg.Data, filepath.Join(cfg.Data, "logs"), filepath.Join(cfg.Data, "repos")} {
		if err := privateDir(dir); err != nil {
			return err
		}
	}
	// One server per data directory.
	held, err := fsutil.TryLock(filepath.Join(cfg.Data, "serve.lock"), false)
	if err != nil {
		return tandem.Errorf(tandem.ECONFLICT, "another tandem serve uses %s", cfg.Data)
	}
	defer held.Unlock()
	if err := recordRuntime(cfg, rt); err != nil { // cache.go
		return err
	}

	logger, access, closeLogs, err := serveLogs(cfg, stderr)
	if err != nil {
		return err
	}
	defer closeLogs()

	store, err := sqlite.Open(filepath.Join(cfg.Data, "tandem.db"))
	if err != nil {
		return err
	}
	defer store.Close()
	auditLog, err := openAuditLog(ctx, cfg.Data, cfg.Domain, store)
	if err != nil {
		return err
	}

	reg := metrics.Registry()
	obs := metrics.NewGateway(reg)
	var observer gateway.Observer
	if cfg.Admin != "" {
		observer = obs // only when something can read them
	}
	gw := gateway.New(gateway.Options{Logger: access, TrustedProxies: cfg.proxies, Observer: observer})
	signIn, signInOpts, err := newAccess(cfg, store, auditLog, logger)
	if err != nil {
		return err
	}
	reviews, err := newReviews(cfg, store, auditLog, signIn, logger) // review.go
	if err != nil {
		return err
	}
	router := &previewRouter{gw: gw, obs: obs, domain: cfg.Domain, sites: map[*preview.Instance]*gateway.Site{}, gates: newGates(signIn, cfg)}
	router.set(nil)
	fmt.Fprintf(stderr, "tandem: sign-in at %s://%s (%s)\n", cfg.PublicScheme, cfg.authHost(), describeAuth(signInOpts))

	if err := loadForges(cfg); err != nil { // serveforge.go
		return err
	}
	m, err := newManager(cfg, rt, store, auditLog, router, logger, reviews)
	if err != nil {
		return err
	}
	hooks := newForgeService(cfg, store, m, reg, logger)

	// Listen on everything before anything starts, so a taken port fails fast.
	var closers []func(context.Context)
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i](sctx)
		}
	}()
	if _, err := listenGateway(gw, cfg.Listen, cfg.TLS, stderr); err != nil {
		return err
	}
	closers = append(closers, func(ctx context.Context) { gw.Shutdown(ctx) })
	if err := loadGrants(ctx, store, cfg.file, cfg.grants); err != nil {
		return fmt.Errorf("access grants: %w", err)
	}
	api := &httpapi.Server{Previews: m, Access: store, Repos: cfg.repoNames(),
		VerificationURL: cfg.loginVerificationURL(), Logger: logger,
		Shares: signIn, Reviews: reviews, Authenticators: []httpapi.Authenticator{signIn.Principal}}
	dashClose, err := mountDashboard(cfg, router, signIn, api, m, auditLog, logger, stderr) // servedashboard.go
	if err != nil {
		return err
	}
	closers = append(closers, dashClose)
	apiClosers, err := listenAPI(ctx, cfg, api, withHooks(cfg, hooks, auditLog.Public))
	closers = append(closers, apiClosers...)
	if err != nil {
		return err
	}
	if cfg.Admin != "" {
		srv, err := listenAdmin(cfg.Admin, reg)
		if err != nil {
			return err
		}
		closers = append(closers, func(ctx context.Context) { srv.Shutdown(ctx) })
	}

	soft, hard, stop := signalContext(ctx)
	defer stop()
	if err := m.Start(soft); err != nil {
		return err
	}
	hooks.Start()
	fmt.Fprintf(stderr, "tandem: serving previews at %s://NAME.%s (gateway %s), API on %s (bootstrap token in %s) and %s, data in %s\n",
		cfg.PublicScheme, cfg.Domain, cfg.Listen, cfg.API, cfg.tokenFile(), cfg.socket(), cfg.Data)
	<-soft.Done()
	hooks.Close() // queued deliveries wait for the next start
	fmt.Fprintln(stderr, "tandem: stopping the previews' instances (their state is kept)")
	return m.Close(hard)
}

// serveLogs opens tandem's own log (DATA/logs/tandem.log, warnings also
// on stderr) and the gateway's access log.
func serveLogs(cfg *serveConfig, stderr io.Writer) (logger, access *slog.Logger, closeAll func(), err error) {
	logFile, err := privateLog(filepath.Join(cfg.Data, "logs", "tandem.log"))
	if err != nil {
		return nil, nil, nil, err
	}
	logger = slog.New(slog.NewMultiHandler(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}), slog.NewJSONHandler(logFile, nil)))
	accessOut, closeAccess, err := accessLogWriter(accessLogDefault(cfg), io.Discard)
	if err != nil {
		logFile.Close()
		return nil, nil, nil, err
	}
	if accessOut != nil {
		access = slog.New(slog.NewJSONHandler(accessOut, nil))
	}
	return logger, access, func() { closeAccess(); logFile.Close() }, nil
}

// newManager makes the previews' manager for the registered repositories.
func newManager(cfg *serveConfig, rt tandem.Runtime, store *sqlite.DB, auditLog tandem.AuditLog, router *previewRouter, logger *slog.Logger, reviews *review.Service) (*preview.Manager, error) {
	repos := map[string]preview.Repo{}
	for _, r := range cfg.Repos {
		repo, err := withForge(cfg, r, preview.Repo{
			Name: r.Name, Compose: r.Compose, DefaultBranch: r.DefaultBranch, SleepAfter: time.Duration(r.SleepAfter),
			Source: git.NewMirror(r.Name, r.URL, filepath.Join(cfg.Data, "repos", r.Name+".git")),
		})
		if err != nil {
			return nil, err
		}
		repos[r.Name] = repo
	}
	return preview.New(preview.Options{
		Store: store, Runtime: rt, Repos: repos, DataDir: cfg.Data,
		Domain: cfg.Domain, Scheme: cfg.PublicScheme, PublicPort: cfg.PublicPort,
		Parallelism: cfg.Parallelism, DefaultTTL: cfg.ttl(), Limits: cfg.limits, Hosts: []string{cfg.authHost(), cfg.dashboardHost()},
		SleepAfter: time.Duration(cfg.SleepAfter), CacheLimit: cfg.Cache.limit, SnapshotPath: snapshotPath(snapshotStore(cfg)), // cache.go
		BuildEnv: buildEnv(), BuildExec: limitedExec(cfg.limits),
		Serve: router.set, Logger: logger, Audit: auditLog, ReviewPlan: reviews.PlanOf,
	})
}

// listenAPI answers the API on the api address, to callers with a token
// (or what api's other authenticators know), and on DATA/api.sock, which
// only root may connect to and where every caller is root. The token of
// DATA/api-token is the bootstrap admin's.
func listenAPI(ctx context.Context, cfg *serveConfig, api *httpapi.Server, public func(http.Handler) http.Handler) ([]func(context.Context), error) {
	token, err := httpapi.EnsureToken(cfg.tokenFile())
	if err != nil {
		return nil, fmt.Errorf("API token: %w", err)
	}
	if _, err := httpapi.Bootstrap(ctx, api.Access, token, time.Now()); err != nil {
		return nil, fmt.Errorf("API token: %w", err)
	}
	var closers []func(context.Context)
	serve := func(ln net.Listener, h http.Handler) {
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}
		go srv.Serve(ln)
		closers = append(closers, func(ctx context.Context) { srv.Shutdown(ctx) })
	}
	ln, err := net.Listen("tcp", cfg.API)
	if err != nil {
		return closers, tandem.Errorf(tandem.ECONFLICT, "API: %w", err)
	}
	// public answers first what needs no token: the audit log's checkpoint and key.
	serve(ln, public(api.TCPHandler()))

	sock := cfg.socket()
	os.Remove(sock) // a socket left by a crash; the lock says nobody uses it
	// The socket is made in the data directory, which nobody else may
	// enter, and narrowed before it answers anything.
	ln, err = net.Listen("unix", sock)
	if err != nil {
		return closers, tandem.Errorf(tandem.ECONFLICT, "API: %w", err)
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		ln.Close()
		return closers, err
	}
	serve(ln, public(api.SocketHandler()))
	return closers, nil
}

// privateDir makes dir, and its missing parents, readable by its owner
// only; one that exists is narrowed to that.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.Chmod(dir, 0o700)
}

// privateLog opens a log file to append to, readable by its owner only.
func privateLog(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// describeLimits says what an instance may use, for people.
func describeLimits(l tandem.Limits) string {
	var parts []string
	if l.Memory > 0 {
		parts = append(parts, fmt.Sprintf("%d MiB of memory", l.Memory>>20))
	}
	if l.CPUs > 0 {
		parts = append(parts, fmt.Sprintf("%g CPUs", l.CPUs))
	}
	if l.Pids > 0 {
		parts = append(parts, fmt.Sprintf("%d processes", l.Pids))
	}
	if len(parts) == 0 {
		return "nothing (no limits)"
	}
	return strings.Join(parts, ", ")
}

// accessLogDefault is where the gateway's access log goes when the file
// does not say: a file in the data directory.
func accessLogDefault(cfg *serveConfig) string {
	if cfg.AccessLog != "" {
		return cfg.AccessLog
	}
	return filepath.Join(cfg.Data, "logs", "access.log")
}

// previewRouter turns the manager's instances into the gateway's table:
// NAME.DOMAIN → the instance's routes. An instance keeps its *Site, and so
// its connections, for as long as it serves.
type previewRouter struct {
	gw     *gateway.Gateway
	obs    *metrics.Gateway
	domain string

	gates *gates // private previews' gates and the sign-in host (serveaccess.go)

	mu    sync.Mutex
	sites map[*preview.Instance]*gateway.Site
	own   map[string]*gateway.Site // tandem's own sites by host, besides the sign-in host: the dashboard (servedashboard.go)
}

func (r *previewRouter) set(instances map[string]*preview.Instance) {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := map[string]*gateway.Site{}
	next := map[*preview.Instance]*gateway.Site{}
	for _, in := range instances {
		s := r.sites[in]
		if s == nil {
			gate := r.gates.gate(in)
			if in.Sleeps() {
				gate = wakeGate(in, gate) // servewake.go
			}
			s = &gateway.Site{Name: in.Preview, Routes: in.Routes, Dial: in.DialContext, Ready: in.Ready, Gate: gate}
			if in.Sleeps() {
				s.InUse = in.InUse
			}
		}
		next[in] = s
		names[in.Preview] = s
	}
	r.sites = next
	r.publish()
	r.obs.Forget(func(instance string) bool { _, ok := names[instance]; return ok })
}

// publish sets the gateway's table to the sites as they are; r.mu is held.
func (r *previewRouter) publish() {
	hosts := r.gates.hosts()
	if hosts == nil {
		hosts = map[string]*gateway.Site{}
	}
	for host, s := range r.own {
		hosts[host] = s
	}
	names := map[string]*gateway.Site{}
	for in, s := range r.sites {
		names[in.Preview] = s
	}
	r.gw.Set(&gateway.Table{Hosts: hosts, Previews: map[string]map[string]*gateway.Site{r.domain: names}})
}

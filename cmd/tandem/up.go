package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/build"
	"github.com/tandem-dev/tandem/gateway"
	"github.com/tandem-dev/tandem/httpapi"
	"github.com/tandem-dev/tandem/internal/logwriter"
	"github.com/tandem-dev/tandem/process"
	"github.com/tandem-dev/tandem/publish"
	"github.com/tandem-dev/tandem/supervisor"
)

type upCmd struct {
	stack   stackFlags
	listen  string
	noBuild bool
	runtime string
	stdout  io.Writer
	stderr  io.Writer
}

func newUpCmd(stdout, stderr io.Writer) *cobra.Command {
	c := &upCmd{stdout: stdout, stderr: stderr}
	cmd := &cobra.Command{
		Use:   "up [-f compose.yml] [--listen :8080] [--runtime auto|process|docker]",
		Short: "Run the stack locally behind the gateway; Ctrl-C stops it all",
		Long: `Run every service of the stack as a local program, in a network namespace of
the stack's own, behind the gateway on --listen. With --runtime docker, every
service is a container of the Docker Engine in one network namespace; with
auto (the default), services are local programs where tandem runs as root on
Linux, and image services (redis:7) containers beside them, else containers.

Before the services start, each one's x-tandem.build step runs in its build
context (skipped when nothing it reads has changed). Services start as their
depends_on conditions allow; their output is shown interleaved, one prefix per
service. Ctrl-C or SIGTERM stops them all, dependents first; a second Ctrl-C
kills them at once.

While it runs, "tandem ps", "tandem logs", "tandem stop/start/restart SERVICE"
act on it (run them with the same -f or --data).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return c.run(cmd.Context()) },
	}
	c.stack.register(cmd, true)
	cmd.Flags().StringVar(&c.listen, "listen", ":8080", "address of the gateway")
	cmd.Flags().BoolVar(&c.noBuild, "no-build", false, "do not run x-tandem.build steps")
	registerRuntime(cmd, &c.runtime)
	return cmd
}

func (c *upCmd) run(ctx context.Context) error {
	files, err := c.stack.stackFiles()
	if err != nil {
		return err
	}
	dataDir, err := c.stack.dataDir(files)
	if err != nil {
		return err
	}
	// The port first: if it is taken, say so before building anything.
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return tandem.Errorf(tandem.ECONFLICT, "gateway: %w (choose another with --listen)", err)
	}
	defer ln.Close()
	vars := tandem.LocalVars(listenAddr(c.listen, ln))

	st, err := loadStack(ctx, &c.stack, files, vars, dataDir)
	if err != nil {
		return err
	}
	rt, err := pickRuntime(ctx, c.runtime, st.Services, "")
	if err != nil {
		return err
	}
	available := rt.Available(ctx)
	if available == nil {
		// An image's HEALTHCHECK counts where Compose gives none, as under
		// docker compose, and before the check, which holds
		// service_healthy to it.
		if err := tandem.UseImageHealthchecks(ctx, rt, st.Services, c.stderr); err != nil {
			return err
		}
	}
	if failed := printProblems(c.stderr, checkStack(st, rt)); failed {
		return exitError(1)
	}
	if available != nil {
		return available
	}
	// x-tandem.build prepares a service to run from source; the engine
	// builds a container's image from its Dockerfile as it starts, and a
	// cluster runs images CI built.
	c.noBuild = c.noBuild || rt.Name() == runtimeDocker || rt.Name() == runtimeKubernetes
	// Logs and databases of the stack are the user's alone.
	for _, dir := range []string{dataDir, filepath.Join(dataDir, "logs")} {
		if err := privateDir(dir); err != nil {
			return err
		}
	}

	names := make([]string, 0, len(st.Services))
	for _, s := range st.Services {
		names = append(names, s.Name)
	}
	con := newConsole(c.stdout, names)
	defer con.flush()
	logFile, err := privateLog(filepath.Join(dataDir, "logs", "tandem.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	logger := slog.New(slog.NewMultiHandler(&consoleHandler{c: con}, slog.NewJSONHandler(logFile, nil)))
	accessFile, err := privateLog(filepath.Join(dataDir, "logs", "access.log"))
	if err != nil {
		return err
	}
	access := logwriter.New(accessFile) // a line per request, written in batches
	defer access.Close()

	soft, hard, stopSignals := signalContext(ctx)
	defer stopSignals()

	routed := map[string][]int{}
	for _, r := range st.Routes {
		routed[r.Service] = append(routed[r.Service], r.Port)
	}
	sup := supervisor.New(supervisor.Options{
		Stack: st, Runtime: rt, Name: vars.Name, DataDir: dataDir, Output: con.line, Logger: logger, Routed: routed,
	})
	gw := gateway.New(gateway.Options{Logger: slog.New(slog.NewJSONHandler(access, nil))})
	gw.Set(&gateway.Table{Default: &gateway.Site{Name: vars.Name, Routes: st.Routes, Dial: sup.DialContext, Ready: sup.Ready}})
	go gw.Serve(ln)

	ctl, err := serveControl(socketPath(dataDir), sup)
	if err != nil {
		return err
	}
	defer ctl.Close()
	pub, err := c.publish(st, sup, con, logger)
	if err != nil {
		return err
	}
	defer pub.Close()

	con.say("%s: data in %s; gateway on %s", st.Name, dataDir, vars.URL)
	builds, err := c.runBuilds(soft, st, con)
	// The services run from what the builds made: hold it until they stop.
	defer func() {
		for _, b := range builds {
			b.Release()
		}
	}()
	if err == nil {
		err = sup.Up(soft)
	}
	switch {
	case soft.Err() != nil:
		// Interrupted while starting: stop what started.
	case err != nil:
		con.say("could not start the stack:\n%s", indent(err.Error()))
	default:
		con.say("%s is up at %s", st.Name, vars.URL)
		for _, r := range st.Routes {
			con.say("  %-10s → %s%s", r.Path, r.Target(), map[bool]string{true: " (prefix stripped)"}[r.StripPrefix])
		}
		for _, a := range pub.Addrs() {
			con.say("  published %s", a)
		}
		<-soft.Done()
	}

	con.say("stopping (Ctrl-C again to kill)")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	gw.Shutdown(shutdownCtx)
	cancel()
	if derr := sup.Down(hard); derr != nil {
		con.say("stop: %v", derr)
	}
	con.say("stopped")
	if err != nil && soft.Err() == nil {
		return exitError(1)
	}
	return nil
}

// publish binds the ports services publish (Compose ports:), before any
// service starts, so a port another program holds stops tandem up at once.
func (c *upCmd) publish(st *tandem.Stack, sup *supervisor.Supervisor, con *console, log *slog.Logger) (*publish.Publisher, error) {
	pub, skipped, err := publish.Listen(st.Services, sup.DialContext, log)
	if err != nil {
		return nil, err
	}
	for _, b := range skipped {
		con.say("%s: warning: port %d/%s is not published: tandem publishes TCP ports only", b.Pos, b.HostPort, b.Protocol)
	}
	pub.Serve()
	return pub, nil
}

// listenAddr is the address browsers use for the gateway: the --listen
// port, or the one the system chose for port 0.
func listenAddr(listen string, ln net.Listener) string {
	if _, port, err := net.SplitHostPort(listen); err == nil && port != "0" {
		return listen
	}
	return ln.Addr().String()
}

// runBuilds runs each service's x-tandem.build in turn, saying which step
// runs, why, and how long it took. The caller releases the results when the
// services no longer run from them.
func (c *upCmd) runBuilds(ctx context.Context, st *tandem.Stack, con *console) ([]build.Result, error) {
	if c.noBuild {
		return nil, nil
	}
	r := &build.Runner{StateDir: build.DefaultStateDir(), BaseEnv: buildEnv(), Exec: isolatedExec}
	var done []build.Result
	for _, svc := range st.Services {
		step, ok := build.StepFor(svc)
		if !ok {
			continue
		}
		con.say("%s: build: %s (in %s)", svc.Name, step.Command, step.Dir)
		out := con.writer(svc.Name)
		res, err := r.Run(ctx, step, out)
		out.Flush()
		if err != nil {
			return done, err
		}
		done = append(done, res)
		if res.Skipped {
			con.say("%s: build skipped: nothing it reads changed since the last one", svc.Name)
		} else {
			con.say("%s: built in %s (%s)", svc.Name, roundDuration(res.Duration), res.Reason)
		}
	}
	return done, nil
}

// isolatedExec runs a build step under the process runtime's init: nothing
// it starts outlives it, or tandem.
func isolatedExec(ctx context.Context, dir string, env []string, command string, out io.Writer) error {
	return limitedExec(tandem.Limits{})(ctx, dir, env, command, out)
}

// limitedExec is isolatedExec within limits: a preview's build, which runs
// the pull request's code (npm's install scripts, next.config.js), may use
// no more than the preview's services together.
func limitedExec(l tandem.Limits) func(ctx context.Context, dir string, env []string, command string, out io.Writer) error {
	return func(ctx context.Context, dir string, env []string, command string, out io.Writer) error {
		return process.Run(ctx, process.Cmd{Argv: []string{"/bin/sh", "-c", command}, Dir: dir, Env: env, Stdout: out, Stderr: out, Limits: l})
	}
}

// roundDuration keeps what matters to a person: 12ms, 1.4s, 1m3s.
func roundDuration(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(100 * time.Millisecond)
}

// buildEnv is what a build step inherits from tandem's environment: enough
// to find programs, reach the package registry and use the user's caches.
func buildEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "PATH", k == "HOME", k == "USER", k == "LOGNAME", k == "SHELL", k == "LANG", k == "TZ", k == "TMPDIR",
			strings.HasPrefix(k, "LC_"), strings.HasPrefix(k, "npm_config_"), strings.HasPrefix(k, "NPM_CONFIG_"),
			strings.HasSuffix(k, "_PROXY"), strings.HasSuffix(k, "_proxy"):
			env = append(env, kv)
		}
	}
	return env
}

// serveControl answers the control API on a unix socket. A socket left by a
// tandem that died is replaced; one that answers means another tandem up
// runs with this data directory.
func serveControl(sock string, sup *supervisor.Supervisor) (io.Closer, error) {
	if _, err := httpapi.NewClient(sock).Services(context.Background()); err == nil {
		return nil, tandem.Errorf(tandem.ECONFLICT, "another tandem up is running with the data directory %s: stop it, or use another --data", filepath.Dir(sock))
	}
	os.Remove(sock)
	l, err := net.Listen("unix", sock)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	srv := &http.Server{Handler: httpapi.Handler(sup)}
	go srv.Serve(l)
	return closerFunc(func() error {
		err := srv.Close()
		os.Remove(sock)
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}), nil
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

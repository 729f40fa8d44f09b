//go:build linux

// Package process is tandem's default runtime: every service of a stack
// instance runs as a local program, in the instance's own network namespace,
// so it binds the port its command names and reaches the others by service
// name, as under Compose, without Docker. Well-known images run as local
// programs: postgres:* is a real PostgreSQL server from the machine's
// binaries, initialised as the official image does.
package process

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/internal/snapshots"
)

// Runtime runs stack instances as local processes.
type Runtime struct {
	// SnapshotDir is where Snapshot keeps copies of databases, one
	// directory per snapshot id: DefaultSnapshotDir if empty.
	SnapshotDir string

	mu       sync.Mutex
	postgres *postgresBins // nil until a postgres service needs it
}

var _ tandem.Runtime = (*Runtime)(nil)

// DefaultSnapshotDir keeps snapshots when the caller names no directory.
const DefaultSnapshotDir = snapshots.DefaultDir

// New returns the process runtime.
func New() *Runtime { return &Runtime{} }

func (*Runtime) Name() string { return "process" }

// Available reports whether this process may make and enter network
// namespaces.
func (*Runtime) Available(context.Context) error { return Available() }

// Check reports whether svc can run as a local program.
func (r *Runtime) Check(svc *tandem.Service) error {
	switch {
	case svc.TandemCommand != nil:
		return nil
	case isPostgres(svc.Image):
		_, err := r.postgresBins()
		return err
	case svc.Context != "":
		if len(svc.Argv()) == 0 {
			return tandem.Errorf(tandem.EUNSUPPORTED,
				"service %q has no command and no CMD in its Dockerfile: the process runtime runs a built service's command, or its Dockerfile's ENTRYPOINT and CMD, in its build context; add command: or x-tandem.command", svc.Name)
		}
		return nil
	case svc.Image != "":
		return tandem.Errorf(tandem.EUNSUPPORTED,
			"service %q: the process runtime cannot run image %q; it runs postgres:* images and services with a build context. "+
				"Give the service a build context and a command, set x-tandem.command to run a local program instead (for example redis-server --port 6379), "+
				"run it as a container (--runtime auto or docker, with a Docker Engine), or put it under a profile tandem does not enable", svc.Name, svc.Image)
	}
	return tandem.Errorf(tandem.EUNSUPPORTED, "service %q has neither a build context nor an image", svc.Name)
}

// NewSandbox makes the instance's sandbox: its network namespace, user,
// cgroup and the files its services see.
func (r *Runtime) NewSandbox(ctx context.Context, spec tandem.SandboxSpec) (tandem.Sandbox, error) {
	if spec.DataDir == "" {
		return nil, tandem.Errorf(tandem.EINVALID, "sandbox %q: no data directory", spec.Name)
	}
	if err := Available(); err != nil {
		return nil, err
	}
	return makeSandbox(r, spec, nil)
}

// NewSandboxIn is NewSandbox in a network namespace made by someone else
// (the docker runtime's, so processes and containers share one instance's
// network). The sandbox owns ns and closes it; on an error, ns stays the
// caller's.
func (r *Runtime) NewSandboxIn(ctx context.Context, spec tandem.SandboxSpec, ns *os.File) (tandem.Sandbox, error) {
	if spec.DataDir == "" {
		return nil, tandem.Errorf(tandem.EINVALID, "sandbox %q: no data directory", spec.Name)
	}
	if err := Available(); err != nil {
		return nil, err
	}
	return makeSandbox(r, spec, ns)
}

// hostsFile maps every service name to loopback: one namespace per instance
// means every service is at 127.0.0.1, on the port it binds.
func hostsFile(services []string) []byte {
	var b strings.Builder
	b.WriteString("# written by tandem: the services of this stack instance\n")
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	if h, err := os.Hostname(); err == nil && h != "" {
		fmt.Fprintf(&b, "127.0.0.1\t%s\n", h)
	}
	for _, s := range services {
		fmt.Fprintf(&b, "127.0.0.1\t%s\n", s)
	}
	return []byte(b.String())
}

// baseEnv is what a service inherits from tandem's own environment: enough
// to find programs and speak the user's locale, nothing else, as a container
// inherits nothing from the shell that started it.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "PATH", k == "HOME", k == "USER", k == "LOGNAME", k == "SHELL",
			k == "LANG", k == "LANGUAGE", k == "TZ", k == "TMPDIR", strings.HasPrefix(k, "LC_"):
			env = append(env, kv)
		}
	}
	return env
}

// mergeEnv returns base with over applied, later keys winning.
func mergeEnv(base []string, over ...string) []string {
	idx := map[string]int{}
	out := make([]string, 0, len(base)+len(over))
	for _, kv := range append(append([]string(nil), base...), over...) {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := idx[k]; ok {
			out[i] = kv
			continue
		}
		idx[k] = len(out)
		out = append(out, kv)
	}
	return out
}

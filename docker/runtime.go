// Package docker is tandem's Docker Engine runtime: every stack instance is
// one network namespace, held by a small container with no network but
// loopback, and every service container joins it, so services bind the
// ports their commands name and reach each other by Compose name through
// the instance's hosts file, as under the process runtime, with no bridge
// network between containers. On Linux the gateway dials into that
// namespace as it does into the process runtime's; where it cannot (Docker
// Desktop, or a tandem without the privilege), the holder publishes the
// routed ports on 127.0.0.1 only.
//
// It speaks the Engine API (github.com/moby/moby/client) with the API
// version negotiated, so it works with engines from 20.10 on.
package docker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"

	"github.com/moby/moby/client"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/internal/snapshots"
)

// Labels on everything the runtime makes, so a tandem that was killed
// leaves nothing the next one cannot find and remove.
const (
	labelInstance = "dev.tandem.instance" // the instance's name
	labelData     = "dev.tandem.data"     // the instance's data directory
	labelOwner    = "dev.tandem.owner"    // "pid start-time" of the tandem that made it
	labelService  = "dev.tandem.service"  // the service a container runs
	labelBuild    = "dev.tandem.build"    // an image built for a service: its cache key
)

// Runtime runs stack instances as containers of a Docker Engine.
type Runtime struct {
	// SnapshotDir is where Snapshot keeps copies of databases, one
	// directory per snapshot id: DefaultSnapshotDir if empty.
	SnapshotDir string
	// HolderImage runs the container that holds each instance's network
	// namespace: "" imports a tiny one of tandem's own (tandem/holder).
	HolderImage string
	// Host is the engine's address ("unix:///var/run/docker.sock"); ""
	// reads DOCKER_HOST and the rest of Docker's environment.
	Host string

	once    sync.Once
	cli     *client.Client
	cliErr  error
	sweep   sync.Once
	holder  sync.Mutex // one holder image import at a time
	builds  sync.Map   // cache key → *sync.Mutex: one build per key at a time
	mu      sync.Mutex
	dialIn  *bool // whether the gateway can enter the engine's namespaces
	closing bool
}

var _ tandem.Runtime = (*Runtime)(nil)

// DefaultSnapshotDir keeps snapshots when the caller names no directory.
const DefaultSnapshotDir = snapshots.DefaultDir

// New returns the docker runtime for the engine Docker's environment names.
func New() *Runtime { return &Runtime{} }

func (*Runtime) Name() string { return "docker" }

// client connects once, negotiating the API version with the engine.
func (r *Runtime) client() (*client.Client, error) {
	r.once.Do(func() {
		opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
		if r.Host != "" {
			opts = append(opts, client.WithHost(r.Host))
		}
		r.cli, r.cliErr = client.New(opts...)
	})
	return r.cli, r.cliErr
}

// Available asks the engine whether it answers.
func (r *Runtime) Available(ctx context.Context) error {
	cli, err := r.client()
	if err != nil {
		return tandem.Errorf(tandem.EUNAVAILABLE, "docker: %v", err)
	}
	if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		return tandem.Errorf(tandem.EUNAVAILABLE,
			"the docker runtime needs a Docker Engine, and none answers (%v): start Docker (dockerd, Docker Desktop), or set DOCKER_HOST", err)
	}
	return nil
}

// Check reports whether svc can run as a container: an image to run, or a
// build context to build one from.
func (r *Runtime) Check(svc *tandem.Service) error {
	if svc.Image == "" && svc.Context == "" {
		return tandem.Errorf(tandem.EUNSUPPORTED, "service %q has neither a build context nor an image", svc.Name)
	}
	return nil
}

// NewSandbox starts the instance's holder container, after removing what
// a killed tandem left of an instance of that name.
func (r *Runtime) NewSandbox(ctx context.Context, spec tandem.SandboxSpec) (tandem.Sandbox, error) {
	if spec.DataDir == "" {
		return nil, tandem.Errorf(tandem.EINVALID, "sandbox %q: no data directory", spec.Name)
	}
	if err := r.Available(ctx); err != nil {
		return nil, err
	}
	r.sweep.Do(func() { r.sweepOrphans(context.WithoutCancel(ctx)) })
	return newSandbox(ctx, r, spec)
}

// RemoveSnapshot deletes the copy snapshot id names.
func (r *Runtime) RemoveSnapshot(_ context.Context, id string) error {
	return r.snapshots().Remove(id)
}

// containerName is an instance's container for role ("holder", a
// service): unique per data directory, so two projects' "local" instances
// never meet, and readable in docker ps.
func containerName(spec tandem.SandboxSpec, role string) string {
	h := sha256.Sum256([]byte(spec.DataDir))
	return "tandem-" + nameSafe(spec.Name) + "-" + nameSafe(role) + "-" + hex.EncodeToString(h[:4])
}

var unsafeName = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

func nameSafe(s string) string {
	s = strings.Trim(unsafeName.ReplaceAllString(s, "_"), "_.-")
	if len(s) > 40 {
		s = s[:40]
	}
	if s == "" {
		return "x"
	}
	return s
}

// owner identifies this tandem process across pid reuse: its pid and when
// it started.
func owner() string {
	return fmt.Sprintf("%d %s", os.Getpid(), startTime(os.Getpid()))
}

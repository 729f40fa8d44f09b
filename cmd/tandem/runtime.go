package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/check"
	"github.com/tandem-dev/tandem/docker"
	"github.com/tandem-dev/tandem/mixed"
	"github.com/tandem-dev/tandem/process"
)

// Runtime names as users choose them: --runtime on up, runtime: in
// tandem.yaml.
const (
	runtimeAuto    = "auto"
	runtimeProcess = "process"
	runtimeDocker  = "docker"
	// runtimeKubernetes runs each instance in a namespace of a cluster
	// (package kube); its kubeconfig is $KUBECONFIG's, or tandem.yaml's
	// kubernetes: for tandem serve. Only in a tandem built with -tags
	// kubernetes (runtime_kube.go).
	runtimeKubernetes = "kubernetes"
)

// registerRuntime adds --runtime to cmd.
func registerRuntime(cmd *cobra.Command, name *string) {
	cmd.Flags().StringVar(name, "runtime", runtimeAuto,
		"how services run: process (local programs in Linux namespaces), docker (containers of the Docker Engine), "+
			"kubernetes (pods of the cluster $KUBECONFIG names), or auto (process on Linux with root, image services beside them as containers; docker elsewhere)")
}

// pickRuntime is the one place that turns a runtime's name into the
// runtime that runs services. auto is the process runtime where it is
// available (Linux, with the privilege), with the services it cannot run
// (images such as redis:7) as containers beside them when a Docker Engine
// answers; elsewhere the docker runtime. snapshots is where the runtime
// keeps database snapshots ("" for its default).
func pickRuntime(ctx context.Context, name string, services []*tandem.Service, snapshots string) (tandem.Runtime, error) {
	proc := &process.Runtime{SnapshotDir: snapshots}
	dock := &docker.Runtime{SnapshotDir: snapshots}
	switch name {
	case runtimeProcess:
		return proc, nil
	case runtimeDocker:
		return dock, nil
	case runtimeKubernetes:
		return kubeRuntime(snapshots, nil)
	case runtimeAuto, "":
	default:
		return nil, tandem.Errorf(tandem.EINVALID, "runtime %q: choose process, docker, kubernetes or auto", name)
	}
	if perr := proc.Available(ctx); perr != nil {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if derr := dock.Available(ctx); derr != nil {
			// Say what each would need: privileges here, or an engine.
			return nil, tandem.Errorf(tandem.EUNAVAILABLE, "no runtime can run this stack here: the process runtime: %v; the docker runtime: %v", perr, derr)
		}
		return dock, nil
	}
	mix := mixed.New(proc, dock)
	if !mix.Containers(services) {
		return proc, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if dock.Available(ctx) != nil {
		// The process runtime's check then says which services it
		// cannot run, and what would.
		return proc, nil
	}
	return mix, nil
}

// previewRuntime is pickRuntime for tandem serve, whose stacks are not
// known when it starts: under auto, the process runtime with image services
// beside it as containers when a Docker Engine answers. (runtime: in
// tandem.yaml names it.)
func previewRuntime(ctx context.Context, name, snapshots string) (tandem.Runtime, error) {
	rt, err := pickRuntime(ctx, name, nil, snapshots)
	if err != nil || (name != runtimeAuto && name != "") || rt.Name() != runtimeProcess {
		return rt, err
	}
	dock := &docker.Runtime{SnapshotDir: snapshots}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if dock.Available(ctx) != nil {
		return rt, nil
	}
	return mixed.New(rt.(*process.Runtime), dock), nil
}

// serveRuntime is the runtime tandem serve runs previews on (runtime: in
// tandem.yaml), once it answers: a server that could make no preview
// should say so when it starts, not at the first pull request.
func serveRuntime(ctx context.Context, cfg *serveConfig) (tandem.Runtime, error) {
	var rt tandem.Runtime
	var err error
	if cfg.Runtime == runtimeKubernetes {
		// Its cluster is tandem.yaml's, not $KUBECONFIG's.
		rt, err = kubeRuntime(snapshotStore(cfg), cfg.Kubernetes)
	} else {
		rt, err = previewRuntime(ctx, cfg.Runtime, snapshotStore(cfg))
	}
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := rt.Available(ctx); err != nil {
		return nil, fmt.Errorf("%s: runtime %s: %w", cfg.file, cfg.Runtime, err)
	}
	return rt, nil
}

// checkRuntime is what tandem check holds services to, without asking an
// engine or needing privileges: auto accepts what either runtime runs.
func checkRuntime(name string) (tandem.Runtime, error) {
	switch name {
	case runtimeProcess:
		return process.New(), nil
	case runtimeDocker:
		return docker.New(), nil
	case runtimeKubernetes:
		return kubeRuntime("", nil)
	case runtimeAuto, "":
		return mixed.New(process.New(), docker.New()), nil
	}
	return nil, tandem.Errorf(tandem.EINVALID, "runtime %q: choose process, docker, kubernetes or auto", name)
}

// checkStack is check.Stack for the services as rt runs them: what the
// process runtime leaves out of a Dockerfile (RUN, USER) is no concern of
// a service an engine builds and runs as a container.
func checkStack(st *tandem.Stack, rt tandem.Runtime) []tandem.Problem {
	for _, svc := range st.Services {
		if inContainer(rt, svc) {
			svc.Unhonoured = nil
		}
	}
	return check.Stack(st, rt.Check)
}

// inContainer reports whether rt runs svc as a container.
func inContainer(rt tandem.Runtime, svc *tandem.Service) bool {
	if rt.Name() == runtimeKubernetes {
		return true
	}
	switch rt := rt.(type) {
	case *docker.Runtime:
		return true
	case *mixed.Runtime:
		return rt.InContainer(svc)
	}
	return false
}

package docker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/runtimetest"
)

// testImages are the local images the tests run: scripts/test-images
// builds them (nothing can be pulled here).
var testImages = []string{"local/busybox", "postgres:16"}

// engine returns a runtime on the machine's engine, skipping the test when
// no engine answers, and failing it when the test images are missing.
func engine(t *testing.T) *Runtime {
	t.Helper()
	r := &Runtime{SnapshotDir: t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Available(ctx); err != nil {
		t.Skipf("no Docker Engine answers, so the docker runtime is not tested (make test-docker starts one): %v", err)
	}
	cli, _ := r.client()
	for _, img := range testImages {
		if _, err := cli.ImageInspect(ctx, img); err != nil {
			t.Fatalf("the test image %s is missing: run scripts/test-images (make test-docker does): %v", img, err)
		}
	}
	return r
}

// TestConformance runs the suite every runtime passes.
func TestConformance(t *testing.T) {
	r := engine(t)
	runtimetest.Run(t, runtimetest.Config{
		Runtime: r,
		Service: func(name, script string, env map[string]string) *tandem.Service {
			return &tandem.Service{Name: name, Image: "local/busybox", Command: []string{"sh", "-c", script}, Environment: env, StopSignal: "SIGTERM"}
		},
		Postgres: func(name string) *tandem.Service {
			return &tandem.Service{Name: name, Image: "postgres:16", StopSignal: "SIGINT", Environment: map[string]string{
				"POSTGRES_USER": "app", "POSTGRES_PASSWORD": "pw", "POSTGRES_DB": "shop", "PGPASSWORD": "pw",
				// The suite needs no durability: initdb without fsync is seconds faster.
				"POSTGRES_INITDB_ARGS": "--no-sync"}}
		},
	})
}

// Compose's working_dir, a path in the image, is where the container runs.
func TestImageWorkingDir(t *testing.T) {
	r := engine(t)
	sb, err := r.NewSandbox(context.Background(), tandem.SandboxSpec{Name: "workdir", Services: []string{"x"}, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	var out strings.Builder
	svc := &tandem.Service{Name: "x", Image: "local/busybox", ImageWorkingDir: "/etc"}
	if err := sb.Exec(context.Background(), svc, []string{"pwd"}, &out, &out); err != nil || strings.TrimSpace(out.String()) != "/etc" {
		t.Errorf("pwd: %q %v, want /etc", out.String(), err)
	}
}

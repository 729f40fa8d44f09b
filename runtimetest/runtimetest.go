// Package runtimetest is the conformance suite every tandem.Runtime passes,
// in the spirit of Nomad's driver tests: one set of tests of what the
// supervisor, the gateway and seeding rely on, run against each runtime by
// its own package's tests. A runtime that passes it runs stacks the same
// way as every other.
//
// The suite's services are shell scripts over busybox applets (sh, httpd,
// wget, sleep), which every runtime can run: the process runtime from the
// machine's busybox, the docker runtime from an image holding one.
package runtimetest

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
)

// Config is what the suite needs of one runtime.
type Config struct {
	// Runtime is the runtime under test.
	Runtime tandem.Runtime
	// Service returns a service called name that runs script with a POSIX
	// shell that has busybox on its PATH as "busybox" (busybox httpd,
	// busybox wget), with a writable /tmp of its own. env is its
	// environment.
	Service func(name, script string, env map[string]string) *tandem.Service
	// Postgres returns a postgres:* database service called name, with
	// POSTGRES_USER app, POSTGRES_PASSWORD pw, POSTGRES_DB shop, and
	// PGPASSWORD pw for the psql the suite runs in it.
	Postgres func(name string) *tandem.Service
	// WorkTree is the instances' work tree ("" for none).
	WorkTree string
}

// Run runs every conformance test against cfg's runtime.
func Run(t *testing.T, cfg Config) {
	if err := cfg.Runtime.Available(context.Background()); err != nil {
		t.Skipf("runtime %s is not available here: %v", cfg.Runtime.Name(), err)
	}
	s := &suite{cfg: cfg}
	t.Run("TwoInstancesBindTheSamePort", s.twoInstancesBindTheSamePort)
	t.Run("NamesResolveInsideTheInstanceOnly", s.namesResolveInsideOnly)
	t.Run("ExecReportsExitStatus", s.execReportsExitStatus)
	t.Run("StopEndsEverythingTheServiceStarted", s.stopEndsEverything)
	t.Run("StopKillsAfterGrace", s.stopKillsAfterGrace)
	t.Run("FailingStartReportsLastLines", s.failingStartReportsLastLines)
	t.Run("SnapshotRestoresADatabase", s.snapshotRoundTrip)
	t.Run("GatewayDialsIn", s.gatewayDialsIn)
	t.Run("ClosedSandboxRefusesWork", s.closedSandboxRefuses)
}

type suite struct{ cfg Config }

// sandbox makes an instance of the named services, closed when t ends.
func (s *suite) sandbox(t *testing.T, name string, services ...string) tandem.Sandbox {
	t.Helper()
	return s.sandboxWith(t, tandem.SandboxSpec{Name: name, Services: services})
}

func (s *suite) sandboxWith(t *testing.T, spec tandem.SandboxSpec) tandem.Sandbox {
	t.Helper()
	if spec.DataDir == "" {
		spec.DataDir = t.TempDir()
	}
	spec.WorkTree = s.cfg.WorkTree
	sb, err := s.cfg.Runtime.NewSandbox(context.Background(), spec)
	if err != nil {
		t.Fatalf("NewSandbox %s: %v", spec.Name, err)
	}
	t.Cleanup(func() { sb.Close() })
	return sb
}

// start starts svc and stops it (killing at once) when t ends.
func start(t *testing.T, sb tandem.Sandbox, svc *tandem.Service, out io.Writer) tandem.Process {
	t.Helper()
	p, err := sb.Start(context.Background(), svc, out, out)
	if err != nil {
		t.Fatalf("start %s: %v", svc.Name, err)
	}
	t.Cleanup(func() { p.Stop(context.Background(), 0) })
	return p
}

// httpServer is a script that serves body on port with busybox httpd.
func httpServer(port int, body string) string {
	return fmt.Sprintf(`cd /tmp && mkdir -p www && echo %q > www/index.html && echo serving && exec busybox httpd -f -p %d -h www`, body, port)
}

// waitFor polls ok until it holds; the suite never waits a fixed time.
func waitFor(t *testing.T, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// hostHosts is the host's /etc/hosts, which no instance may change.
func hostHosts(t *testing.T) string {
	b, err := os.ReadFile("/etc/hosts")
	if err != nil {
		return ""
	}
	return string(b)
}

func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

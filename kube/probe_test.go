package kube

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
)

// The kubelet runs the healthcheck as the pod's readiness probe, and the
// process reports its verdicts: not ready until the test passes, ready
// within a second or so of it passing (the startup probe), not ready
// again once it has failed retries times, with what the test said.
func TestHealthcheckVerdictsComeFromTheKubelet(t *testing.T) {
	r := cluster(t)
	ctx := context.Background()
	sb, err := r.NewSandbox(ctx, tandem.SandboxSpec{Name: "probe", Services: []string{"x"}, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	svc := &tandem.Service{Name: "x", Image: "local/busybox", Command: []string{"sh", "-c", "exec busybox sleep 1000"}, StopGrace: time.Second,
		Healthcheck: &tandem.Healthcheck{Test: []string{"CMD-SHELL", "test -f /tmp/ok || { echo no ok file; exit 1; }"}, Interval: time.Second, Timeout: 2 * time.Second, Retries: 2}}
	p, err := sb.Start(ctx, svc, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(ctx, 0)
	pp, ok := p.(tandem.ProbedProcess)
	if !ok {
		t.Fatalf("%T does not report its probes", p)
	}
	await := func(want bool, within time.Duration) time.Duration {
		t.Helper()
		began := time.Now()
		for {
			ok, changed := pp.Probed()
			if ok == want {
				return time.Since(began)
			}
			select {
			case <-changed:
			case <-time.After(within - time.Since(began)):
				t.Fatalf("the probe still says %v after %s", ok, within)
			}
		}
	}
	time.Sleep(3 * time.Second)
	if ok, _ := pp.Probed(); ok {
		t.Fatal("ready before its healthcheck passed")
	}
	if msg := pp.ProbeFailure(ctx); !strings.Contains(msg, "no ok file") {
		t.Errorf("the failure says %q, want the test's output", msg)
	}
	sb.Exec(ctx, svc, []string{"touch", "/tmp/ok"}, io.Discard, io.Discard)
	t.Logf("ready %s after the test passes", await(true, 20*time.Second))
	sb.Exec(ctx, svc, []string{"rm", "/tmp/ok"}, io.Discard, io.Discard)
	t.Logf("not ready %s after it fails", await(false, 30*time.Second))
}

//go:build linux

package mixed

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/supervisor"
)

// Under auto, a process that waits for an image service to be healthy,
// where Compose gives that service no healthcheck, starts once the image's
// own HEALTHCHECK passes (redis:7's), run by tandem in the container; the
// process itself has no image, so nothing is asked of one.
func TestProcessWaitsForImageHealthcheck(t *testing.T) {
	r := testRuntime(t)
	redis := &tandem.Service{Name: "redis", Image: "redis:7", StopSignal: "SIGTERM"}
	app := procService("app", "exec sleep 3600")
	app.DependsOn = []tandem.Dependency{{Service: "redis", Condition: tandem.ServiceHealthy, Required: true}}
	services := []*tandem.Service{app, redis}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := tandem.UseImageHealthchecks(ctx, r, services, io.Discard); err != nil {
		t.Fatalf("image healthchecks: %v", err)
	}
	if hc := redis.Healthcheck; hc == nil || !strings.Contains(strings.Join(hc.Test, " "), "redis-cli ping") {
		t.Fatalf("redis's healthcheck is %+v, want redis:7's HEALTHCHECK: rebuild it with scripts/test-images", hc)
	}
	if app.Healthcheck != nil {
		t.Errorf("the process got a healthcheck: %+v", app.Healthcheck)
	}
	sup := supervisor.New(supervisor.Options{Stack: &tandem.Stack{Name: "health", Services: services}, Runtime: r,
		Name: "mixhealth", DataDir: t.TempDir()})
	t.Cleanup(func() { sup.Down(context.Background()) })
	if err := sup.Up(ctx); err != nil {
		t.Fatalf("up: %v", err)
	}
	for _, st := range sup.Status() {
		if want := map[string]supervisor.State{"redis": supervisor.Healthy, "app": supervisor.Running}[st.Service]; st.State != want {
			t.Errorf("%s is %s, want %s (%s)", st.Service, st.State, want, st.Error)
		}
	}
}

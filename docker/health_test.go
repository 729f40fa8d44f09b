package docker

import (
	"context"
	"io"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/supervisor"
)

// An image's HEALTHCHECK reads as Compose's would: Docker's defaults where
// the image says 0, none for NONE, and a shell form in the image's SHELL.
func TestImageHealthcheckFromConfig(t *testing.T) {
	def := func(test ...string) *tandem.Healthcheck {
		return &tandem.Healthcheck{Test: test, Interval: tandem.DefaultHealthInterval, Timeout: tandem.DefaultHealthTimeout,
			StartInterval: tandem.DefaultHealthStartInterval, Retries: tandem.DefaultHealthRetries}
	}
	for _, tc := range []struct {
		name  string
		h     *container.HealthConfig
		shell []string
		want  *tandem.Healthcheck
	}{
		{name: "none", h: nil, want: nil},
		{name: "NONE", h: &container.HealthConfig{Test: []string{"NONE"}}, want: nil},
		{name: "inherit", h: &container.HealthConfig{Interval: time.Second}, want: nil},
		{name: "shell form", h: &container.HealthConfig{Test: []string{"CMD-SHELL", "redis-cli ping"}}, want: def("CMD-SHELL", "redis-cli ping")},
		{name: "SHELL", h: &container.HealthConfig{Test: []string{"CMD-SHELL", "ping"}}, shell: []string{"/bin/bash", "-c"},
			want: def("CMD", "/bin/bash", "-c", "ping")},
		{name: "all set", h: &container.HealthConfig{Test: []string{"CMD", "true"}, Interval: time.Second, Timeout: 2 * time.Second,
			StartPeriod: 3 * time.Second, StartInterval: 4 * time.Second, Retries: 5},
			want: &tandem.Healthcheck{Test: []string{"CMD", "true"}, Interval: time.Second, Timeout: 2 * time.Second,
				StartPeriod: 3 * time.Second, StartInterval: 4 * time.Second, Retries: 5}},
	} {
		if got := imageHealthcheck(tc.h, tc.shell); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// A service that waits for an image service to be healthy, where Compose
// gives that service no healthcheck, starts once the image's HEALTHCHECK
// passes (redis:7's: redis-cli ping), as under docker compose; and fails
// within the image's own interval and retries when it never passes.
func TestImageHealthcheckGatesDependents(t *testing.T) {
	r := engine(t)
	sick := "tandem-test/unhealthy:1"
	build := exec.Command("docker", "build", "-q", "--network", "none", "-t", sick, "-")
	build.Env = append(build.Environ(), "DOCKER_BUILDKIT=0")
	build.Stdin = strings.NewReader("FROM local/busybox\nHEALTHCHECK --interval=1s --retries=2 CMD exit 1\nCMD [\"sleep\", \"3600\"]\n")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("docker build %s: %v\n%s", sick, err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", sick).Run() })

	t.Run("healthy", func(t *testing.T) {
		cache := &tandem.Service{Name: "cache", Image: "redis:7", StopSignal: "SIGTERM"}
		sup, err := upWaiting(t, r, cache)
		if hc := cache.Healthcheck; hc == nil || !strings.Contains(strings.Join(hc.Test, " "), "redis-cli ping") || hc.Interval != time.Second {
			t.Fatalf("cache's healthcheck is %+v, want redis:7's HEALTHCHECK (redis-cli ping every 1s): rebuild it with scripts/test-images", hc)
		}
		if err != nil {
			t.Fatalf("up: %v", err)
		}
		for _, st := range sup.Status() {
			if want := map[string]supervisor.State{"cache": supervisor.Healthy, "app": supervisor.Running}[st.Service]; st.State != want {
				t.Errorf("%s is %s, want %s (%s)", st.Service, st.State, want, st.Error)
			}
		}
	})
	t.Run("never healthy", func(t *testing.T) {
		began := time.Now()
		_, err := upWaiting(t, r, &tandem.Service{Name: "cache", Image: sick, StopSignal: "SIGKILL"})
		if err == nil || !strings.Contains(err.Error(), "service app: dependency cache is unhealthy") {
			t.Fatalf("up: %v, want app refused for its unhealthy dependency", err)
		}
		// The image says 2 retries 1s apart; Docker's defaults would be 90s.
		if d := time.Since(began); d > 45*time.Second {
			t.Errorf("up took %s to give up: the image's interval and retries were not used", d)
		}
	})
}

// upWaiting brings up cache and an app that waits for it to be healthy,
// cache's healthcheck being its image's, as tandem up prepares a stack.
func upWaiting(t *testing.T, r *Runtime, cache *tandem.Service) (*supervisor.Supervisor, error) {
	t.Helper()
	app := &tandem.Service{Name: "app", Image: "local/busybox", Command: []string{"sleep", "3600"}, StopSignal: "SIGKILL",
		DependsOn: []tandem.Dependency{{Service: "cache", Condition: tandem.ServiceHealthy, Required: true}}}
	services := []*tandem.Service{app, cache}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := tandem.UseImageHealthchecks(ctx, r, services, io.Discard); err != nil {
		t.Fatalf("image healthchecks: %v", err)
	}
	sup := supervisor.New(supervisor.Options{Stack: &tandem.Stack{Name: "health", Services: services}, Runtime: r,
		Name: "health", DataDir: t.TempDir()})
	t.Cleanup(func() { sup.Down(context.Background()) })
	return sup, sup.Up(ctx)
}

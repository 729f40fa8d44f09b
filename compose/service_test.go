package compose

import (
	"reflect"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
)

func TestLoadProfiles(t *testing.T) {
	const file = `services:
  api:
    image: x
    depends_on:
      edge: {condition: service_started, required: false}
  edge:
    image: nginx
    profiles: [docker]
  debug:
    image: x
    profiles: [debug, docker]
`
	for _, tc := range []struct {
		profiles []string
		env      string // COMPOSE_PROFILES
		enabled  []string
		disabled []string
		apiDeps  []string
	}{
		{enabled: []string{"api"}, disabled: []string{"debug", "edge"}},
		{profiles: []string{"debug"}, enabled: []string{"api", "debug"}, disabled: []string{"edge"}},
		{profiles: []string{"docker"}, enabled: []string{"api", "debug", "edge"}, apiDeps: []string{"edge"}},
		{profiles: []string{"*"}, enabled: []string{"api", "debug", "edge"}, apiDeps: []string{"edge"}},
		{env: "debug", enabled: []string{"api", "debug"}, disabled: []string{"edge"}},
	} {
		stackDir(t, map[string]string{"compose.yml": file})
		t.Setenv("COMPOSE_PROFILES", tc.env)
		st := mustLoad(t, Options{Profiles: tc.profiles})
		var enabled, deps []string
		for _, s := range st.Services {
			enabled = append(enabled, s.Name)
		}
		for _, d := range st.Service("api").DependsOn {
			deps = append(deps, d.Service)
		}
		if !reflect.DeepEqual(enabled, tc.enabled) || !reflect.DeepEqual(st.Disabled, tc.disabled) || !reflect.DeepEqual(deps, tc.apiDeps) {
			t.Errorf("profiles %q, COMPOSE_PROFILES=%q: enabled %q, disabled %q, api depends on %q; want %q, %q, %q",
				tc.profiles, tc.env, enabled, st.Disabled, deps, tc.enabled, tc.disabled, tc.apiDeps)
		}
		wantProfiles := map[string][]string{"edge": {"docker"}, "debug": {"debug", "docker"}}
		if !reflect.DeepEqual(st.Profiles, wantProfiles) {
			t.Errorf("Profiles = %v, want %v", st.Profiles, wantProfiles)
		}
	}
}

func TestLoadDependsOn(t *testing.T) {
	stackDir(t, map[string]string{"compose.yml": `services:
  short:
    image: x
    depends_on: [db, cache]
  long:
    image: x
    depends_on:
      migrate:
        condition: service_completed_successfully
      db:
        condition: service_healthy
        restart: true
      cache:
        condition: service_started
        required: false
  db:
    image: postgres:16
    healthcheck:
      test: pg_isready
  cache:
    image: redis
  migrate:
    image: x
`})
	st := mustLoad(t, Options{})
	wantShort := []tandem.Dependency{
		{Service: "cache", Condition: tandem.ServiceStarted, Required: true},
		{Service: "db", Condition: tandem.ServiceStarted, Required: true},
	}
	if got := st.Service("short").DependsOn; !reflect.DeepEqual(got, wantShort) {
		t.Errorf("short form:\n got %+v\nwant %+v", got, wantShort)
	}
	wantLong := []tandem.Dependency{
		{Service: "cache", Condition: tandem.ServiceStarted, Required: false},
		{Service: "db", Condition: tandem.ServiceHealthy, Required: true, Restart: true},
		{Service: "migrate", Condition: tandem.ServiceCompletedSuccessfully, Required: true},
	}
	if got := st.Service("long").DependsOn; !reflect.DeepEqual(got, wantLong) {
		t.Errorf("long form:\n got %+v\nwant %+v", got, wantLong)
	}
}

func TestLoadHealthcheck(t *testing.T) {
	defaults := func(test ...string) *tandem.Healthcheck {
		return &tandem.Healthcheck{
			Test:          test,
			Interval:      tandem.DefaultHealthInterval,
			Timeout:       tandem.DefaultHealthTimeout,
			StartInterval: tandem.DefaultHealthStartInterval,
			Retries:       tandem.DefaultHealthRetries,
		}
	}
	for _, tc := range []struct {
		name string
		yaml string // the healthcheck block, indented under it
		want *tandem.Healthcheck
		off  bool // HealthcheckOff: not the image's either
	}{
		{name: "string", yaml: "test: pg_isready -U app", want: defaults("CMD-SHELL", "pg_isready -U app")},
		{name: "CMD-SHELL", yaml: `test: ["CMD-SHELL", "curl -f http://localhost || exit 1"]`, want: defaults("CMD-SHELL", "curl -f http://localhost || exit 1")},
		{name: "CMD", yaml: `test: ["CMD", "pg_isready", "-U", "app"]`, want: defaults("CMD", "pg_isready", "-U", "app")},
		{name: "NONE", yaml: `test: ["NONE"]`, want: nil, off: true},
		{name: "disable", yaml: "test: pg_isready\n      disable: true", want: nil, off: true},
		{name: "no test", yaml: "interval: 5s", want: nil},
		{
			name: "all set",
			yaml: "test: [CMD, \"true\"]\n      interval: 2s\n      timeout: 1s\n      start_period: 30s\n      start_interval: 500ms\n      retries: 10",
			want: &tandem.Healthcheck{
				Test: []string{"CMD", "true"}, Interval: 2 * time.Second, Timeout: time.Second,
				StartPeriod: 30 * time.Second, StartInterval: 500 * time.Millisecond, Retries: 10,
			},
		},
		{name: "zero means default", yaml: "test: [CMD, \"true\"]\n      interval: 0s\n      retries: 0", want: defaults("CMD", "true")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stackDir(t, map[string]string{"compose.yml": "services:\n  db:\n    image: x\n    healthcheck:\n      " + tc.yaml + "\n"})
			st := mustLoad(t, Options{})
			if got := st.Service("db").Healthcheck; !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Healthcheck:\n got %+v\nwant %+v", got, tc.want)
			}
			if got := st.Service("db").HealthcheckOff; got != tc.off {
				t.Errorf("HealthcheckOff = %v, want %v", got, tc.off)
			}
		})
	}
}

// extends brings in another service's settings, x-tandem included.
func TestLoadExtends(t *testing.T) {
	stackDir(t, map[string]string{
		"compose.yml": lines(
			"services:",
			"  api:",
			"    extends: {file: base.yml, service: base}",
			"    command: serve",
		),
		"base.yml": lines(
			"services:",
			"  base:",
			"    build: ./backend",
			"    environment: {MODE: base}",
			"    x-tandem:",
			"      build: make",
		),
	})
	api := mustLoad(t, Options{}).Service("api")
	if api.Build != "make" || api.Environment["MODE"] != "base" || !reflect.DeepEqual(api.Command, []string{"serve"}) || api.Context == "" {
		t.Errorf("api = %+v", api)
	}
}

//go:build linux

package process

import (
	"os/exec"
	"testing"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/runtimetest"
)

// TestConformance runs the suite every runtime passes.
func TestConformance(t *testing.T) {
	if _, err := exec.LookPath("busybox"); err != nil {
		t.Skip("the suite's services use busybox: apt-get install busybox-static (make deps)")
	}
	runtimetest.Run(t, runtimetest.Config{
		Runtime: testRuntime,
		Service: func(name, script string, env map[string]string) *tandem.Service {
			return &tandem.Service{Name: name, Context: "/", Command: []string{"/bin/sh", "-c", script}, Environment: env, StopSignal: "SIGTERM"}
		},
		Postgres: func(name string) *tandem.Service {
			if _, err := testRuntime.postgresBins(); err != nil {
				return nil
			}
			return &tandem.Service{Name: name, Image: "postgres:16", StopSignal: "SIGINT", Environment: map[string]string{
				"POSTGRES_USER": "app", "POSTGRES_PASSWORD": "pw", "POSTGRES_DB": "shop", "PGPASSWORD": "pw"}}
		},
	})
}

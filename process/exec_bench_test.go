//go:build linux

package process

import (
	"context"
	"io"
	"testing"

	"github.com/tandem-dev/tandem"
)

// BenchmarkExec is what a healthcheck costs: a command run to completion in
// an instance, through the shim, its namespaces and its file system.
func BenchmarkExec(b *testing.B) {
	sb, err := New().NewSandbox(context.Background(), tandem.SandboxSpec{Name: "bench", Services: []string{"api"}, DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer sb.Close()
	svc := &tandem.Service{Name: "api", Context: "/"}
	for b.Loop() {
		if err := sb.Exec(context.Background(), svc, []string{"/bin/true"}, io.Discard, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNewSandbox is an instance's sandbox made and closed, without
// any service.
func BenchmarkNewSandbox(b *testing.B) {
	for b.Loop() {
		sb, err := New().NewSandbox(context.Background(), tandem.SandboxSpec{Name: "bench", Services: []string{"api"}, DataDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		sb.Close()
	}
}

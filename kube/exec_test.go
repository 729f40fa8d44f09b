package kube

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
)

// The exec executor copies stdout and stderr in goroutines of their own,
// and healthchecks pass one buffer for both: every command's output must
// still arrive whole (before the writers were serialized, 10 to 20 of 60
// came back empty).
func TestExecOutputWithOneBufferForBoth(t *testing.T) {
	r := cluster(t)
	sb, err := r.NewSandbox(context.Background(), tandem.SandboxSpec{Name: "exec-output", Services: []string{"x"}, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	svc := &tandem.Service{Name: "x", Image: "local/busybox", Command: []string{"sh", "-c", "exec busybox sleep 1000"}, StopGrace: time.Second}
	var out bytes.Buffer
	p, err := sb.Start(context.Background(), svc, &out, &out)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(context.Background(), 0)
	for i := range 30 {
		var b bytes.Buffer
		err := sb.Exec(context.Background(), svc, []string{"echo", "hello"}, &b, &b)
		if err != nil || b.String() != "hello\n" {
			t.Errorf("exec %d: %q %v, want hello", i, b.String(), err)
		}
	}
}

package kube

import (
	"context"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/runtimetest"
)

// cluster returns a runtime on the cluster TANDEM_KUBECONFIG names (make
// test-k8s starts one with scripts/k8s-cluster), skipping the test without
// one. The test images are imported into the cluster, never pulled.
func cluster(t *testing.T) *Runtime {
	t.Helper()
	kc := os.Getenv("TANDEM_KUBECONFIG")
	if kc == "" {
		t.Skip("no cluster: TANDEM_KUBECONFIG is not set (make test-k8s starts one)")
	}
	r := &Runtime{Kubeconfig: kc, SnapshotDir: t.TempDir(), PullPolicy: corev1.PullNever}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Available(ctx); err != nil {
		t.Fatalf("TANDEM_KUBECONFIG names a cluster that does not answer: %v", err)
	}
	return r
}

// TestConformance runs the suite every runtime passes, with the gateway
// reaching pods at their addresses and through the API server, and with
// databases on the node and on claims (snapshots as archives of the data directory).
func TestConformance(t *testing.T) {
	for _, dial := range []string{DialPodIP, DialPortForward} {
		t.Run(dial, func(t *testing.T) {
			r := cluster(t)
			r.Dial = dial
			conformance(t, r)
		})
	}
	t.Run("claims", func(t *testing.T) {
		r := cluster(t)
		r.Storage, r.StorageClass = StorageClaim, testClass
		provision(t, r)
		conformance(t, r)
	})
}

func conformance(t *testing.T, r *Runtime) {
	runtimetest.Run(t, runtimetest.Config{
		Runtime: r,
		Service: func(name, script string, env map[string]string) *tandem.Service {
			return &tandem.Service{Name: name, Image: "local/busybox", Command: []string{"sh", "-c", script}, Environment: env, StopSignal: "SIGTERM", StopGrace: 10 * time.Second}
		},
		Postgres: func(name string) *tandem.Service {
			return &tandem.Service{Name: name, Image: "postgres:16", StopSignal: "SIGINT", StopGrace: 30 * time.Second, Environment: map[string]string{
				"POSTGRES_USER": "app", "POSTGRES_PASSWORD": "pw", "POSTGRES_DB": "shop", "PGPASSWORD": "pw",
				"POSTGRES_INITDB_ARGS": "--no-sync"}}
		},
	})
}

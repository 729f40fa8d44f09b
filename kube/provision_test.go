package kube

import (
	"testing"

	"github.com/tandem-dev/tandem/internal/testprovisioner"
)

// testClass is the storage class the tests' claims name.
const testClass = testprovisioner.Class

// provision gives the test cluster, which has no storage provisioner, a
// real dynamic one for the test's duration (testprovisioner): claims of
// testClass are bound when their first pod is scheduled, to a volume made
// for them, deleted with them.
func provision(t testing.TB, r *Runtime) {
	t.Helper()
	if _, err := r.client(); err != nil {
		t.Fatal(err)
	}
	testprovisioner.Start(t, r.config)
}

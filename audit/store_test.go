package audit

import (
	"testing"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/audit/audittest"
)

// The store the other tests use passes the suite SQLite's passes.
func TestMemStore(t *testing.T) {
	audittest.TestStore(t, func(*testing.T) tandem.AuditStore { return audittest.NewMemStore() })
}

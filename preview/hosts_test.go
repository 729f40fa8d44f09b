package preview

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/sqlite"
)

// A preview cannot take the name of one of the server's own hosts: the
// sign-in host answers there, and the preview would never be reached.
func TestServerHostsAreNotPreviewNames(t *testing.T) {
	data := t.TempDir()
	store, err := sqlite.Open(filepath.Join(data, "tandem.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	m, err := New(Options{
		Store: store, DataDir: data, Domain: "previews.example.com",
		Hosts: []string{"auth.previews.example.com"},
		Repos: map[string]Repo{"shop": {Name: "shop", Compose: "compose.yml", DefaultBranch: "main"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Create(context.Background(), CreateRequest{Name: "auth", Repo: "shop"})
	if tandem.ErrorCode(err) != tandem.ECONFLICT {
		t.Fatalf("create auth: %v, want a conflict with the sign-in host", err)
	}
}

package httpapi

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
)

func TestEnsureToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), TokenFile)
	token, err := EnsureToken(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(token) != 64 {
		t.Errorf("token %q: want 32 bytes in hex", token)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", fi.Mode(), err)
	}
	// The same token on every start; a file left readable is made private.
	os.Chmod(path, 0o644)
	again, err := EnsureToken(path)
	if err != nil || again != token {
		t.Errorf("second start: %q %v, want %q", again, err, token)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode after the second start: %o", fi.Mode().Perm())
	}
	other, _ := EnsureToken(filepath.Join(t.TempDir(), TokenFile))
	if other == token {
		t.Error("two data directories got one token")
	}
}

// DATA/api-token is a token of the store: admin everywhere, the same row at
// every start, revoked for good once revoked, replaced with its file.
func TestBootstrap(t *testing.T) {
	a := newAPI(t)
	ctx := t.Context()
	now := time.Now()
	first, err := Bootstrap(ctx, a.store, "secret-one", now)
	if err != nil || first.Role != tandem.RoleAdmin || first.Repo != tandem.AllRepos || first.Name != BootstrapName {
		t.Fatalf("bootstrap: %+v %v", first, err)
	}
	if again, err := Bootstrap(ctx, a.store, "secret-one", now); err != nil || again.ID != first.ID {
		t.Errorf("second start: %+v %v", again, err)
	}
	if code, _ := a.do("GET", "/v1/previews", "secret-one", nil, nil); code != 200 {
		t.Errorf("with the bootstrap token: %d", code)
	}
	// Revoked by an admin: a restart does not bring it back.
	if code, _ := a.do("DELETE", "/v1/tokens/"+first.ID, a.admin, nil, nil); code != 200 {
		t.Fatalf("revoke: %d", code)
	}
	if again, _ := Bootstrap(ctx, a.store, "secret-one", now); again.RevokedAt.IsZero() {
		t.Error("a restart brought the revoked bootstrap token back")
	}
	if code, _ := a.do("GET", "/v1/previews", "secret-one", nil, nil); code != 401 {
		t.Errorf("revoked bootstrap token: %d", code)
	}
	// A new file: a new token, and the old one's gone.
	second, _ := Bootstrap(ctx, a.store, "secret-two", now)
	third, _ := Bootstrap(ctx, a.store, "secret-three", now)
	if second.ID == first.ID || third.ID == second.ID {
		t.Fatal("a new file kept the old token")
	}
	if code, _ := a.do("GET", "/v1/previews", "secret-two", nil, nil); code != 401 {
		t.Errorf("the replaced file's token: %d", code)
	}
	if code, _ := a.do("GET", "/v1/previews", "secret-three", nil, nil); code != 200 {
		t.Errorf("the new file's token: %d", code)
	}
}

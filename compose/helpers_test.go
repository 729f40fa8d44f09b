package compose

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandem-dev/tandem"
)

// lines joins YAML lines, so a test can count them: the first is line 1.
func lines(l ...string) string { return strings.Join(l, "\n") + "\n" }

// stackDir writes files (name → content) into a new directory and makes it
// the working directory, so messages name files as a user gives them.
func stackDir(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	return dir
}

// load loads compose.yml from the working directory.
func load(t testing.TB, opts Options) (*tandem.Stack, error) {
	t.Helper()
	if opts.Files == nil {
		opts.Files = []string{"compose.yml"}
	}
	return Load(context.Background(), opts)
}

func mustLoad(t testing.TB, opts Options) *tandem.Stack {
	t.Helper()
	st, err := load(t, opts)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return st
}

// wantError checks that err is an EINVALID *tandem.Error with message want.
func wantError(t testing.TB, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("Load succeeded, want error %q", want)
	}
	var te *tandem.Error
	if !errors.As(err, &te) || te.Code != tandem.EINVALID {
		t.Errorf("error %#v is not an EINVALID *tandem.Error", err)
	}
	if got := err.Error(); got != want {
		t.Errorf("error:\n got %q\nwant %q", got, want)
	}
}

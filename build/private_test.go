package build

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A stamp tells that a variable changed without holding its value (a user
// may list a secret in x-tandem.build.env), and only its owner reads it.
func TestStampsHoldNoValues(t *testing.T) {
	step, r := project(t)
	step.KeyEnv = []string{"MODE=one", "API_TOKEN=tok_very_secret_value"}
	var out bytes.Buffer
	if _, err := run(t, r, step, &out); err != nil {
		t.Fatal(err)
	}
	stamps, _ := filepath.Glob(filepath.Join(r.StateDir, "*.json"))
	if len(stamps) != 1 {
		t.Fatalf("stamps: %v", stamps)
	}
	b, _ := os.ReadFile(stamps[0])
	if strings.Contains(string(b), "tok_very_secret_value") || !strings.Contains(string(b), "API_TOKEN=sha256:") {
		t.Errorf("stamp: %s", b)
	}
	for path, want := range map[string]os.FileMode{r.StateDir: 0o700, stamps[0]: 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v %v, want %o", filepath.Base(path), fi.Mode(), err, want)
		}
	}
	step.KeyEnv[1] = "API_TOKEN=rotated"
	if res, err := run(t, r, step, &out); err != nil || res.Skipped || res.Reason != "its environment changed: API_TOKEN" {
		t.Errorf("after a change: %+v %v", res, err)
	}
}

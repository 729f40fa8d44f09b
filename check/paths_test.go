package check

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/compose"
)

// A path out of the repository is a warning on the user's machine, with
// its line, and an error under tandem serve's rule; an error page outside
// is an error everywhere, as loading reports it.
func TestPathsOutsideTheRepository(t *testing.T) {
	outside := t.TempDir()
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, ".git"), 0o755)
	os.MkdirAll(filepath.Join(dir, "backend"), 0o755)
	file := filepath.Join(dir, "deploy", "compose.yml")
	os.MkdirAll(filepath.Dir(file), 0o755)
	os.WriteFile(file, []byte(lines(
		"services:",
		"  api:",
		"    build: ../backend",
		"    command: sleep 1",
		"  worker:",
		"    build: "+outside,
		"    command: sleep 1",
		"    volumes: ["+outside+":/data]",
	)), 0o644)
	t.Chdir(dir)
	rel := filepath.Join("deploy", "compose.yml")
	st, err := compose.Load(context.Background(), compose.Options{Files: []string{rel}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range Stack(st, nil) {
		if p.Severity != tandem.SeverityWarning {
			t.Errorf("not a warning: %s", p)
		}
		got = append(got, p.String())
	}
	want := []string{
		rel + `:6: warning: build context of service "worker" "` + outside + `" is outside the project (` + dir + `)`,
		rel + `:8: warning: bind mount of service "worker" "` + outside + `" is outside the project (` + dir + `)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}

	_, err = compose.Load(context.Background(), compose.Options{Files: []string{rel}, Root: dir})
	if err == nil || !strings.Contains(err.Error(), rel+`:6: build context of service "worker"`) {
		t.Errorf("under tandem serve: %v", err)
	}
}

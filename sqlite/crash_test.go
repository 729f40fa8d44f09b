package sqlite

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/tandem-dev/tandem"
)

const crashChildEnv = "TANDEM_SQLITE_CRASH_CHILD"

// tandem serve may be killed with SIGKILL at any moment. A child process
// writes as fast as it can and reports each write once it has returned;
// after kill -9, every reported write must be in the file, whole, and the
// file must pass SQLite's integrity check.
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	path := filepath.Join(t.TempDir(), "tandem.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var committed []int
	lines := bufio.NewScanner(out)
	for len(committed) < 200 && lines.Scan() {
		if i, err := strconv.Atoi(lines.Text()); err == nil {
			committed = append(committed, i)
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if len(committed) < 200 {
		t.Fatalf("the child reported %d writes before it ended, want 200", len(committed))
	}

	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := t.Context()
	var check string
	if err := db.read.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check: %q, %v", check, err)
	}
	for _, i := range committed {
		name := fmt.Sprintf("pr-%d", i)
		p, err := db.Preview(ctx, name)
		if err != nil {
			t.Fatalf("reported write lost: %v", err)
		}
		assertPreviewEqual(t, p, fullPreview(name))
		if s, err := db.Secrets(ctx, name); err != nil || s["K"] != name {
			t.Errorf("secrets of %s = %v, %v", name, s, err)
		}
		if e, err := db.Events(ctx, name, 0, 0); err != nil || len(e) != 1 {
			t.Errorf("events of %s = %v, %v", name, e, err)
		}
	}
}

// TestCrashChild is TestKill9's child process; it does nothing on its own.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		t.Skip("run by TestKill9")
	}
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for i := 0; ; i++ {
		name := fmt.Sprintf("pr-%d", i)
		if err := db.PutPreview(ctx, fullPreview(name)); err != nil {
			t.Fatal(err)
		}
		if err := db.PutSecrets(ctx, name, map[string]string{"K": name}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.AddEvent(ctx, tandem.Event{Preview: name, Kind: "state", Detail: "ready"}); err != nil {
			t.Fatal(err)
		}
		fmt.Println(i)
	}
}

package build

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
)

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func runs(t *testing.T, dir string) int {
	b, _ := os.ReadFile(filepath.Join(dir, "..", "runs"))
	return strings.Count(string(b), "x")
}

// project is a build context whose step copies src/ into out/ and counts its runs.
func project(t *testing.T) (Step, *Runner) {
	root := t.TempDir()
	dir := filepath.Join(root, "web")
	write(t, filepath.Join(dir, "src", "page.js"), "export default 1\n")
	write(t, filepath.Join(dir, "package.json"), "{}\n")
	step := Step{Service: "web", Dir: dir, Command: `echo -n x >> ../runs; rm -rf out; cp -r src out; echo "built with $MODE"`,
		Env: []string{"MODE=one", "SECRET=a"}, KeyEnv: []string{"MODE=one"}}
	return step, &Runner{StateDir: filepath.Join(root, "state"), BaseEnv: []string{"PATH=" + os.Getenv("PATH")}}
}

// run runs step and releases its outputs at once, as a caller that has
// stopped using them.
func run(t *testing.T, r *Runner, step Step, out *bytes.Buffer) (Result, error) {
	t.Helper()
	res, err := r.Run(context.Background(), step, out)
	res.Release()
	return res, err
}

func TestSkipsUntilSomethingChanges(t *testing.T) {
	step, r := project(t)
	var out bytes.Buffer
	res, err := run(t, r, step, &out)
	if err != nil || res.Skipped || res.Reason != "no earlier build" || runs(t, step.Dir) != 1 {
		t.Fatalf("first run: %+v %v runs=%d", res, err, runs(t, step.Dir))
	}
	if !strings.Contains(out.String(), "built with one") {
		t.Errorf("step did not see its environment: %q", out.String())
	}
	if res, _ = run(t, r, step, &out); !res.Skipped {
		t.Fatal("unchanged inputs were built again")
	}
	for _, change := range []struct {
		name, reason string
		do           func()
	}{
		{"source edited", "src/page.js changed", func() { write(t, filepath.Join(step.Dir, "src", "page.js"), "export default 2\n") }},
		{"file added", "src/new.js changed", func() { write(t, filepath.Join(step.Dir, "src", "new.js"), "x\n") }},
		{"environment changed", "its environment changed: MODE", func() { step.Env[0], step.KeyEnv = "MODE=two", []string{"MODE=two"} }},
		{"command changed", "its command changed", func() { step.Command += " # again" }},
		// Out of a git work tree, out/ is not known as output: its files are inputs.
		{"output removed", "out/new.js, out/page.js changed", func() { os.RemoveAll(filepath.Join(step.Dir, "out")) }},
		{"made executable", "package.json changed", func() { os.Chmod(filepath.Join(step.Dir, "package.json"), 0o755) }},
	} {
		before := runs(t, step.Dir)
		change.do()
		res, err := run(t, r, step, &out)
		if err != nil || res.Skipped || res.Reason != change.reason || runs(t, step.Dir) != before+1 {
			t.Errorf("%s: %+v %v", change.name, res, err)
		}
		if res, _ := run(t, r, step, &out); !res.Skipped {
			t.Errorf("%s: second run not skipped", change.name)
		}
	}
	// Touching a file without changing it is no change, nor is a variable
	// the output does not depend on.
	now := time.Now().Add(time.Minute)
	os.Chtimes(filepath.Join(step.Dir, "src", "page.js"), now, now)
	step.Env[1] = "SECRET=b"
	if res, _ := run(t, r, step, &out); !res.Skipped {
		t.Errorf("a touched file or a secret caused a build: %s", res.Reason)
	}
}

func TestOutputsInUseAreNotReplaced(t *testing.T) {
	step, r := project(t)
	ctx := context.Background()
	// A running instance uses the outputs of this build...
	first, err := r.Run(ctx, step, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	// ...and a second one with the same inputs may use them too.
	second, err := r.Run(ctx, step, &bytes.Buffer{})
	if err != nil || !second.Skipped {
		t.Fatalf("second user: %+v %v", second, err)
	}
	// One that needs another build must not pull them from under them.
	write(t, filepath.Join(step.Dir, "src", "page.js"), "export default 3\n")
	_, err = r.Run(ctx, step, &bytes.Buffer{})
	if tandem.ErrorCode(err) != tandem.ECONFLICT || !strings.Contains(err.Error(), "src/page.js changed") || !strings.Contains(err.Error(), "stop it first") {
		t.Fatalf("err = %v", err)
	}
	if runs(t, step.Dir) != 1 {
		t.Error("built over outputs in use")
	}
	first.Release()
	second.Release()
	if res, err := run(t, r, step, &bytes.Buffer{}); err != nil || res.Skipped {
		t.Errorf("after release: %+v %v", res, err)
	}
}

func TestStepForKeysOnInlinedVariables(t *testing.T) {
	svc := &tandem.Service{Name: "web", Context: "/src", Build: "npm run build", BuildEnv: []string{"BASE_PATH"}, Environment: map[string]string{
		"NEXT_PUBLIC_API_URL": "/api", "VITE_X": "1", "NODE_ENV": "production", "BASE_PATH": "/docs",
		"NEXTAUTH_SECRET": "s3cret", "NEXTAUTH_URL": "http://localhost:8080", "INTERNAL_API_URL": "http://api:8000",
	}}
	step, ok := StepFor(svc)
	if !ok || len(step.Env) != 7 {
		t.Fatalf("%v %+v", ok, step)
	}
	want := []string{"BASE_PATH=/docs", "NEXT_PUBLIC_API_URL=/api", "NODE_ENV=production", "VITE_X=1"}
	if !slices.Equal(step.KeyEnv, want) {
		t.Errorf("KeyEnv %q, want %q", step.KeyEnv, want)
	}
	if _, ok := StepFor(&tandem.Service{Name: "api"}); ok {
		t.Error("a service without x-tandem.build has a step")
	}
}

func TestFailedBuildIsRetried(t *testing.T) {
	step, r := project(t)
	step.Command = `echo -n x >> ../runs; echo "npm ERR! missing script: build" >&2; exit 1`
	var out bytes.Buffer
	_, err := run(t, r, step, &out)
	if err == nil || !strings.Contains(err.Error(), "build web") || !strings.Contains(err.Error(), "exit status 1") {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(out.String(), "missing script") {
		t.Errorf("output %q", out.String())
	}
	run(t, r, step, &out)
	if runs(t, step.Dir) != 2 {
		t.Errorf("a failed build was not retried: runs=%d", runs(t, step.Dir))
	}
}

func TestConcurrentRunsBuildOnce(t *testing.T) {
	step, r := project(t)
	step.Command = "sleep 0.3; " + step.Command
	var wg sync.WaitGroup
	results := make([]Result, 3)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if results[i], err = r.Run(context.Background(), step, &bytes.Buffer{}); err != nil {
				t.Error(err)
			}
			defer results[i].Release()
		}()
	}
	wg.Wait()
	if n := runs(t, step.Dir); n != 1 {
		t.Errorf("built %d times", n)
	}
}

func TestGitIgnoredOutputsAreNotInputs(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	step, r := project(t)
	write(t, filepath.Join(step.Dir, ".gitignore"), "out/\nnode_modules/\n")
	if out, err := exec.Command("git", "-C", step.Dir, "init", "-q").CombinedOutput(); err != nil {
		t.Fatal(err, string(out))
	}
	files, err := listInputs(step.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(files, " ") != ".gitignore package.json src/page.js" {
		t.Errorf("inputs %q", files)
	}
	run(t, r, step, &bytes.Buffer{})
	write(t, filepath.Join(step.Dir, "node_modules", "dep", "index.js"), "changed by npm\n")
	if res, _ := run(t, r, step, &bytes.Buffer{}); !res.Skipped {
		t.Error("an ignored folder caused a build")
	}
	// An ignored folder the build made is its output: without it, build again.
	os.RemoveAll(filepath.Join(step.Dir, "out"))
	if res, _ := run(t, r, step, &bytes.Buffer{}); res.Skipped || res.Reason != "out is gone" {
		t.Errorf("output removed: %+v", res)
	}
}

func TestCancelEndsTheWholeBuild(t *testing.T) {
	step, r := project(t)
	pidFile := filepath.Join(step.Dir, "bg.pid")
	// The file appears whole (renamed into place), so the watcher below
	// never reads it before the pid is in it.
	step.Command = "sleep 30 & echo $! > " + pidFile + ".tmp; mv " + pidFile + ".tmp " + pidFile + "; wait"
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for {
			if _, err := os.Stat(pidFile); err == nil {
				cancel()
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	start := time.Now()
	_, err := r.Run(ctx, step, &bytes.Buffer{})
	if !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second {
		t.Fatalf("err %v after %s", err, time.Since(start))
	}
	b, _ := os.ReadFile(pidFile)
	pid := strings.TrimSpace(string(b))
	if pid == "" {
		t.Fatal("no pid written")
	}
	// Killed processes take a moment to be gone.
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		st, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil || strings.Contains(string(st), ") Z") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("background process %s of a canceled build still runs", pid)
		}
	}
}

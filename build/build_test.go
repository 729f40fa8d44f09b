package build

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
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
	step := Step{Service: "web", Dir: dir, Command: `echo -n x >> ../runs; rm -rf out; cp -r src out; echo "built with $MODE"`, Env: []string{"MODE=one"}}
	return step, &Runner{StateDir: filepath.Join(root, "state"), BaseEnv: []string{"PATH=" + os.Getenv("PATH")}}
}

func TestSkipsUntilSomethingChanges(t *testing.T) {
	step, r := project(t)
	ctx := context.Background()
	var out bytes.Buffer
	res, err := r.Run(ctx, step, &out)
	if err != nil || res.Skipped || runs(t, step.Dir) != 1 {
		t.Fatalf("first run: %+v %v runs=%d", res, err, runs(t, step.Dir))
	}
	if !strings.Contains(out.String(), "built with one") {
		t.Errorf("step did not see its environment: %q", out.String())
	}
	if res, _ = r.Run(ctx, step, &out); !res.Skipped {
		t.Fatal("unchanged inputs were built again")
	}
	for _, change := range []struct {
		name string
		do   func()
	}{
		{"source edited", func() { write(t, filepath.Join(step.Dir, "src", "page.js"), "export default 2\n") }},
		{"file added", func() { write(t, filepath.Join(step.Dir, "src", "new.js"), "x\n") }},
		{"environment changed", func() { step.Env = []string{"MODE=two"} }},
		{"command changed", func() { step.Command += " # again" }},
		{"output removed", func() { os.RemoveAll(filepath.Join(step.Dir, "out")) }},
		{"made executable", func() { os.Chmod(filepath.Join(step.Dir, "package.json"), 0o755) }},
	} {
		before := runs(t, step.Dir)
		change.do()
		res, err := r.Run(ctx, step, &out)
		if err != nil || res.Skipped || runs(t, step.Dir) != before+1 {
			t.Errorf("%s: %+v %v", change.name, res, err)
		}
		if res, _ := r.Run(ctx, step, &out); !res.Skipped {
			t.Errorf("%s: second run not skipped", change.name)
		}
	}
	// Touching a file without changing it is no change.
	now := time.Now().Add(time.Minute)
	os.Chtimes(filepath.Join(step.Dir, "src", "page.js"), now, now)
	if res, _ := r.Run(ctx, step, &out); !res.Skipped {
		t.Error("a touched but unchanged file caused a build")
	}
}

func TestFailedBuildIsRetried(t *testing.T) {
	step, r := project(t)
	step.Command = `echo -n x >> ../runs; echo "npm ERR! missing script: build" >&2; exit 1`
	var out bytes.Buffer
	_, err := r.Run(context.Background(), step, &out)
	if err == nil || !strings.Contains(err.Error(), "build web") || !strings.Contains(err.Error(), "exit status 1") {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(out.String(), "missing script") {
		t.Errorf("output %q", out.String())
	}
	r.Run(context.Background(), step, &out)
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
	r.Run(context.Background(), step, &bytes.Buffer{})
	write(t, filepath.Join(step.Dir, "node_modules", "dep", "index.js"), "changed by npm\n")
	if res, _ := r.Run(context.Background(), step, &bytes.Buffer{}); !res.Skipped {
		t.Error("an ignored folder caused a build")
	}
}

func TestCancelEndsTheWholeBuild(t *testing.T) {
	step, r := project(t)
	pidFile := filepath.Join(step.Dir, "bg.pid")
	step.Command = "sleep 30 & echo $! > " + pidFile + "; wait"
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
	if pid := strings.TrimSpace(string(b)); pid != "" {
		if _, err := os.Stat("/proc/" + pid); err == nil {
			st, _ := os.ReadFile("/proc/" + pid + "/stat")
			if !strings.Contains(string(st), ") Z") {
				t.Errorf("background process %s of a canceled build still runs", pid)
			}
		}
	}
}

// Package build runs the x-tandem.build step of each service (npm ci && npm
// run build, say) before the service starts, and skips it when nothing it
// reads has changed since its last successful run.
package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tandem-dev/tandem"
)

// Step is one service's build.
type Step struct {
	Service string
	Dir     string   // the build context: where the command runs and what it reads
	Command string   // a shell command
	Env     []string // the service's environment: next build inlines NEXT_PUBLIC_*
}

// StepFor returns the build step of svc, or false if it has none.
func StepFor(svc *tandem.Service) (Step, bool) {
	if svc.Build == "" {
		return Step{}, false
	}
	return Step{Service: svc.Name, Dir: svc.Context, Command: svc.Build, Env: svc.Env()}, true
}

// Result says what Run did.
type Result struct {
	Skipped  bool          // inputs and outputs as after the last successful run
	Duration time.Duration // of the run, or of the check when skipped
	Key      string        // digest of the inputs, command and environment
}

// Runner runs build steps.
type Runner struct {
	// StateDir keeps a stamp per build directory and service. The outputs of
	// a build live in its source tree, so the stamps are shared by every
	// stack instance that builds that tree (DefaultStateDir).
	StateDir string
	// BaseEnv is the environment the step's Env is added to (PATH, HOME...).
	BaseEnv []string
}

// DefaultStateDir is the user's cache directory for tandem's build stamps.
func DefaultStateDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "tandem", "builds")
}

type stamp struct {
	Key     string             `json:"key"`
	Outputs []string           `json:"outputs"`
	Files   map[string]fileSum `json:"files"`
	Built   time.Time          `json:"built"`
}

// Run runs step unless its last successful run had the same inputs and its
// outputs are still there. Concurrent runs of the same directory and service
// (two instances started at once) wait for each other; the second then
// finds the first one's work done. The step's output goes to out.
func (r *Runner) Run(ctx context.Context, step Step, out io.Writer) (Result, error) {
	began := time.Now()
	if err := os.MkdirAll(r.StateDir, 0o755); err != nil {
		return Result{}, err
	}
	dir, err := filepath.Abs(step.Dir)
	if err != nil {
		return Result{}, err
	}
	id := sha256.Sum256([]byte(dir))
	base := filepath.Join(r.StateDir, hex.EncodeToString(id[:8])+"-"+step.Service)
	unlock, err := lock(ctx, base+".lock")
	if err != nil {
		return Result{}, err
	}
	defer unlock()

	var prev stamp
	if b, err := os.ReadFile(base + ".json"); err == nil {
		json.Unmarshal(b, &prev)
	}
	key, sums, err := r.key(dir, step, prev.Files)
	if err != nil {
		return Result{}, fmt.Errorf("build %s: read inputs in %s: %w", step.Service, dir, err)
	}
	if key == prev.Key && present(dir, prev.Outputs) {
		return Result{Skipped: true, Duration: time.Since(began), Key: key}, nil
	}
	os.Remove(base + ".json") // a failed or interrupted build leaves no stamp

	began = time.Now()
	if err := r.exec(ctx, dir, step, out); err != nil {
		return Result{Duration: time.Since(began), Key: key}, err
	}
	took := time.Since(began)
	// The build may have written inputs it also reads (a lockfile, say):
	// stamp what is there now.
	files, err := listInputs(dir)
	if err != nil {
		return Result{}, err
	}
	if key, sums, err = r.key(dir, step, sums); err != nil {
		return Result{}, err
	}
	b, _ := json.Marshal(stamp{Key: key, Outputs: topLevel(dir, files), Files: sums, Built: time.Now()})
	if err := os.WriteFile(base+".json", b, 0o644); err != nil {
		return Result{}, err
	}
	return Result{Duration: took, Key: key}, nil
}

func (r *Runner) key(dir string, step Step, known map[string]fileSum) (string, map[string]fileSum, error) {
	files, err := listInputs(dir)
	if err != nil {
		return "", nil, err
	}
	inputs, sums, err := hashInputs(dir, files, known)
	if err != nil {
		return "", nil, err
	}
	env := append([]string(nil), step.Env...)
	sort.Strings(env)
	b, _ := json.Marshal(struct {
		Inputs, Command string
		Env             []string
	}{inputs, step.Command, env})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:]), sums, nil
}

func present(dir string, names []string) bool {
	for _, n := range names {
		if _, err := os.Lstat(filepath.Join(dir, n)); err != nil {
			return false
		}
	}
	return true
}

func (r *Runner) exec(ctx context.Context, dir string, step Step, out io.Writer) error {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", step.Command)
	cmd.Dir = dir
	cmd.Env = append(append([]string(nil), r.BaseEnv...), step.Env...)
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so canceling ends npm and everything it ran.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return tandem.Errorf(tandem.EINVALID, "build %s: %q in %s: exit status %d", step.Service, step.Command, dir, ee.ExitCode())
	}
	if err != nil {
		return fmt.Errorf("build %s: %w", step.Service, err)
	}
	return nil
}

// lock takes an exclusive lock on path, giving up when ctx ends.
func lock(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, err
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

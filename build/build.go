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
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/internal/fsutil"
)

// Step is one service's build.
type Step struct {
	Service string
	Dir     string   // the build context: where the command runs and what it reads
	Command string   // a shell command
	Env     []string // the service's environment: next build inlines NEXT_PUBLIC_*
	// KeyEnv are the variables of Env that the output depends on: a change
	// to one of them means the build must run again. The others (a secret, a
	// host used only at run time) do not.
	KeyEnv []string
	// Replace, for a step whose Env holds placeholders instead of a
	// preview's own values (Placeholders), turns the outputs into that
	// preview's: Cache.Build shares one build between the previews of the
	// same code and replaces the placeholders in each one's copy.
	Replace []Replacement
}

// inlinedPrefixes are the variables build tools write into their output by
// convention: Next.js, Vite, Create React App, Gatsby, Nuxt, Expo, SvelteKit.
var inlinedPrefixes = []string{"NEXT_PUBLIC_", "VITE_", "REACT_APP_", "GATSBY_", "NUXT_PUBLIC_", "EXPO_PUBLIC_", "PUBLIC_"}

// StepFor returns the build step of svc, or false if it has none. Its key
// counts the variables build tools inline (NEXT_PUBLIC_* and the like),
// NODE_ENV, and those x-tandem.build names in env.
func StepFor(svc *tandem.Service) (Step, bool) {
	if svc.Build == "" {
		return Step{}, false
	}
	step := Step{Service: svc.Name, Dir: svc.Context, Command: svc.Build, Env: svc.Env()}
	for _, kv := range step.Env {
		name, _, _ := strings.Cut(kv, "=")
		if name == "NODE_ENV" || slices.Contains(svc.BuildEnv, name) || slices.ContainsFunc(inlinedPrefixes, func(p string) bool { return strings.HasPrefix(name, p) }) {
			step.KeyEnv = append(step.KeyEnv, kv)
		}
	}
	return step, true
}

// Result says what Run did.
type Result struct {
	Skipped  bool          // inputs and outputs as after the last successful run
	Reason   string        // why it ran: "first build", "2 files changed: ..."
	Duration time.Duration // of the run, or of the check when skipped
	Key      string        // digest of the inputs, command and environment

	// Transformed, for a step with placeholders, says why they cannot be
	// replaced (a value the build transformed): what it left in the work
	// tree is unusable, and the step must run with the preview's own
	// values instead.
	Transformed string
	// Replaced counts the files whose placeholders were replaced.
	Replaced int
	// Entries are the cache entries the outputs came from or went to,
	// relative to Cache.Dir: "out/web-KEY", "deps/web-KEY".
	Entries []string

	release func()
}

// Release says the caller no longer runs what the build made. Until then,
// another Run that would replace the outputs fails instead.
func (r Result) Release() {
	if r.release != nil {
		r.release()
	}
}

// Runner runs build steps.
type Runner struct {
	// StateDir keeps a stamp per build directory and service. The outputs of
	// a build live in its source tree, so the stamps are shared by every
	// stack instance that builds that tree (DefaultStateDir).
	StateDir string
	// BaseEnv is the environment the step's Env is added to (PATH, HOME...).
	BaseEnv []string
	// Exec runs a step's shell command; nil runs it as a child in a process
	// group of its own. tandem passes process.Run, so that nothing a build
	// started outlives tandem, even killed.
	Exec func(ctx context.Context, dir string, env []string, command string, out io.Writer) error
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
	Command string             `json:"command"`
	Env     []string           `json:"env"` // KeyEnv, sorted
	Outputs []string           `json:"outputs"`
	Files   map[string]fileSum `json:"files"`
	Built   time.Time          `json:"built"`
}

// Run runs step unless its last successful run had the same inputs and its
// outputs are still there. Concurrent runs of the same directory and service
// (two instances started at once) wait for each other; the second then
// finds the first one's work done. The step's output goes to out.
//
// The outputs live in the source tree, and a running service uses them: the
// caller holds them until it calls Release on the result, and a Run that
// would replace outputs another caller holds fails with ECONFLICT rather
// than pull them from under it.
func (r *Runner) Run(ctx context.Context, step Step, out io.Writer) (Result, error) {
	began := time.Now()
	// Stamps are the user's alone; they hold digests, not values, of the
	// variables a build depends on, which a user may list secrets among.
	if err := os.MkdirAll(r.StateDir, 0o700); err != nil {
		return Result{}, err
	}
	dir, err := filepath.Abs(step.Dir)
	if err != nil {
		return Result{}, err
	}
	id := sha256.Sum256([]byte(dir))
	base := filepath.Join(r.StateDir, hex.EncodeToString(id[:8])+"-"+step.Service)
	building, err := fsutil.Lock(ctx, base+".lock", false)
	if err != nil {
		return Result{}, err
	}
	defer building.Unlock()

	var prev stamp
	if b, err := os.ReadFile(base + ".json"); err == nil {
		json.Unmarshal(b, &prev)
	}
	cur := stamp{Command: step.Command, Env: digestValues(sorted(step.KeyEnv))}
	cur.Key, cur.Files, err = r.key(dir, cur, prev.Files)
	if err != nil {
		return Result{}, fmt.Errorf("build %s: read inputs in %s: %w", step.Service, dir, err)
	}
	reason := why(prev, cur, dir)
	if reason == "" {
		use, err := fsutil.Lock(ctx, base+".use", true)
		if err != nil {
			return Result{}, err
		}
		return Result{Skipped: true, Duration: time.Since(began), Key: cur.Key, release: use.Unlock}, nil
	}
	// Nobody may run from the outputs while they are replaced.
	use, err := fsutil.TryLock(base+".use", false)
	if err != nil {
		return Result{}, tandem.Errorf(tandem.ECONFLICT,
			"build %s: it must run again (%s), but another tandem runs %s from what the last build left in %s: stop it first", step.Service, reason, step.Service, dir)
	}
	ok := false
	defer func() {
		if !ok {
			use.Unlock()
		}
	}()
	os.Remove(base + ".json") // a failed or interrupted build leaves no stamp

	began = time.Now()
	if err := r.exec(ctx, dir, step, out); err != nil {
		return Result{Reason: reason, Duration: time.Since(began), Key: cur.Key}, err
	}
	took := time.Since(began)
	// The build may have written inputs it also reads (a lockfile, say):
	// stamp what is there now.
	files, err := listInputs(dir)
	if err != nil {
		return Result{}, err
	}
	if cur.Key, cur.Files, err = r.key(dir, cur, cur.Files); err != nil {
		return Result{}, err
	}
	cur.Outputs, cur.Built = topLevel(dir, files), time.Now()
	b, _ := json.Marshal(cur)
	if err := os.WriteFile(base+".json", b, 0o600); err != nil {
		return Result{}, err
	}
	// From replacing them to running from them.
	if err := use.Share(); err != nil {
		return Result{}, err
	}
	ok = true
	return Result{Reason: reason, Duration: took, Key: cur.Key, release: use.Unlock}, nil
}

// digestValues replaces the value of each NAME=VALUE with a digest of it:
// enough to tell that it changed, nothing to read it from.
func digestValues(env []string) []string {
	out := make([]string, len(env))
	for i, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		sum := sha256.Sum256([]byte(v))
		out[i] = k + "=sha256:" + hex.EncodeToString(sum[:16])
	}
	return out
}

func sorted(s []string) []string {
	s = append([]string(nil), s...)
	sort.Strings(s)
	return s
}

// key digests the files in dir, the command and the environment of st.
func (r *Runner) key(dir string, st stamp, known map[string]fileSum) (string, map[string]fileSum, error) {
	files, err := listInputs(dir)
	if err != nil {
		return "", nil, err
	}
	inputs, sums, err := hashInputs(dir, files, known)
	if err != nil {
		return "", nil, err
	}
	b, _ := json.Marshal(struct {
		Inputs, Command string
		Env             []string
	}{inputs, st.Command, st.Env})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:]), sums, nil
}

// why says why a build must run, or "" if it need not.
func why(prev, cur stamp, dir string) string {
	switch {
	case prev.Key == "":
		return "no earlier build"
	case prev.Command != cur.Command:
		return "its command changed"
	case !slices.Equal(prev.Env, cur.Env):
		return "its environment changed: " + strings.Join(changedNames(prev.Env, cur.Env), ", ")
	case prev.Key != cur.Key:
		return changedFiles(prev.Files, cur.Files)
	}
	for _, o := range prev.Outputs {
		if _, err := os.Lstat(filepath.Join(dir, o)); err != nil {
			return o + " is gone"
		}
	}
	return ""
}

func changedNames(a, b []string) []string {
	seen := map[string]int{}
	for _, kv := range a {
		seen[kv]++
	}
	for _, kv := range b {
		seen[kv]--
	}
	var names []string
	for kv, n := range seen {
		if name, _, _ := strings.Cut(kv, "="); n != 0 && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

func changedFiles(prev, cur map[string]fileSum) string {
	var changed []string
	for f, s := range cur {
		if p, ok := prev[f]; !ok || p.Sum != s.Sum {
			changed = append(changed, f)
		}
	}
	for f := range prev {
		if _, ok := cur[f]; !ok {
			changed = append(changed, f)
		}
	}
	sort.Strings(changed)
	switch n := len(changed); {
	case n == 0:
		return "its inputs changed"
	case n == 1:
		return changed[0] + " changed"
	case n <= 3:
		return strings.Join(changed, ", ") + " changed"
	default:
		return fmt.Sprintf("%s and %d more files changed", strings.Join(changed[:3], ", "), n-3)
	}
}

func (r *Runner) exec(ctx context.Context, dir string, step Step, out io.Writer) error {
	run := r.Exec
	if run == nil {
		run = childExec
	}
	env := append(append([]string(nil), r.BaseEnv...), step.Env...)
	err := run(ctx, dir, env, step.Command, out)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ee *tandem.ExitError
	if errors.As(err, &ee) {
		return tandem.Errorf(tandem.EINVALID, "build %s: %q in %s: exit status %d", step.Service, step.Command, dir, ee.Code)
	}
	if err != nil {
		return fmt.Errorf("build %s: %w", step.Service, err)
	}
	return nil
}

// childExec runs command as a child in a process group of its own, so that
// canceling ends npm and everything it ran.
func childExec(ctx context.Context, dir string, env []string, command string, out io.Writer) error {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", command)
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdout, cmd.Stderr = out, out
	ownGroup(cmd)
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return &tandem.ExitError{Code: ee.ExitCode()}
	}
	return err
}

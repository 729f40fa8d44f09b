package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tandem-dev/tandem/internal/fsutil"
)

// Cache builds in work trees that come and go (one per preview), keeping
// what builds made by the digest of their inputs, so the same code is built
// once, and dependency folders by their lockfiles, so a change to the code
// alone does not reinstall them.
type Cache struct {
	Dir     string   // holds out/KEY (outputs) and deps/KEY (dependency folders)
	BaseEnv []string // as Runner's
	Exec    func(ctx context.Context, dir string, env []string, command string, out io.Writer) error
}

// installers are the dependency steps a build command may start with,
// "npm ci && npm run build", and the folder each fills.
var installers = []struct{ prefix, folder string }{
	{"npm ci", "node_modules"},
	{"npm install", "node_modules"},
	{"pnpm install --frozen-lockfile", "node_modules"},
	{"yarn install --frozen-lockfile", "node_modules"},
	{"yarn install --immutable", "node_modules"},
}

// lockfiles are what a dependency folder is keyed by.
var lockfiles = []string{"package.json", "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", ".npmrc"}

// linked are dependency folders: restored as hard links (instant), as
// installers do not write into them once they are made.
var linked = map[string]bool{"node_modules": true}

// splitInstall splits "npm ci && npm run build" into its install step, the
// folder it fills, and the rest.
func splitInstall(command string) (install, folder, rest string) {
	c := strings.TrimSpace(command)
	for _, in := range installers {
		if r, ok := strings.CutPrefix(c, in.prefix); ok {
			r = strings.TrimSpace(r)
			if after, ok := strings.CutPrefix(r, "&&"); ok {
				return in.prefix, in.folder, strings.TrimSpace(after)
			}
			if r == "" {
				return in.prefix, in.folder, ""
			}
		}
	}
	return "", "", command
}

// Build brings step's outputs into step.Dir: copied from the cache when its
// inputs were built before (Skipped, Reason "cached"), else by running it,
// with its dependency folder from the cache when the lockfile is unchanged,
// and keeping what it made for the next work tree with the same inputs. A
// step with placeholders (Step.Replace) gets them replaced in its copy, or
// Result.Transformed when they cannot be.
func (c *Cache) Build(ctx context.Context, step Step, out io.Writer) (Result, error) {
	began := time.Now()
	dir, err := filepath.Abs(step.Dir)
	if err != nil {
		return Result{}, err
	}
	files, err := listInputs(dir)
	if err != nil {
		return Result{}, fmt.Errorf("build %s: read inputs in %s: %w", step.Service, dir, err)
	}
	st := stamp{Command: step.Command, Env: sorted(step.KeyEnv)}
	r := &Runner{}
	if st.Key, _, err = r.key(dir, st, nil); err != nil {
		return Result{}, err
	}
	entry := "out/" + step.Service + "-" + st.Key[:32]
	outDir := filepath.Join(c.Dir, entry)
	if err := os.MkdirAll(filepath.Dir(outDir), 0o755); err != nil {
		return Result{}, err
	}
	// Two previews of the same code build it once: the second waits and
	// finds the first one's outputs.
	l, err := fsutil.Lock(ctx, outDir+".lock", false)
	if err != nil {
		return Result{}, err
	}
	defer l.Unlock()
	res := Result{Key: st.Key, Entries: []string{entry}}
	if b, err := os.ReadFile(outDir + ".transformed"); err == nil && len(step.Replace) > 0 {
		res.Transformed = string(b)
		return res, nil
	}
	if _, err := os.Stat(outDir); err == nil {
		res, err = c.reuse(step, dir, outDir, res)
		res.Duration = time.Since(began)
		return res, err
	}
	res.Reason = "not built before"
	command := step.Command
	if install, folder, rest := splitInstall(step.Command); install != "" {
		deps, hit, err := c.deps(ctx, step, dir, install, folder, out)
		if err != nil {
			res.Duration = time.Since(began)
			return res, err
		}
		res.Entries = append(res.Entries, deps)
		command = rest // the install step is done either way
		if hit {
			res.Reason += "; " + folder + " from the cache"
		}
	}
	if command != "" {
		step := step
		step.Command = command
		r := &Runner{BaseEnv: c.BaseEnv, Exec: c.Exec}
		if err := r.exec(ctx, dir, step, out); err != nil {
			res.Duration = time.Since(began)
			return res, err
		}
	}
	// Keep what the build left beside its inputs.
	if err := save(dir, topLevel(dir, files), outDir); err != nil {
		return Result{}, fmt.Errorf("build %s: keep outputs: %w", step.Service, err)
	}
	err = c.replace(step, dir, outDir, &res)
	res.Duration = time.Since(began)
	return res, err
}

// reuse copies the cached outputs outDir into dir, placeholders replaced.
func (c *Cache) reuse(step Step, dir, outDir string, res Result) (Result, error) {
	var files []string
	if len(step.Replace) > 0 {
		var problem string
		var err error
		if files, problem, err = replacements(outDir); err != nil || problem != "" {
			res.Transformed = problem
			return res, err
		}
	}
	if err := restore(outDir, dir); err != nil {
		return res, fmt.Errorf("build %s: restore cached outputs: %w", step.Service, err)
	}
	if err := replaceIn(dir, files, step.Replace); err != nil {
		return res, fmt.Errorf("build %s: %w", step.Service, err)
	}
	now := time.Now()
	os.Chtimes(outDir, now, now) // last used, for eviction
	res.Skipped, res.Reason, res.Replaced = true, "cached", len(files)
	return res, nil
}

// replace, after a build with placeholders, checks the outputs kept in
// outDir and replaces the placeholders in dir's.
func (c *Cache) replace(step Step, dir, outDir string, res *Result) error {
	if len(step.Replace) == 0 {
		return nil
	}
	files, problem, err := replacements(outDir)
	if err != nil || problem != "" {
		res.Transformed = problem
		return err
	}
	res.Replaced = len(files)
	return replaceIn(dir, files, step.Replace)
}

// deps fills step's dependency folder from the cache when its lockfiles
// were installed before, or runs install and keeps a copy. It returns the
// cache entry ("deps/web-KEY") and whether it was there already.
func (c *Cache) deps(ctx context.Context, step Step, dir, install, folder string, out io.Writer) (string, bool, error) {
	h := sha256.New()
	io.WriteString(h, install+"\n")
	for _, f := range lockfiles {
		if b, err := os.ReadFile(filepath.Join(dir, f)); err == nil {
			fmt.Fprintf(h, "%s %d\n", f, len(b))
			h.Write(b)
		}
	}
	entry := "deps/" + step.Service + "-" + hex.EncodeToString(h.Sum(nil))[:32]
	cached := filepath.Join(c.Dir, entry)
	hit, err := c.fillDeps(ctx, step, dir, install, folder, cached, out)
	return entry, hit, err
}

func (c *Cache) fillDeps(ctx context.Context, step Step, dir, install, folder, cached string, out io.Writer) (bool, error) {
	if err := os.MkdirAll(filepath.Dir(cached), 0o755); err != nil {
		return false, err
	}
	l, err := fsutil.Lock(ctx, cached+".lock", false)
	if err != nil {
		return false, err
	}
	defer l.Unlock()
	target := filepath.Join(dir, folder)
	if _, err := os.Stat(cached); err == nil {
		if err := disown(cached); err != nil { // kept by an older tandem
			return false, err
		}
		now := time.Now()
		os.Chtimes(cached, now, now) // last used, for eviction
		os.RemoveAll(target)
		return true, fsutil.CopyTree(filepath.Join(cached, folder), target, fsutil.Options{Link: true, Skip: skipCache})
	}
	r := &Runner{BaseEnv: c.BaseEnv, Exec: c.Exec}
	s := step
	s.Command = install
	if err := r.exec(ctx, dir, s, out); err != nil {
		return false, err
	}
	// Keep a copy, then use it here as every later work tree will: as
	// links to the cache, so no work tree holds the original.
	tmp := cached + ".new"
	os.RemoveAll(tmp)
	if err := fsutil.CopyTree(target, filepath.Join(tmp, folder), fsutil.Options{Skip: skipCache}); err != nil {
		return false, err
	}
	if err := disown(tmp); err != nil {
		return false, err
	}
	if err := os.Rename(tmp, cached); err != nil {
		return false, err
	}
	if err := os.RemoveAll(target); err != nil {
		return false, err
	}
	return false, fsutil.CopyTree(filepath.Join(cached, folder), target, fsutil.Options{Link: true})
}

// skipCache leaves out tools' caches inside dependency folders
// (node_modules/.cache): they are written in place.
func skipCache(rel string) bool { return filepath.Base(rel) == ".cache" }

// buildCaches are the build tools' own caches among the outputs, by output
// folder: a service runs without them, and they would be copied into every
// work tree (Next.js's is most of .next). They may also hold placeholders
// in binary files, which are no output.
var buildCaches = map[string]string{".next": "cache"}

// skipOutput leaves out what of output folder n is not kept.
func skipOutput(n string) func(rel string) bool {
	return func(rel string) bool { return skipCache(rel) || rel == buildCaches[n] }
}

// save copies the outputs names in dir to outDir: dependency folders as
// links to what dir holds, the rest as copies.
func save(dir string, names []string, outDir string) error {
	tmp := outDir + ".new"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	for _, n := range names {
		src := filepath.Join(dir, n)
		fi, err := os.Lstat(src)
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			if err := fsutil.CopyFile(src, filepath.Join(tmp, n)); err != nil {
				return err
			}
			continue
		}
		if err := fsutil.CopyTree(src, filepath.Join(tmp, n), fsutil.Options{Link: linked[n], Skip: skipOutput(n)}); err != nil {
			return err
		}
	}
	return os.Rename(tmp, outDir)
}

// restore copies cached outputs into dir, replacing what is there.
func restore(outDir, dir string) error {
	entries, err := os.ReadDir(outDir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		target := filepath.Join(dir, e.Name())
		os.RemoveAll(target)
		src := filepath.Join(outDir, e.Name())
		if !e.IsDir() {
			if err := fsutil.CopyFile(src, target); err != nil {
				return err
			}
			continue
		}
		if err := fsutil.CopyTree(src, target, fsutil.Options{Link: linked[e.Name()]}); err != nil {
			return err
		}
	}
	return nil
}

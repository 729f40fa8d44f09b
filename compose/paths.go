package compose

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/tandem-dev/tandem"
)

// MaxFileSize bounds every file loading reads — Compose files, .env and
// env_file files: a stack file is a few kilobytes, and one of gigabytes
// would take memory and minutes before anything could say it is wrong.
const MaxFileSize = 4 << 20

// maxErrorPage bounds an error page, which the gateway keeps in memory.
const maxErrorPage = 1 << 20

// confiner keeps the paths a stack file names inside its project: the
// repository that holds it (its work tree under tandem serve). A stack file
// under tandem serve comes from a pull request, and a path that leads out
// would have tandem read, mount or serve any file of the machine.
//
// Strict (tandem serve), a path outside is an error. Otherwise (tandem up,
// tandem check, on the user's own machine, where a Compose file may build
// ../other-repo as docker compose allows) it is a warning, but for what
// tandem itself reads and serves to anyone: error pages.
type confiner struct {
	d      *decoder
	root   string // real path: symbolic links resolved
	strict bool
	warns  []tandem.Problem
}

// newConfiner finds the root: Options.Root if set (strict), else the
// repository around the first Compose file, else its directory.
func newConfiner(d *decoder, opts Options) (*confiner, error) {
	root, strict := opts.Root, opts.Root != ""
	if !strict {
		dir, err := filepath.Abs(filepath.Dir(opts.Files[0]))
		if err != nil {
			return nil, err
		}
		root = repositoryOf(dir)
	}
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "project directory: %v", err)
	}
	real, err = filepath.Abs(real)
	if err != nil {
		return nil, err
	}
	return &confiner{d: d, root: real, strict: strict}, nil
}

// repositoryOf is the work tree of the git repository dir is in (where
// .git is), or dir itself when it is in none.
func repositoryOf(dir string) string {
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	for d := dir; ; {
		if _, err := os.Lstat(filepath.Join(d, ".git")); err == nil {
			return d
		}
		parent := filepath.Dir(d)
		if parent == d {
			return dir
		}
		d = parent
	}
}

// resolve returns where path leads, symbolic links followed as far as it
// exists, and whether that is inside the root.
func (c *confiner) resolve(path string) (string, bool, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", false, err
	}
	real, rest := abs, ""
	for {
		r, err := filepath.EvalSymlinks(real)
		if err == nil {
			real = filepath.Join(r, rest)
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", false, pathless(err)
		}
		// Resolve what exists; what does not cannot lead anywhere yet.
		parent := filepath.Dir(real)
		if parent == real {
			break
		}
		rest = filepath.Join(filepath.Base(real), rest)
		real = parent
	}
	return real, within(c.root, real), nil
}

// within reports whether path is root or below it; both are clean and
// absolute.
func within(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// check records a problem at pos if path leads outside the root: an error
// when strict or always, else a warning. It reports whether path is inside.
func (c *confiner) check(pos tandem.Pos, what, path string, always bool) bool {
	_, inside, err := c.resolve(path)
	switch {
	case err != nil:
		c.problem(pos, true, "%s %q: %v", what, c.shown(path), err)
	case !inside:
		msg := "%s %q is outside the project (%s)"
		if c.strict {
			msg += ": tandem serve keeps every path of a stack file inside the repository"
		} else if always {
			msg += ": tandem serves it to anyone, so it must be part of the project"
		}
		c.problem(pos, c.strict || always, msg, what, c.shown(path), c.rootName())
	}
	return err == nil && inside
}

func (c *confiner) problem(pos tandem.Pos, isError bool, format string, args ...any) {
	p := tandem.Problem{Pos: pos, Message: fmt.Sprintf(format, args...)}
	if isError {
		c.d.errs = append(c.d.errs, p)
		return
	}
	p.Severity = tandem.SeverityWarning
	c.warns = append(c.warns, p)
}

// rootName names the root without saying where the server keeps it.
func (c *confiner) rootName() string {
	if c.strict {
		return "the repository"
	}
	return c.root
}

// shown names path as the stack file would: relative to the root when it
// lies below it (absolute paths of a server's work tree say nothing).
func (c *confiner) shown(path string) string {
	if abs, err := filepath.Abs(path); err == nil && within(c.root, abs) {
		if rel, err := filepath.Rel(c.root, abs); err == nil {
			return rel
		}
	}
	return path
}

// pos is where a dotted path of the stack file was written.
func (c *confiner) pos(path string) tandem.Pos {
	pos, ok := c.d.ps.in("", path)
	if !ok && len(c.d.files) > 0 {
		pos = tandem.Pos{File: c.d.files[0]}
	}
	return pos
}

// readFile reads a file loading needs — a Compose file, an error page —
// through the root when it must stay inside it (os.Root confines by
// construction, whatever a symbolic link says), refusing one that is not a
// regular file or is larger than limit. what names it in messages.
func (c *confiner) readFile(path, what string, limit int64, confined bool) ([]byte, error) {
	var f *os.File
	var err error
	if confined {
		var root *os.Root
		if root, err = os.OpenRoot(c.root); err != nil {
			return nil, err
		}
		defer root.Close()
		real, inside, rerr := c.resolve(path)
		if rerr != nil {
			return nil, rerr
		}
		if !inside {
			return nil, fmt.Errorf("it is outside the project (%s)", c.rootName())
		}
		rel, _ := filepath.Rel(c.root, real)
		f, err = root.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	} else {
		f, err = os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	}
	if err != nil {
		return nil, pathless(err)
	}
	defer f.Close()
	return readLimited(f, what, limit)
}

// readLimited reads a regular file of at most limit bytes. O_NONBLOCK
// above and the check here keep a FIFO or a device (/dev/zero) from
// blocking or never ending.
func readLimited(f *os.File, what string, limit int64) ([]byte, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, pathless(err)
	}
	switch {
	case fi.IsDir():
		return nil, fmt.Errorf("is a directory")
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("is not a regular file")
	case fi.Size() > limit:
		return nil, tooLarge(what, fi.Size(), limit)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit { // it grew meanwhile
		return nil, tooLarge(what, int64(len(b)), limit)
	}
	return b, nil
}

func tooLarge(what string, size, limit int64) error {
	return fmt.Errorf("%s is %s; tandem reads at most %s", what, humanSize(size), humanSize(limit))
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// smallFile checks a file compose-go reads itself (env_file, .env,
// label_file) before it does: inside the root (see check), and, if it
// exists, a regular file of at most MaxFileSize.
func (c *confiner) smallFile(pos tandem.Pos, what, path string) {
	if !c.check(pos, what, path, false) && c.strict {
		return
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// compose-go says so, if it is required.
	case err != nil:
		c.problem(pos, true, "%s %q: %v", what, c.shown(path), pathless(err))
	case fi.IsDir():
	case !fi.Mode().IsRegular():
		c.problem(pos, true, "%s %q is not a regular file", what, c.shown(path))
	case fi.Size() > MaxFileSize:
		c.problem(pos, true, "%s %q: %v", what, c.shown(path), tooLarge("it", fi.Size(), MaxFileSize))
	}
}

// envFiles checks the env_file and label_file entries of the enabled
// services, which compose-go reads when the environment is resolved.
func (c *confiner) envFiles(p *types.Project) {
	for _, s := range p.Services {
		at := "services." + s.Name
		specs := []types.ContainerSpec{s.ContainerSpec}
		for _, h := range s.PreStart {
			specs = append(specs, h.ContainerSpec)
		}
		for _, spec := range specs {
			for i, f := range spec.EnvFiles {
				c.smallFile(c.pos(fmt.Sprintf("%s.env_file.%d", at, i)), "env_file", c.abs(p, f.Path))
			}
			for i, f := range spec.LabelFiles {
				c.smallFile(c.pos(fmt.Sprintf("%s.label_file.%d", at, i)), "label_file", c.abs(p, f))
			}
		}
	}
}

// abs makes a path of the project absolute, as its consumers will.
func (c *confiner) abs(p *types.Project, path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(p.WorkingDir, path)
}

// project checks the paths of the enabled services the runtime uses:
// build contexts, Dockerfiles, working directories and bind mounts, and
// the files of secrets and configs.
func (c *confiner) project(p *types.Project) {
	for _, s := range p.Services {
		at := "services." + s.Name
		if b := s.Build; b != nil && b.Context != "" {
			context := c.abs(p, b.Context)
			inside := c.check(c.pos(at+".build.context"), fmt.Sprintf("build context of service %q", s.Name), context, false)
			if inside && b.Dockerfile != "" && b.DockerfileInline == "" {
				df := b.Dockerfile
				if !filepath.IsAbs(df) {
					df = filepath.Join(context, df)
				}
				c.check(c.pos(at+".build.dockerfile"), fmt.Sprintf("Dockerfile of service %q", s.Name), df, false)
			}
			// working_dir is taken from the context; an absolute one is
			// a path in a container, which tandem ignores.
			if wd := s.WorkingDir; inside && wd != "" && !filepath.IsAbs(wd) {
				c.check(c.pos(at+".working_dir"), fmt.Sprintf("working_dir of service %q", s.Name), filepath.Join(context, wd), false)
			}
		}
		for i, v := range s.Volumes {
			pos := c.pos(fmt.Sprintf("%s.volumes.%d", at, i))
			switch v.Type {
			case types.VolumeTypeBind:
				c.check(pos, fmt.Sprintf("bind mount of service %q", s.Name), c.abs(p, v.Source), false)
			case types.VolumeTypeVolume:
				if v.Source == "." || v.Source == ".." {
					c.problem(pos, true, "volume name %q of service %q is not a name", v.Source, s.Name)
				}
			}
		}
	}
	for name, s := range p.Secrets {
		if s.File != "" {
			c.check(c.pos("secrets."+name+".file"), fmt.Sprintf("file of secret %q", name), c.abs(p, s.File), false)
		}
	}
	for name, s := range p.Configs {
		if s.File != "" {
			c.check(c.pos("configs."+name+".file"), fmt.Sprintf("file of config %q", name), c.abs(p, s.File), false)
		}
	}
}

// errorPages reads each route's error page into the route, so that the
// gateway serves what was checked here and never opens a path a stack file
// names. A page that does not exist or is a directory is left for tandem
// check to report.
func (c *confiner) errorPages(st *tandem.Stack) {
	for i := range st.Routes {
		r := &st.Routes[i]
		if r.ErrorPage == "" {
			continue
		}
		pos := c.pos(fmt.Sprintf("%s.routes.%d.error_page", Extension, i))
		if r.Pos.File != "" && pos.File != r.Pos.File {
			pos = r.Pos
		}
		if !c.check(pos, "error page", r.ErrorPage, true) {
			continue
		}
		fi, err := os.Stat(r.ErrorPage)
		if err != nil || fi.IsDir() {
			continue
		}
		b, err := c.readFile(r.ErrorPage, "it", maxErrorPage, true)
		switch {
		case err != nil:
			c.problem(pos, true, "error page %q: %v", c.shown(r.ErrorPage), err)
		case len(b) == 0:
			c.problem(pos, true, "error page %q is empty", c.shown(r.ErrorPage))
		default:
			r.ErrorPageBody = string(b)
		}
	}
}

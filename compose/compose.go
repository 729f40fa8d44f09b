// Package compose loads a stack file — a Compose file with an x-tandem
// extension — into a tandem.Stack, with compose-go, so that interpolation,
// .env, env_file, depends_on, healthchecks, profiles and extends mean
// exactly what they mean under docker compose.
package compose

import (
	"context"
	"os"
	"path/filepath"
	"sort"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/tandem-dev/tandem"
)

// Options says which stack file to load and how.
type Options struct {
	// Files are the Compose files (-f), at least one; later files override
	// earlier ones, as docker compose merges them.
	Files []string
	// Profiles are the active profiles; none means COMPOSE_PROFILES, as
	// docker compose reads it.
	Profiles []string
	// Vars are interpolated in the file. A non-empty value wins over the
	// shell environment and .env; an empty one is a default they may set.
	Vars tandem.Vars
	// ProjectName overrides the name docker compose would choose (the
	// top-level name:, COMPOSE_PROJECT_NAME, or the directory name).
	ProjectName string
	// Root is set for a stack file tandem must not trust, one from a pull
	// request under tandem serve: the directory (the work tree) that every
	// path it names must stay inside, symbolic links followed, or loading
	// fails. Its variables then come from Vars and its own .env alone, not
	// from tandem's environment, which is the server's.
	//
	// Without it, paths may lead outside the repository around the first
	// file, as docker compose allows; the stack's Warnings say which do.
	Root string
}

// Load reads the stack file. Any problem with it is a *tandem.Error with
// code EINVALID whose message starts with "file:line:" where the line is
// known; a block of x-tandem problems has one such line per problem.
//
// Every file it reads is checked first: a regular file of at most
// MaxFileSize, inside Root when that is set.
func Load(ctx context.Context, opts Options) (*tandem.Stack, error) {
	if len(opts.Files) == 0 {
		return nil, tandem.Errorf(tandem.EINVALID, "no compose file given")
	}
	ps := newPositions()
	d := &decoder{ps: ps, files: opts.Files}
	c, err := newConfiner(d, opts)
	if err != nil {
		return nil, err
	}
	abs := map[string]string{}
	top := map[string][]byte{}
	for _, f := range opts.Files {
		content, err := c.readFile(f, "it", MaxFileSize, c.strict)
		if err != nil {
			return nil, tandem.Errorf(tandem.EINVALID, "compose file %s: %v", f, err)
		}
		if err := ps.add(f, content); err != nil {
			return nil, err
		}
		top[f] = content
		if a, err := filepath.Abs(f); err == nil {
			abs[a] = f
		}
	}
	c.dotEnvFile(opts.Files[0])
	if err := d.err(); err != nil {
		return nil, err
	}

	po, err := cli.NewProjectOptions(opts.Files, projectOptions(opts)...)
	if err != nil {
		return nil, optionsError(err)
	}
	p, err := c.loadProject(ctx, po, top, abs)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	return c.convert(p, opts)
}

// loadProject has compose-go load the project once include, extends and
// env_file lead nowhere they must not.
func (c *confiner) loadProject(ctx context.Context, po *cli.ProjectOptions, top map[string][]byte, abs map[string]string) (*types.Project, error) {
	dir, err := po.GetWorkingDir()
	if err != nil {
		return nil, err
	}
	f := &follower{c: c, top: top, seen: map[string]bool{}}
	for _, name := range c.d.files {
		f.file(name, top[name], dir, po.Environment)
	}
	if err := c.d.err(); err != nil {
		return nil, err
	}
	p, err := po.LoadProject(ctx)
	if err == nil {
		c.envFiles(p)
		if err := c.d.err(); err != nil {
			return nil, err
		}
		p, err = p.WithServicesEnvironmentResolved(false)
	}
	if err == nil {
		p, err = p.WithServicesLabelsResolved(false)
	}
	if err != nil {
		return nil, loadError(err, c.d.files, abs, c.d.ps)
	}
	return p, nil
}

// convert turns the project into tandem's Stack, once the paths its
// services use are checked, before any of them is read.
func (c *confiner) convert(p *types.Project, opts Options) (*tandem.Stack, error) {
	d := c.d
	c.project(p)
	if err := d.err(); err != nil {
		return nil, err
	}
	st := &tandem.Stack{
		Name:     p.Name,
		Files:    append([]string(nil), opts.Files...),
		Dir:      p.WorkingDir,
		Disabled: p.DisabledServiceNames(),
		Pos:      d.ps.merged,
	}
	disabled := map[string]bool{}
	for _, name := range st.Disabled {
		disabled[name] = true
	}
	for _, name := range p.ServiceNames() {
		st.Services = append(st.Services, d.convert(p.Services[name], disabled))
	}
	st.Profiles = profiles(p.Services, p.DisabledServices)
	if x, ok := p.Extensions[Extension]; ok {
		d.stack(x, st)
	}
	c.errorPages(st)
	if err := d.err(); err != nil {
		return nil, err
	}
	st.Warnings = c.warns
	return st, nil
}

// projectOptions orders the sources of variables: tandem's own first, so
// that the shell environment and .env (which never overwrite a variable
// already set) cannot change them.
func projectOptions(opts Options) []cli.ProjectOptionsFn {
	var vars, unset []string
	for k, v := range opts.Vars.Env() {
		if v != "" {
			vars = append(vars, k+"="+v)
		} else {
			unset = append(unset, k)
		}
	}
	sort.Strings(vars)
	osEnv := cli.WithOsEnv
	if opts.Root != "" {
		osEnv = func(*cli.ProjectOptions) error { return nil }
	}
	return []cli.ProjectOptionsFn{
		cli.WithName(opts.ProjectName),
		cli.WithEnv(vars),
		osEnv,
		cli.WithEnvFiles(),
		cli.WithDotEnv,
		// Every tandem variable is defined, if only as empty, so that
		// ${GIT_SHA} needs no default and draws no "not set" warning.
		func(o *cli.ProjectOptions) error {
			for _, k := range unset {
				if _, ok := o.Environment[k]; !ok {
					o.Environment[k] = ""
				}
			}
			return nil
		},
		cli.WithDefaultProfiles(opts.Profiles...),
		// Environments are resolved once their env_file are checked.
		cli.WithLoadOptions(func(o *loader.Options) {
			o.SkipResolveEnvironment = true
			o.SkipResolveLabels = true
		}),
	}
}

// pathless drops the file name an *os.PathError repeats.
func pathless(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// profiles maps each service that names profiles to them.
func profiles(sets ...types.Services) map[string][]string {
	out := map[string][]string{}
	for _, set := range sets {
		for name, s := range set {
			if len(s.Profiles) > 0 {
				out[name] = append([]string(nil), s.Profiles...)
			}
		}
	}
	return out
}

package preview

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v4"

	"github.com/tandem-dev/tandem"
)

// OverridesFile is the file a pull request carries to build some services
// from another repository's pull request or ref, as the preview article
// names it:
//
//	api: {repo: backend, pr: 515}
//	worker: {repo: backend, ref: feature/queues}
const OverridesFile = "preview-overrides.yaml"

// ServiceSource says that a service's build context comes from another
// registered repository (tandem.yaml's services): Path in Repo, checked out
// where the stack file puts the service's build context.
type ServiceSource struct {
	Repo string
	Path string // in Repo; "" or "." for its root
}

// Override is one service's entry in preview-overrides.yaml.
type Override struct {
	Repo string `yaml:"repo"`
	PR   int    `yaml:"pr"`
	Ref  string `yaml:"ref"`
}

// ReadOverrides reads preview-overrides.yaml at the root of a work tree;
// no file is no overrides. The file comes from the pull request: it is
// read with a size limit and every entry must say exactly one of pr and ref.
func ReadOverrides(src string) (map[string]Override, error) {
	f, err := os.Open(filepath.Join(src, OverridesFile))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 64<<10+1))
	if err != nil {
		return nil, err
	}
	if len(b) > 64<<10 {
		return nil, tandem.Errorf(tandem.EINVALID, "%s is larger than 64 KiB", OverridesFile)
	}
	var o map[string]Override
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&o); err != nil && err != io.EOF {
		return nil, tandem.Errorf(tandem.EINVALID, "%s: %v", OverridesFile, err)
	}
	for svc, v := range o {
		if (v.PR > 0) == (v.Ref != "") || v.PR < 0 {
			return nil, tandem.Errorf(tandem.EINVALID, "%s: service %s: say either pr (a number) or ref", OverridesFile, svc)
		}
	}
	return o, nil
}

// checkoutSources checks out, for each service the repository registers
// as coming from another one, that repository where the stack file puts
// the service's build context: at the pull request or ref the overrides
// file names, else at its default branch. Everything stays inside the work
// tree, so the stack loads, builds and runs as for one repository. It
// records what was asked in the preview and returns service →
// "repo@commit" for the binding.
func (m *Manager) checkoutSources(ctx context.Context, j job, p *tandem.Preview, src string) (map[string]string, error) {
	repo := m.opts.Repos[p.Repo]
	overrides, err := ReadOverrides(src)
	if err != nil {
		return nil, err
	}
	for svc, o := range overrides {
		ss, ok := repo.Services[svc]
		switch {
		case !ok:
			return nil, tandem.Errorf(tandem.EINVALID, "%s: service %s does not come from another repository (tandem.yaml's services of %s)", OverridesFile, svc, p.Repo)
		case o.Repo != "" && o.Repo != ss.Repo:
			return nil, tandem.Errorf(tandem.EINVALID, "%s: service %s comes from repository %s, not %s", OverridesFile, svc, ss.Repo, o.Repo)
		}
	}
	if len(repo.Services) == 0 {
		return nil, nil
	}
	// Where each service's build context is, from the stack as committed.
	st, secrets, err := m.loadStack(ctx, p, src)
	if err != nil {
		return nil, masked(err, secretValues(secrets))
	}
	names := make([]string, 0, len(repo.Services))
	for n := range repo.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	sources, refs := map[string]string{}, map[string]string{}
	for _, name := range names {
		ss := repo.Services[name]
		ref, commit, err := m.checkoutSource(ctx, st, src, name, ss, overrides[name])
		if err != nil {
			return nil, err
		}
		sources[name], refs[name] = ss.Repo+"@"+commit, ss.Repo+"@"+ref
		m.event(p.Name, "log", fmt.Sprintf("%s: from %s at %s (%s)", name, ss.Repo, ref, commit[:min(12, len(commit))]))
	}
	_, err = m.update(j.name, j.gen, func(p *tandem.Preview) { p.SourceRefs = refs })
	return sources, err
}

// checkoutSource puts one service's build context from its repository.
func (m *Manager) checkoutSource(ctx context.Context, st *tandem.Stack, src, name string, ss ServiceSource, o Override) (ref, commit string, err error) {
	other, ok := m.opts.Repos[ss.Repo]
	if !ok {
		return "", "", tandem.Errorf(tandem.EINVALID, "service %s comes from repository %s, which is not registered", name, ss.Repo)
	}
	svc := st.Service(name)
	if svc == nil || svc.Context == "" {
		return "", "", tandem.Errorf(tandem.EINVALID, "service %s comes from repository %s, but the stack file gives it no build context", name, ss.Repo)
	}
	rel, err := filepath.Rel(src, svc.Context)
	if err != nil || rel == "." || !filepath.IsLocal(rel) {
		return "", "", tandem.Errorf(tandem.EINVALID, "service %s: its build context must be a directory inside the repository, not its root", name)
	}
	ref = other.DefaultBranch
	switch {
	case o.PR > 0:
		format := other.PRRef
		if format == "" {
			format = "refs/pull/%d/head"
		}
		ref = fmt.Sprintf(format, o.PR)
	case o.Ref != "":
		ref = o.Ref
	}
	commit, _, err = other.Source.Resolve(ctx, ref)
	if err != nil {
		return "", "", err
	}
	// The context as committed goes, and with it any stale registration of
	// an earlier generation's work tree at the same path.
	dest := svc.Context
	if err := other.Source.Remove(ctx, dest); err != nil {
		return "", "", err
	}
	if ss.Path == "" || filepath.Clean(ss.Path) == "." {
		return ref, commit, other.Source.Checkout(ctx, commit, dest)
	}
	if !filepath.IsLocal(ss.Path) {
		return "", "", tandem.Errorf(tandem.EINVALID, "service %s: path %q must be inside repository %s", name, ss.Path, ss.Repo)
	}
	tree := filepath.Join(src, ".tandem-sources", name)
	if err := other.Source.Remove(ctx, tree); err != nil {
		return "", "", err
	}
	if err := other.Source.Checkout(ctx, commit, tree); err != nil {
		return "", "", err
	}
	target, err := filepath.Rel(filepath.Dir(dest), filepath.Join(tree, ss.Path))
	if err != nil {
		return "", "", err
	}
	return ref, commit, os.Symlink(target, dest)
}

// serverEnv adds the values the server supplies for the repository to a
// preview's secrets, unless the preview runs untrusted code and the
// repository does not say it may have them. Generated secrets win: a name
// in both is the stack's.
func serverEnv(repo Repo, p *tandem.Preview, secrets map[string]string) map[string]string {
	if len(repo.Env) == 0 || (p.Untrusted && !repo.ForkEnv) {
		return secrets
	}
	out := make(map[string]string, len(secrets)+len(repo.Env))
	for k, v := range repo.Env {
		out[k] = v
	}
	for k, v := range secrets {
		out[k] = v
	}
	return out
}

// DependsOn reports whether a preview's services come from repo at ref
// (as SourceRefs records them): a push there should update it.
func DependsOn(p *tandem.Preview, repo, ref string) bool {
	for _, r := range p.SourceRefs {
		if r == repo+"@"+ref || strings.HasPrefix(r, repo+"@") && ref == "" {
			return true
		}
	}
	return false
}

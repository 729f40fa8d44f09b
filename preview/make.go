package preview

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/build"
	"github.com/tandem-dev/tandem/check"
	"github.com/tandem-dev/tandem/compose"
	"github.com/tandem-dev/tandem/seed"
	"github.com/tandem-dev/tandem/supervisor"
)

type job struct {
	name string
	gen  int
	ttl  time.Duration // asked for by the request; 0: the stack's, then the server's
}

// worker makes previews from the queue until it closes.
func (m *Manager) worker() {
	defer m.workers.Done()
	for j := range m.queue {
		m.run(j)
	}
}

func (m *Manager) run(j job) {
	ctx, cancel := context.WithTimeout(context.Background(), m.opts.Timeout)
	defer cancel()
	m.mu.Lock()
	if m.closing {
		m.mu.Unlock()
		return
	}
	m.running[j.name] = cancel
	m.begun[j.name] = time.Now()
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.running, j.name)
		delete(m.begun, j.name)
		m.mu.Unlock()
		m.pruneCaches(context.Background())
	}()
	if err := m.make(ctx, j); err != nil && !errors.Is(err, errSuperseded) {
		m.log.Warn("preview failed", "preview", j.name, "generation", j.gen, "err", err)
	}
}

// step is one named part of making a preview; its output is recorded as
// events and its last lines kept for a failure report.
type step struct {
	m     *Manager
	name  string
	title string
	mask  []string // secret values, never recorded

	mu   sync.Mutex
	buf  []byte
	tail []string
}

func (s *step) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = append(s.buf, p...)
	for {
		i := strings.IndexByte(string(s.buf), '\n')
		if i < 0 {
			break
		}
		s.line(strings.TrimRight(string(s.buf[:i]), "\r"))
		s.buf = s.buf[i+1:]
	}
	return len(p), nil
}

func (s *step) line(l string) {
	for _, secret := range s.mask {
		if secret != "" {
			l = strings.ReplaceAll(l, secret, "[secret]")
		}
	}
	s.tail = append(s.tail, l)
	if len(s.tail) > 20 {
		s.tail = s.tail[len(s.tail)-20:]
	}
	s.m.event(s.name, "log", l)
}

func (s *step) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.buf) > 0 {
		s.line(string(s.buf))
		s.buf = nil
	}
	return append([]string(nil), s.tail...)
}

// update changes the record of generation gen of a preview, unless a newer
// create or a destroy has come since.
func (m *Manager) update(name string, gen int, f func(*tandem.Preview)) (*tandem.Preview, error) {
	unlock := m.lock(name)
	defer unlock()
	p, err := m.opts.Store.Preview(context.Background(), name)
	if err != nil {
		if tandem.ErrorCode(err) == tandem.ENOTFOUND {
			return nil, errSuperseded
		}
		return nil, err
	}
	if p.Generation != gen || p.State == tandem.PreviewDestroying {
		return nil, errSuperseded
	}
	f(p)
	p.UpdatedAt = time.Now().UTC()
	return p, m.opts.Store.PutPreview(context.Background(), p)
}

// enter moves generation gen into state, at step.
func (m *Manager) enter(name string, gen int, state tandem.PreviewState, stepName string) error {
	_, err := m.update(name, gen, func(p *tandem.Preview) { p.State, p.Step = state, stepName })
	if err == nil {
		m.event(name, "state", string(state))
		if stepName != "" {
			m.event(name, "step", stepName)
		}
	}
	return err
}

// make brings generation j.gen of a preview from queued to ready, or to
// failed with the step and the tail of its output. What it made is removed
// when it fails or is superseded; the instance serving before stays until
// the new one is ready.
func (m *Manager) make(ctx context.Context, j job) (err error) {
	dir := m.genDir(j.name, j.gen)
	var p *tandem.Preview
	var cur *step
	var in *Instance
	var mask []string // the preview's secrets, once known
	defer func() {
		if err == nil {
			return
		}
		// The error is recorded, shown by the API and logged: a secret a
		// command line or a stack file's value carried must not be.
		err = masked(err, mask)
		if in != nil {
			m.stop(in)
		} else {
			m.removeGen(p, dir)
		}
		if errors.Is(err, errSuperseded) || (ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded)) {
			return
		}
		var tail []string
		stepName := "create"
		if cur != nil {
			tail, stepName = cur.lines(), cur.title
		}
		msg := err.Error()
		if _, uerr := m.update(j.name, j.gen, func(p *tandem.Preview) {
			p.State, p.Step, p.Error, p.LogTail = tandem.PreviewFailed, stepName, msg, tail
		}); uerr == nil {
			m.event(j.name, "state", string(tandem.PreviewFailed))
			m.event(j.name, "error", stepName+": "+msg)
		}
	}()

	p, err = m.opts.Store.Preview(ctx, j.name)
	if err != nil {
		return err
	}
	if p.Generation != j.gen {
		return errSuperseded
	}
	repo := m.opts.Repos[p.Repo]
	newStep := func(title string, mask []string) *step {
		cur = &step{m: m, name: j.name, title: title, mask: mask}
		return cur
	}

	// Checkout.
	if err := m.enter(j.name, j.gen, tandem.PreviewBuilding, "checkout"); err != nil {
		return err
	}
	newStep("checkout", nil)
	commit, branch, err := repo.Source.Resolve(ctx, p.Ref)
	if err != nil {
		return err
	}
	// Left by a crash, with what the runtime kept for it (asked only when
	// there is such a directory: a runtime's own sweep takes what a
	// directory already gone left).
	if _, err := os.Lstat(dir); err == nil {
		if err := m.removeData(ctx, dir); err != nil {
			return err
		}
	}
	src := filepath.Join(dir, "src")
	if err := repo.Source.Checkout(ctx, commit, src); err != nil {
		return err
	}
	if p, err = m.update(j.name, j.gen, func(p *tandem.Preview) { p.Commit, p.Branch = commit, branch }); err != nil {
		return err
	}
	newStep("sources", nil)
	sources, err := m.checkoutSources(ctx, j, p, src) // services from other repositories (sources.go)
	if err != nil {
		return err
	}

	// The stack, with this preview's values and secrets.
	newStep("load stack", nil)
	st, secrets, err := m.loadStack(ctx, p, src)
	mask = secretValues(secrets)
	if err != nil {
		return err
	}
	digest := stackDigest(st, mask) // the file's, before images add their healthchecks
	if err := tandem.UseImageHealthchecks(ctx, m.opts.Runtime, st.Services, newStep("load stack", mask)); err != nil {
		return err
	}
	if problems := check.Stack(st, m.opts.Runtime.Check); hasErrors(problems) {
		return tandem.Errorf(tandem.EINVALID, "%s", joinProblems(problems))
	}
	binding := tandem.Binding{Repo: p.Repo, Commit: commit, StackDigest: digest, Builds: map[string]string{}, Sources: sources}
	if m.opts.ReviewPlan != nil {
		newStep("review plan", nil)
		if binding.ReviewPlan, err = m.opts.ReviewPlan(ctx, p, j.gen, src, st); err != nil {
			return err
		}
	}

	// Builds.
	if err := m.runBuilds(ctx, j, p, st, src, secrets, binding, newStep, mask); err != nil {
		return err
	}

	// The database.
	var restore map[string]string
	plan, err := seed.PlanFor(st)
	if err != nil {
		return err
	}
	if plan != nil {
		plan.WorkTree = src
		if err := m.enter(j.name, j.gen, tandem.PreviewSeeding, "seed"); err != nil {
			return err
		}
		out := newStep("seed", mask)
		began := time.Now()
		// Recorded first: the caches keep what a preview records using.
		if err := use(dir, "snapshot "+plan.Key); err != nil {
			return err
		}
		var made bool
		if restore, made, err = m.snaps.Ensure(ctx, st, plan, out); err != nil {
			return err
		}
		now := time.Now()
		os.Chtimes(filepath.Join(m.snaps.Dir, plan.Key), now, now) // last used
		plan.Seeder.Environment[seed.Env] = "1"
		binding.SnapshotKey = plan.Key
		how := "from the snapshot"
		if made {
			how = "seeded, and kept as a snapshot"
		}
		m.event(j.name, "log", fmt.Sprintf("database %s in %s (%s)", how, time.Since(began).Round(time.Millisecond), plan.Key[:12]))
	}

	// Start, beside whatever serves now.
	if err := m.enter(j.name, j.gen, tandem.PreviewStarting, "start"); err != nil {
		return err
	}
	out := newStep("start", mask)
	in = m.newInstance(p, j.gen, dir, st, restore, mask)
	in.source = repo.Source
	in.progress.Store(out)
	if err := in.Supervisor().Up(ctx); err != nil {
		in.progress.Store(nil)
		for _, l := range failedTail(in.Supervisor()) {
			out.line(l)
		}
		return err
	}
	in.progress.Store(nil)
	return m.switchTo(j, in, binding, st)
}

// runBuilds runs the build of each service that has one, recording each
// one's key in binding. A build that inlines tandem's per-preview values
// runs once per code, with placeholders (see build.Placeholders), unless it
// transforms them.
func (m *Manager) runBuilds(ctx context.Context, j job, p *tandem.Preview, st *tandem.Stack, src string, secrets map[string]string,
	binding tandem.Binding, newStep func(string, []string) *step, mask []string) error {
	var shared *tandem.Stack
	var repl []build.Replacement
	for _, svc := range st.Services {
		s, ok := build.StepFor(svc)
		if !ok {
			continue
		}
		title := "build " + svc.Name
		if err := m.enter(j.name, j.gen, tandem.PreviewBuilding, title); err != nil {
			return err
		}
		out := newStep(title, mask)
		if shared == nil {
			var err error
			if shared, repl, err = m.placeholderStack(ctx, p, src, secrets); err != nil {
				m.event(j.name, "log", "the stack does not load with placeholders for the preview's values ("+masked(err, mask).Error()+"): each preview builds with its own")
				shared = &tandem.Stack{}
			}
		}
		res, err := m.build(ctx, j.name, s, shared.Service(svc.Name), repl, out)
		if uerr := use(m.genDir(j.name, j.gen), buildUses(res.Entries)...); err == nil {
			err = uerr
		}
		if err != nil {
			return err
		}
		binding.Builds[svc.Name] = res.Key
		switch {
		case res.Skipped && res.Replaced > 0:
			m.event(j.name, "log", fmt.Sprintf("%s: build cached (%s), this preview's values in %d files", svc.Name, res.Key[:12], res.Replaced))
		case res.Skipped:
			m.event(j.name, "log", fmt.Sprintf("%s: build cached (%s)", svc.Name, res.Key[:12]))
		default:
			m.event(j.name, "log", fmt.Sprintf("%s: built in %s (%s)", svc.Name, res.Duration.Round(100*time.Millisecond), res.Reason))
		}
	}
	return nil
}

// build runs the build step s, which ph is the same service of with
// placeholders: with them, shared by every preview of the same code, when
// the environment holds any; with the preview's own values when the build
// transformed them.
func (m *Manager) build(ctx context.Context, name string, s build.Step, ph *tandem.Service, repl []build.Replacement, out *step) (build.Result, error) {
	if ph != nil {
		if ps, ok := build.StepFor(ph); ok && !slices.Equal(ps.Env, s.Env) {
			ps.Dir, ps.Replace = s.Dir, repl
			res, err := m.builds.Build(ctx, ps, out)
			if err != nil || res.Transformed == "" {
				return res, err
			}
			m.event(name, "log", fmt.Sprintf("%s: one build for every preview cannot be used (%s): building with this preview's own values", s.Service, res.Transformed))
		}
	}
	return m.builds.Build(ctx, s, out)
}

// placeholderStack loads the stack of a work tree as loadStack does, with
// placeholders for the values that differ from one preview to the next.
func (m *Manager) placeholderStack(ctx context.Context, p *tandem.Preview, src string, secrets map[string]string) (*tandem.Stack, []build.Replacement, error) {
	vars, repl := build.Placeholders(m.vars(p, secrets))
	files := []string{filepath.Join(src, m.opts.Repos[p.Repo].Compose)}
	st, err := compose.Load(ctx, compose.Options{Files: files, Vars: vars, ProjectName: vars.Name, Root: src})
	return st, repl, err
}

// newInstance prepares an instance of a stack for a preview, in its
// generation's directory dir.
func (m *Manager) newInstance(p *tandem.Preview, gen int, dir string, st *tandem.Stack, restore map[string]string, mask []string) *Instance {
	in := &Instance{Preview: p.Name, Repo: p.Repo, Generation: gen, Host: m.host(p.Name), Routes: st.Routes, Access: st.Preview.Access, dir: dir, m: m}
	in.nap.after = m.sleepAfter(p.Repo)
	in.nap.mu.Lock()
	in.nap.set(napAwake)
	in.nap.seen = time.Now()
	in.nap.mu.Unlock()
	in.sup.Store(m.newSupervisor(in, st, restore, mask))
	return in
}

// newSupervisor makes what runs an instance's services: when it is made,
// and each time it wakes.
func (m *Manager) newSupervisor(in *Instance, st *tandem.Stack, restore map[string]string, mask []string) *supervisor.Supervisor {
	routed := map[string][]int{}
	for _, r := range st.Routes {
		routed[r.Service] = append(routed[r.Service], r.Port)
	}
	return supervisor.New(supervisor.Options{
		Stack: st, Runtime: m.opts.Runtime, Name: fmt.Sprintf("%s-%d", in.Preview, in.Generation), DataDir: filepath.Join(in.dir, "data"),
		Logger: m.log.With("preview", in.Preview), Routed: routed, Restore: restore, Limits: m.opts.Limits, Mask: mask,
		WorkTree: filepath.Join(in.dir, "src"), // the checkout, beside the data
		Output: func(l supervisor.Line) {
			if s := in.progress.Load(); s != nil {
				s.Write([]byte(l.Service + " | " + l.Text + "\n"))
			}
		},
	})
}

// switchTo routes the preview to its new instance, records it ready, and
// stops the instance it replaces once requests to it have had time to end.
func (m *Manager) switchTo(j job, in *Instance, binding tandem.Binding, st *tandem.Stack) error {
	ttl := j.ttl
	if ttl == 0 {
		ttl = st.Preview.TTL
	}
	if ttl == 0 {
		ttl = m.opts.DefaultTTL
	}
	unlock := m.lock(j.name)
	p, err := m.opts.Store.Preview(context.Background(), j.name)
	if err != nil || p.Generation != j.gen || p.State == tandem.PreviewDestroying {
		unlock()
		if err == nil || tandem.ErrorCode(err) == tandem.ENOTFOUND {
			err = errSuperseded
		}
		return err
	}
	now := time.Now().UTC()
	served := p.Serving
	p.State, p.Step, p.Error, p.LogTail = tandem.PreviewReady, "", "", nil
	p.Serving, p.ReadyAt, p.UpdatedAt, p.Binding = j.gen, now, now, binding
	p.TTL, p.ExpiresAt = ttl, time.Time{}
	if ttl > 0 {
		p.ExpiresAt = now.Add(ttl)
	}
	if err := m.opts.Store.PutPreview(context.Background(), p); err != nil {
		unlock()
		return err
	}
	in.Touch() // the idle clock starts now
	m.mu.Lock()
	old := m.serving[j.name]
	m.serving[j.name] = in
	m.mu.Unlock()
	m.publish()
	unlock()
	// Logged before anyone hears it is ready: a review never precedes it.
	m.auditServing(p, served)
	m.event(j.name, "state", string(tandem.PreviewReady))
	m.event(j.name, "ready", p.URL)
	m.wakeTTL()
	if old != nil {
		go func() {
			time.Sleep(m.opts.Drain)
			m.stop(old)
		}()
	}
	return nil
}

// stop ends an instance and removes its files.
func (m *Manager) stop(in *Instance) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := m.halt(ctx, in); err != nil {
		m.log.Warn("stop instance", "preview", in.Preview, "generation", in.Generation, "err", err)
	}
	if in.source != nil {
		in.source.Remove(ctx, filepath.Join(in.dir, "src"))
	}
	if err := m.removeData(ctx, in.dir); err != nil {
		m.log.Warn("remove instance data", "preview", in.Preview, "generation", in.Generation, "err", err)
	}
}

// removeGen removes what a generation that never ran left.
func (m *Manager) removeGen(p *tandem.Preview, dir string) {
	if p != nil {
		if repo, ok := m.opts.Repos[p.Repo]; ok {
			repo.Source.Remove(context.Background(), filepath.Join(dir, "src"))
		}
	}
	if err := m.removeData(context.Background(), dir); err != nil {
		m.log.Warn("remove generation data", "dir", dir, "err", err)
	}
}

// loadStack loads the stack file of a work tree with the preview's values,
// generating the secrets it names that the preview does not have yet.
func (m *Manager) loadStack(ctx context.Context, p *tandem.Preview, src string) (*tandem.Stack, map[string]string, error) {
	repo := m.opts.Repos[p.Repo]
	files := []string{filepath.Join(src, repo.Compose)}
	secrets, err := m.opts.Store.Secrets(ctx, p.Name)
	if err != nil && tandem.ErrorCode(err) != tandem.ENOTFOUND {
		return nil, nil, err
	}
	if secrets == nil {
		secrets = map[string]string{}
	}
	added := false
	for _, n := range compose.SecretNames(files) {
		if secrets[n] == "" {
			b := make([]byte, 32)
			rand.Read(b)
			secrets[n] = base64.RawURLEncoding.EncodeToString(b)
			added = true
		}
	}
	if added {
		if err := m.opts.Store.PutSecrets(ctx, p.Name, secrets); err != nil {
			return nil, nil, err
		}
	}
	secrets = serverEnv(repo, p, secrets) // tandem.yaml's values, unless withheld (sources.go)
	// The stack comes from the pull request: every path it names stays in
	// its work tree, and it sees none of the server's environment.
	st, err := compose.Load(ctx, compose.Options{Files: files, Vars: m.vars(p, secrets), ProjectName: p.Name, Root: src})
	if err != nil {
		// Files are named as in the repository, not where the server keeps it.
		err = &tandem.Error{Code: tandem.ErrorCode(err), Message: strings.ReplaceAll(err.Error(), src+string(filepath.Separator), "")}
	}
	return st, secrets, err
}

// vars are the values a preview's stack interpolates.
func (m *Manager) vars(p *tandem.Preview, secrets map[string]string) tandem.Vars {
	vars := tandem.Vars{Host: m.host(p.Name), URL: m.url(p.Name), Name: p.Name, GitSHA: p.Commit, GitBranch: p.Branch, Secrets: secrets}
	if p.PR != 0 {
		vars.PRNumber = fmt.Sprint(p.PR)
	}
	return vars
}

// masked is err with the secrets in its message replaced by [secret], as
// output lines are.
func masked(err error, secrets []string) error {
	msg := err.Error()
	out := msg
	for _, v := range secrets {
		if v != "" {
			out = strings.ReplaceAll(out, v, "[secret]")
		}
	}
	if out == msg {
		return err
	}
	return &tandem.Error{Code: tandem.ErrorCode(err), Message: out}
}

func secretValues(secrets map[string]string) []string {
	var v []string
	for _, s := range secrets {
		v = append(v, s)
	}
	return v
}

func hasErrors(ps []tandem.Problem) bool {
	for _, p := range ps {
		if p.Severity == tandem.SeverityError {
			return true
		}
	}
	return false
}

func joinProblems(ps []tandem.Problem) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// failedTail returns the last lines of the services that did not come up.
func failedTail(sup *supervisor.Supervisor) []string {
	var out []string
	for _, st := range sup.Status() {
		if st.State == supervisor.Running || st.State == supervisor.Healthy {
			continue
		}
		lines, _ := sup.Logs(st.Service, 10)
		out = append(out, fmt.Sprintf("%s: %s", st.Service, st.Reason()))
		for _, l := range lines {
			out = append(out, "  "+st.Service+" | "+l)
		}
	}
	return out
}

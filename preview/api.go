package preview

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/supervisor"
)

// Create asks for a preview: a new one, or, for a name that exists, an
// update to the commit req.Ref names now. It returns at once, queued; the
// events say how it goes. An update's instance comes up beside the one
// that serves, which goes only once the new one is ready.
func (m *Manager) Create(ctx context.Context, req CreateRequest) (*tandem.Preview, error) {
	if err := tandem.ValidPreviewName(req.Name); err != nil {
		return nil, err
	}
	if host := m.host(req.Name); slices.Contains(m.opts.Hosts, host) {
		return nil, tandem.Errorf(tandem.ECONFLICT, "preview name %q: %s is the server's own host; choose another name", req.Name, host)
	}
	repo, ok := m.opts.Repos[req.Repo]
	if !ok {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "no repository %q: registered are %s", req.Repo, strings.Join(m.repoNames(), ", "))
	}
	if repo.Compose == "" {
		return nil, tandem.Errorf(tandem.EINVALID, "repository %s has no stack file of its own: it only supplies services to others", req.Repo)
	}
	if req.Ref == "" {
		req.Ref = repo.DefaultBranch
	}
	if req.TTL < 0 {
		return nil, tandem.Errorf(tandem.EINVALID, "ttl %s is negative", req.TTL)
	}
	unlock := m.lock(req.Name)
	defer unlock()
	m.mu.Lock()
	closing := m.closing
	m.mu.Unlock()
	if closing {
		return nil, tandem.Errorf(tandem.EUNAVAILABLE, "the server is shutting down")
	}
	now := time.Now().UTC()
	p, err := m.opts.Store.Preview(ctx, req.Name)
	kind := "updated"
	switch {
	case tandem.ErrorCode(err) == tandem.ENOTFOUND:
		p, kind = &tandem.Preview{Name: req.Name, CreatedAt: now}, "created"
	case err != nil:
		return nil, err
	case p.State == tandem.PreviewDestroying:
		return nil, tandem.Errorf(tandem.ECONFLICT, "preview %s is being destroyed", req.Name)
	case p.Repo != req.Repo:
		return nil, tandem.Errorf(tandem.ECONFLICT, "preview %s is of repository %s, not %s: destroy it first, or choose another name", req.Name, p.Repo, req.Repo)
	}
	p.Repo, p.Ref, p.PR = req.Repo, req.Ref, req.PR
	p.RequestedBy, p.RequestReason, p.Untrusted = req.By, req.Reason, req.Untrusted
	if req.Author != "" {
		p.Author = req.Author
	}
	p.Generation++
	p.State, p.Step, p.Error, p.LogTail = tandem.PreviewQueued, "", "", nil
	p.URL = m.url(req.Name)
	p.TTL = req.TTL
	p.UpdatedAt = now
	if err := m.opts.Store.PutPreview(ctx, p); err != nil {
		return nil, err
	}
	// A newer commit makes the one being made for an older one moot.
	m.mu.Lock()
	if cancel := m.running[req.Name]; cancel != nil {
		cancel()
	}
	m.mu.Unlock()
	m.event(req.Name, kind, fmt.Sprintf("%s at %s", req.Repo, req.Ref))
	m.event(req.Name, "state", string(tandem.PreviewQueued))
	m.qmu.RLock()
	defer m.qmu.RUnlock()
	m.mu.Lock()
	closing = m.closing
	m.mu.Unlock()
	if closing {
		return nil, tandem.Errorf(tandem.EUNAVAILABLE, "the server is shutting down")
	}
	select {
	case m.queue <- job{name: req.Name, gen: p.Generation, ttl: req.TTL}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return p, nil
}

func (m *Manager) repoNames() []string {
	names := make([]string, 0, len(m.opts.Repos))
	for n := range m.opts.Repos {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Get returns a preview.
func (m *Manager) Get(ctx context.Context, name string) (*tandem.Preview, error) {
	p, err := m.opts.Store.Preview(ctx, name)
	if err == nil {
		m.asleep(p)
	}
	return p, err
}

// List returns every preview, by name.
func (m *Manager) List(ctx context.Context) ([]*tandem.Preview, error) {
	ps, err := m.opts.Store.Previews(ctx)
	for _, p := range ps {
		m.asleep(p)
	}
	return ps, err
}

// asleep says in p whether its serving instance sleeps.
func (m *Manager) asleep(p *tandem.Preview) {
	m.mu.Lock()
	in := m.serving[p.Name]
	m.mu.Unlock()
	p.Asleep = in != nil && in.Generation == p.Serving && in.asleep()
}

// Destroy stops a preview's instances and removes everything it owned:
// processes, work trees, data, secrets. Its events stay.
func (m *Manager) Destroy(ctx context.Context, name string) error {
	unlock := m.lock(name)
	p, err := m.opts.Store.Preview(ctx, name)
	if err != nil {
		unlock()
		return err
	}
	p.State, p.UpdatedAt = tandem.PreviewDestroying, time.Now().UTC()
	if err := m.opts.Store.PutPreview(ctx, p); err != nil {
		unlock()
		return err
	}
	m.mu.Lock()
	cancel := m.running[name]
	in := m.serving[name]
	delete(m.serving, name)
	m.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	m.publish()
	m.event(name, "state", string(tandem.PreviewDestroying))
	unlock()
	return m.finishDestroy(ctx, p, in)
}

// removeData removes dir, then what the runtime keeps elsewhere for the
// instances whose data lay in it (tandem.DataRemover: a Kubernetes
// namespace with its claims), which would otherwise outlive their data.
func (m *Manager) removeData(ctx context.Context, dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if dr, ok := m.opts.Runtime.(tandem.DataRemover); ok {
		return dr.RemoveData(ctx, dir)
	}
	return nil
}

// finishDestroy removes what a preview being destroyed still owns.
func (m *Manager) finishDestroy(ctx context.Context, p *tandem.Preview, in *Instance) error {
	// The job making a generation, if any, stands down before its files go.
	m.awaitJob(p.Name)
	if in != nil {
		m.stop(in)
	}
	if repo, ok := m.opts.Repos[p.Repo]; ok {
		gens, _ := filepath.Glob(filepath.Join(m.opts.DataDir, "previews", p.Name, "*", "src"))
		for _, src := range gens {
			repo.Source.Remove(ctx, src)
		}
	}
	if err := m.removeData(ctx, filepath.Join(m.opts.DataDir, "previews", p.Name)); err != nil {
		return err
	}
	unlock := m.lock(p.Name)
	defer unlock()
	if err := m.opts.Store.DeletePreview(ctx, p.Name); err != nil && tandem.ErrorCode(err) != tandem.ENOTFOUND {
		return err
	}
	m.event(p.Name, "destroyed", "")
	m.audit(tandem.AuditPreviewDestroyed, p, "")
	m.wakeTTL()
	return nil
}

// awaitJob waits until no job runs for name.
func (m *Manager) awaitJob(name string) {
	for {
		m.mu.Lock()
		_, busy := m.running[name]
		m.mu.Unlock()
		if !busy {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Logs returns the last n lines of a service's output in the instance that
// serves a preview.
func (m *Manager) Logs(ctx context.Context, name, service string, n int) ([]string, error) {
	if _, err := m.opts.Store.Preview(ctx, name); err != nil {
		return nil, err
	}
	sup := m.supervisor(name)
	if sup == nil {
		return nil, m.notRunning(name)
	}
	return sup.Logs(service, n)
}

// Follow returns new output lines of a service of a preview's serving
// instance, as supervisor.Follow does.
func (m *Manager) Follow(name, service string) (<-chan supervisor.Line, func(), error) {
	sup := m.supervisor(name)
	if sup == nil {
		return nil, nil, m.notRunning(name)
	}
	ch, cancel := sup.Follow(service)
	return ch, cancel, nil
}

// supervisor is what runs the services of a preview's instance, nil when
// nothing does.
func (m *Manager) supervisor(name string) *supervisor.Supervisor {
	m.mu.Lock()
	in := m.serving[name]
	m.mu.Unlock()
	if in == nil {
		return nil
	}
	return in.Supervisor()
}

// notRunning says why a preview has no running instance.
func (m *Manager) notRunning(name string) error {
	m.mu.Lock()
	in := m.serving[name]
	m.mu.Unlock()
	if in != nil {
		return tandem.Errorf(tandem.EUNAVAILABLE, "preview %s is asleep: a request to it wakes it", name)
	}
	return tandem.Errorf(tandem.EUNAVAILABLE, "preview %s has no running instance", name)
}

// Events returns a preview's events after the one with ID after.
func (m *Manager) Events(ctx context.Context, name string, after int64) ([]tandem.Event, error) {
	return m.opts.Store.Events(ctx, name, after, 0)
}

// Subscribe returns the events of preview name ("" for all) from now on,
// until cancel. A subscriber that does not keep up loses events (Events
// has them all).
func (m *Manager) Subscribe(name string) (<-chan tandem.Event, func()) {
	ch := make(chan tandem.Event, 256)
	m.mu.Lock()
	m.subs[ch] = name
	m.mu.Unlock()
	return ch, func() {
		m.mu.Lock()
		if _, ok := m.subs[ch]; ok {
			delete(m.subs, ch)
			close(ch)
		}
		m.mu.Unlock()
	}
}

// event records what happened and tells the subscribers.
func (m *Manager) event(name, kind, detail string) {
	e, err := m.opts.Store.AddEvent(context.Background(), tandem.Event{Preview: name, Kind: kind, Detail: detail})
	if err != nil {
		m.log.Error("event", "preview", name, "err", err)
		e = tandem.Event{Preview: name, Kind: kind, Detail: detail, Time: time.Now().UTC()}
	}
	m.mu.Lock()
	for ch, want := range m.subs {
		if want == "" || want == name {
			select {
			case ch <- e:
			default:
			}
		}
	}
	m.mu.Unlock()
}

var errSuperseded = errors.New("superseded by a newer create or a destroy")

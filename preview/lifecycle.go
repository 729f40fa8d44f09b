package preview

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/tandem-dev/tandem"
)

// pruner is a Source that can drop work trees it knows but nobody uses.
type pruner interface {
	Prune(ctx context.Context, keep []string) error
}

// Start reconciles what the store says with what is on disk, after a clean
// stop or a crash alike: previews that were ready come back at the same URL
// with the same secrets and data; ones that were being made start over; a
// destroy that was under way finishes; files nothing refers to go. Then the
// workers and the TTL clock start.
func (m *Manager) Start(ctx context.Context) error {
	previews, err := m.opts.Store.Previews(ctx)
	if err != nil {
		return err
	}
	keep := map[string]bool{} // previews/NAME/GEN still in use
	var revive, requeue, destroy []*tandem.Preview
	for _, p := range previews {
		switch p.State {
		case tandem.PreviewDestroying:
			destroy = append(destroy, p)
			continue
		case tandem.PreviewQueued, tandem.PreviewBuilding, tandem.PreviewSeeding, tandem.PreviewStarting:
			requeue = append(requeue, p)
		}
		if p.Serving > 0 {
			keep[m.genDir(p.Name, p.Serving)] = true
			revive = append(revive, p)
		}
	}
	m.sweep(ctx, keep)

	for _, p := range destroy {
		if err := m.finishDestroy(ctx, p, nil); err != nil {
			m.log.Error("finish destroy", "preview", p.Name, "err", err)
		}
	}
	for _, p := range revive {
		if err := m.revive(ctx, p); err != nil {
			m.log.Error("revive", "preview", p.Name, "err", err)
			m.event(p.Name, "error", "could not bring back its instance: "+err.Error())
			if p.State == tandem.PreviewReady || p.State == tandem.PreviewFailed {
				requeue = append(requeue, p) // make it again (one being made already is)
			}
		}
	}
	m.publish()

	loop, stop := context.WithCancel(context.Background())
	m.stopLoop = stop
	for i := 0; i < m.opts.Parallelism; i++ {
		m.workers.Add(1)
		go m.worker()
	}
	go m.expire(loop)
	go m.idle(loop)
	go m.pruneCaches(loop)
	for _, p := range requeue {
		if _, err := m.Create(ctx, CreateRequest{Name: p.Name, Repo: p.Repo, Ref: p.Ref, PR: p.PR, TTL: p.TTL,
			By: p.RequestedBy, Reason: p.RequestReason, Untrusted: p.Untrusted}); err != nil {
			m.log.Error("resume", "preview", p.Name, "err", err)
		}
	}
	return nil
}

// sweep removes generation directories and work trees nobody uses: those of
// creates a crash cut short, of previews the store no longer has.
func (m *Manager) sweep(ctx context.Context, keep map[string]bool) {
	dirs, _ := filepath.Glob(filepath.Join(m.opts.DataDir, "previews", "*", "*"))
	for _, d := range dirs {
		if keep[d] {
			continue
		}
		if _, err := strconv.Atoi(filepath.Base(d)); err != nil {
			continue
		}
		m.log.Info("sweep", "dir", d)
		if err := m.removeData(ctx, d); err != nil {
			m.log.Warn("sweep", "dir", d, "err", err)
		}
	}
	names, _ := filepath.Glob(filepath.Join(m.opts.DataDir, "previews", "*"))
	for _, n := range names {
		if entries, err := os.ReadDir(n); err == nil && len(entries) == 0 {
			os.Remove(n)
		}
	}
	var srcs []string
	for d := range keep {
		srcs = append(srcs, filepath.Join(d, "src"))
	}
	for _, r := range m.opts.Repos {
		if p, ok := r.Source.(pruner); ok {
			if err := p.Prune(ctx, srcs); err != nil {
				m.log.Warn("prune work trees", "repo", r.Name, "err", err)
			}
		}
	}
}

// revive starts again the instance a preview was served by, from its work
// tree and data as they were: no build, no seed. One that slept stays
// asleep until a request comes.
func (m *Manager) revive(ctx context.Context, p *tandem.Preview) error {
	dir := m.genDir(p.Name, p.Serving)
	src := filepath.Join(dir, "src")
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("work tree of generation %d: %w", p.Serving, err)
	}
	if in, ok := m.sleeping(p, dir); ok {
		m.mu.Lock()
		m.serving[p.Name] = in
		m.mu.Unlock()
		return nil
	}
	st, mask, err := m.instanceStack(ctx, p, src)
	if err != nil {
		return err
	}
	in := m.newInstance(p, p.Serving, dir, st, nil, mask)
	in.source = m.opts.Repos[p.Repo].Source
	up, cancel := context.WithTimeout(ctx, m.opts.Timeout)
	defer cancel()
	if err := in.Supervisor().Up(up); err != nil {
		in.Supervisor().Down(context.Background())
		return masked(err, mask)
	}
	m.mu.Lock()
	m.serving[p.Name] = in
	m.mu.Unlock()
	m.event(p.Name, "revived", p.URL)
	return nil
}

// Close stops taking work, lets the running creates end as canceled, and
// stops every instance. The store keeps the previews: the next Start brings
// them back.
func (m *Manager) Close(ctx context.Context) error {
	m.mu.Lock()
	if m.closing {
		m.mu.Unlock()
		return nil
	}
	m.closing = true
	for _, cancel := range m.running {
		cancel()
	}
	instances := make([]*Instance, 0, len(m.serving))
	for _, in := range m.serving {
		instances = append(instances, in)
	}
	m.serving = map[string]*Instance{}
	m.mu.Unlock()
	if m.stopLoop != nil {
		m.stopLoop()
	}
	m.qmu.Lock()
	close(m.queue)
	m.qmu.Unlock()
	m.workers.Wait()
	m.publish()
	for _, in := range instances {
		m.halt(ctx, in)
	}
	return nil
}

// expire destroys previews whose TTL has run out, waking at the next expiry
// or when a preview changes.
func (m *Manager) expire(ctx context.Context) {
	for {
		next := time.Hour
		previews, err := m.opts.Store.Previews(ctx)
		if err == nil {
			now := time.Now()
			for _, p := range previews {
				if p.ExpiresAt.IsZero() || p.State == tandem.PreviewDestroying {
					continue
				}
				if !p.ExpiresAt.After(now) {
					m.event(p.Name, "expired", "ttl "+p.TTL.String())
					if err := m.Destroy(ctx, p.Name); err != nil && tandem.ErrorCode(err) != tandem.ENOTFOUND {
						m.log.Error("expire", "preview", p.Name, "err", err)
					}
					continue
				}
				next = min(next, p.ExpiresAt.Sub(now))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(next):
		case <-m.ttlWake:
		}
	}
}

func (m *Manager) wakeTTL() {
	select {
	case m.ttlWake <- struct{}{}:
	default:
	}
}

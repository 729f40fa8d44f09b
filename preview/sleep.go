package preview

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/seed"
	"github.com/tandem-dev/tandem/supervisor"
)

// DefaultSleepAfter is how long a preview may go without a request before
// it sleeps, when neither tandem.yaml nor its repository says.
const DefaultSleepAfter = 30 * time.Minute

// An idle preview sleeps: its services stop, its work tree and database
// files stay, and the gateway keeps its host. The next request wakes it:
// the database starts from its files, the services as depends_on allows,
// from the same work tree and the same build outputs. The instance is the
// same before and after; only its supervisor is new.

type napState int

const (
	napAwake   napState = iota
	napFalling          // its services are stopping
	napAsleep
	napWaking
	napGone // stopped for good: destroyed, replaced, the server closing
)

// nap is an instance's sleep: whether its processes run, when it last saw
// a request, and the wakes under way.
type nap struct {
	awake   atomic.Bool   // state == napAwake, read on every request
	touched atomic.Bool   // a request came since the idle clock last looked
	inUse   atomic.Int32  // requests being served, WebSockets open among them
	after   time.Duration // how long it may idle; 0: it never sleeps

	mu      sync.Mutex
	state   napState
	changed chan struct{} // closed on every change of state
	wanted  bool          // a request came while it fell asleep
	tries   int           // wakes that ended, well or not
	err     error         // why the last wake failed
	seen    time.Time     // when the idle clock last saw a request
}

// set changes the state and wakes whoever waits on it. n.mu is held.
func (n *nap) set(s napState) {
	n.state = s
	n.awake.Store(s == napAwake)
	if n.changed != nil {
		close(n.changed)
	}
	n.changed = make(chan struct{})
}

// gone reports whether the instance stopped for good.
func (n *nap) gone() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.state == napGone
}

// Awake reports whether the instance's services run. It is cheap: the
// gateway asks on every request.
func (in *Instance) Awake() bool { return in.nap.awake.Load() }

// asleep reports whether the instance's services are stopped for a sleep:
// it sleeps, or wakes and does not run yet.
func (in *Instance) asleep() bool {
	in.nap.mu.Lock()
	defer in.nap.mu.Unlock()
	return in.nap.state == napAsleep || in.nap.state == napWaking
}

// Sleeps reports whether the instance sleeps when idle.
func (in *Instance) Sleeps() bool { return in.nap.after > 0 }

// Touch records a request for the idle clock: a load, and a store only on
// the first request since the clock last looked.
func (in *Instance) Touch() {
	if !in.nap.touched.Load() {
		in.nap.touched.Store(true)
	}
}

// InUse counts the requests the gateway is serving for the instance (the
// gateway's Site.InUse): it does not idle while one is open, a stream or a
// WebSocket however quiet, and idles from when the last one ended.
func (in *Instance) InUse(delta int) {
	if in.nap.inUse.Add(int32(delta)) == 0 {
		in.Touch()
	}
}

// DialContext connects to "service:port" inside the instance while it runs.
func (in *Instance) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if sup := in.sup.Load(); sup != nil {
		return sup.DialContext(ctx, network, addr)
	}
	return nil, tandem.Errorf(tandem.EUNAVAILABLE, "preview %s is asleep", in.Preview)
}

// Ready says whether service can take traffic, as supervisor.Ready does.
func (in *Instance) Ready(service string) error {
	if sup := in.sup.Load(); sup != nil {
		return sup.Ready(service)
	}
	return tandem.Errorf(tandem.EUNAVAILABLE, "the preview is asleep")
}

// StartWake wakes the instance if it sleeps, without waiting.
func (in *Instance) StartWake() {
	n := &in.nap
	n.mu.Lock()
	defer n.mu.Unlock()
	in.Touch()
	switch n.state {
	case napAsleep:
		n.set(napWaking)
		go in.m.wake(in)
	case napFalling:
		n.wanted = true
	}
}

// Wake wakes the instance if it sleeps and returns once it runs, with the
// error that kept it from waking, or with ctx's.
func (in *Instance) Wake(ctx context.Context) error {
	in.Touch()
	n := &in.nap
	n.mu.Lock()
	began := n.tries
	for {
		switch n.state {
		case napAwake:
			n.mu.Unlock()
			return nil
		case napGone:
			n.mu.Unlock()
			return tandem.Errorf(tandem.EUNAVAILABLE, "preview %s's instance has stopped", in.Preview)
		case napAsleep:
			if n.tries > began {
				err := n.err
				n.mu.Unlock()
				return err
			}
			n.set(napWaking)
			go in.m.wake(in)
		case napFalling:
			n.wanted = true
		}
		ch := n.changed
		n.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		n.mu.Lock()
	}
}

// idleFor returns how long an awake instance has gone without a request,
// as of now; 0 for one that is not awake.
func (in *Instance) idleFor(now time.Time) time.Duration {
	n := &in.nap
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.state != napAwake {
		return 0
	}
	if n.touched.Swap(false) || n.inUse.Load() > 0 {
		n.seen = now
	}
	return now.Sub(n.seen)
}

// sleepAfter is how long previews of repo may idle; 0: they never sleep.
func (m *Manager) sleepAfter(repo string) time.Duration {
	d := m.opts.SleepAfter
	if r, ok := m.opts.Repos[repo]; ok && r.SleepAfter != 0 {
		d = r.SleepAfter
	}
	return max(d, 0)
}

// idle puts to sleep the instances that have had no request for their
// repository's SleepAfter, looking several times in the shortest of them.
func (m *Manager) idle(ctx context.Context) {
	shortest := m.sleepAfter("")
	for name := range m.opts.Repos {
		if d := m.sleepAfter(name); d > 0 && (shortest == 0 || d < shortest) {
			shortest = d
		}
	}
	if shortest == 0 {
		return // nothing ever sleeps
	}
	tick := time.NewTicker(min(max(shortest/8, 50*time.Millisecond), time.Minute))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			m.mu.Lock()
			var tired []*Instance
			for _, in := range m.serving {
				if in.Sleeps() && in.idleFor(now) >= in.nap.after {
					tired = append(tired, in)
				}
			}
			m.mu.Unlock()
			for _, in := range tired {
				go m.sleep(in)
			}
		}
	}
}

// sleep stops an awake instance's services and keeps its files, unless a
// request came meanwhile. A request that comes while it falls asleep wakes
// it again once it is asleep.
func (m *Manager) sleep(in *Instance) {
	n := &in.nap
	n.mu.Lock()
	if n.state != napAwake || n.touched.Load() || n.inUse.Load() > 0 {
		n.mu.Unlock()
		return
	}
	n.set(napFalling)
	idle := time.Since(n.seen)
	sup := in.sup.Load()
	n.mu.Unlock()

	began := time.Now()
	if err := writeAsleep(in); err != nil {
		m.log.Warn("sleep: keep its state", "preview", in.Preview, "err", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	if err := sup.Down(ctx); err != nil {
		m.log.Warn("sleep", "preview", in.Preview, "err", err)
	}
	cancel()
	// Recorded before anyone can see it asleep, as a wake is; not for an
	// instance replaced or destroyed meanwhile.
	if !n.gone() {
		m.event(in.Preview, "asleep", fmt.Sprintf("no request for %s: its services stopped in %s", idle.Round(time.Second), time.Since(began).Round(time.Millisecond)))
	}
	n.mu.Lock()
	in.sup.CompareAndSwap(sup, nil)
	if n.state == napGone {
		n.mu.Unlock()
		return
	}
	n.set(napAsleep)
	wanted := n.wanted
	n.wanted = false
	if wanted {
		n.set(napWaking)
	}
	n.mu.Unlock()
	if wanted {
		go m.wake(in)
	}
}

// wake starts a sleeping instance's services again, from its files.
func (m *Manager) wake(in *Instance) {
	began := time.Now()
	sup, err := m.wakeUp(in)
	n := &in.nap
	if err == nil && !n.gone() {
		// Recorded before the requests held for the wake go through: whoever
		// has the preview's answer finds the wake among its events.
		m.event(in.Preview, "awake", fmt.Sprintf("woken in %s", time.Since(began).Round(time.Millisecond)))
	}
	n.mu.Lock()
	n.tries++
	if n.state == napGone { // destroyed, replaced or closing meanwhile
		n.mu.Unlock()
		if sup != nil {
			sup.Down(context.Background())
		}
		return
	}
	if err != nil {
		n.err = err
		n.set(napAsleep)
	} else {
		in.sup.Store(sup)
		n.touched.Store(false)
		n.seen = time.Now()
		n.set(napAwake)
	}
	n.mu.Unlock()
	if err != nil {
		m.log.Warn("wake", "preview", in.Preview, "err", err)
		m.event(in.Preview, "error", "could not wake: "+err.Error())
	}
}

func (m *Manager) wakeUp(in *Instance) (*supervisor.Supervisor, error) {
	ctx, cancel := context.WithTimeout(context.Background(), m.opts.Timeout)
	defer cancel()
	p, err := m.opts.Store.Preview(ctx, in.Preview)
	if err != nil {
		return nil, err
	}
	st, mask, err := m.instanceStack(ctx, p, filepath.Join(in.dir, "src"))
	if err != nil {
		return nil, err
	}
	sup := m.newSupervisor(in, st, nil, mask)
	if err := sup.Up(ctx); err != nil {
		sup.Down(context.Background())
		return nil, masked(err, mask)
	}
	if err := os.Remove(filepath.Join(in.dir, asleepFile)); err != nil && !os.IsNotExist(err) {
		return sup, err
	}
	return sup, nil
}

// instanceStack loads the stack an instance of p runs from its work tree
// src, as its create left it: its secrets, and TANDEM_SEEDED for the
// seeding service when its database came from a snapshot.
func (m *Manager) instanceStack(ctx context.Context, p *tandem.Preview, src string) (*tandem.Stack, []string, error) {
	st, secrets, err := m.loadStack(ctx, p, src)
	mask := secretValues(secrets)
	if err != nil {
		return nil, mask, masked(err, mask)
	}
	if err := tandem.UseImageHealthchecks(ctx, m.opts.Runtime, st.Services, io.Discard); err != nil {
		return nil, mask, masked(err, mask)
	}
	if p.Binding.SnapshotKey != "" {
		for _, svc := range st.Services {
			if len(svc.Seed) > 0 {
				svc.Environment[seed.Env] = "1"
			}
		}
	}
	return st, mask, nil
}

// asleepFile, in a generation's directory, says its instance sleeps, with
// what the gateway needs to serve its host until it wakes: a restarted
// server keeps it asleep without loading its stack.
const asleepFile = "asleep.json"

type asleep struct {
	Routes []tandem.Route       `json:"routes"`
	Access tandem.PreviewAccess `json:"access,omitempty"`
}

func writeAsleep(in *Instance) error {
	b, err := json.Marshal(asleep{Routes: in.Routes, Access: in.Access})
	if err != nil {
		return err
	}
	tmp := filepath.Join(in.dir, asleepFile+".new")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(in.dir, asleepFile))
}

// sleeping returns the instance of p's serving generation as it sleeps,
// if it does.
func (m *Manager) sleeping(p *tandem.Preview, dir string) (*Instance, bool) {
	b, err := os.ReadFile(filepath.Join(dir, asleepFile))
	if err != nil {
		return nil, false
	}
	var a asleep
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, false
	}
	in := &Instance{Preview: p.Name, Repo: p.Repo, Generation: p.Serving, Host: m.host(p.Name), Routes: a.Routes, Access: a.Access,
		dir: dir, source: m.opts.Repos[p.Repo].Source, m: m}
	in.nap.after = m.sleepAfter(p.Repo)
	in.nap.mu.Lock()
	in.nap.set(napAsleep)
	in.nap.mu.Unlock()
	return in, true
}

// halt stops an instance for good: its services, and any wake under way.
func (m *Manager) halt(ctx context.Context, in *Instance) error {
	in.nap.mu.Lock()
	in.nap.set(napGone)
	in.nap.mu.Unlock()
	if sup := in.sup.Swap(nil); sup != nil {
		return sup.Down(ctx)
	}
	return nil
}

// Package supervisor brings a stack instance up on a Runtime and keeps it in
// the state Compose describes: services start once their depends_on
// conditions hold, healthchecks run inside the instance, restart policies
// apply, and shutdown goes in reverse dependency order. It is the same on
// every runtime; runtimes only start processes.
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tandem-dev/tandem"
)

// Options configure a Supervisor.
type Options struct {
	Stack   *tandem.Stack
	Runtime tandem.Runtime
	Name    string // the instance's name: "local", "pr-7"
	DataDir string // the instance's own directory; logs go to DataDir/logs

	// Output receives every line of every service's output, and tandem's
	// own lines about a service (Service set, Text starting "tandem: ").
	Output func(Line)
	// Logger receives tandem's own events: exits, restarts, health changes.
	Logger *slog.Logger
	// TailLines is how many lines of output a failure report shows (10).
	TailLines int
	// Restore names, by database service, a snapshot to start from when its
	// data is not initialised yet (tandem.SandboxSpec.Restore).
	Restore map[string]string
	// Limits bound the instance as a whole (tandem.SandboxSpec.Limits).
	Limits tandem.Limits
	// WorkTree is the directory the services may see and write
	// (tandem.SandboxSpec.WorkTree): the stack's directory if empty.
	WorkTree string
	// Mask are values (a preview's generated secrets) that no line of
	// output may show: they are replaced by [secret] in what the log files,
	// Output and failure reports receive.
	Mask []string
	// Routed are the ports the gateway sends traffic to, by service. A
	// routed service without a healthcheck is Starting, not Running, until
	// they accept connections: it is up when its routes work.
	Routed map[string][]int
}

// Supervisor runs one stack instance.
type Supervisor struct {
	opts  Options
	log   *slog.Logger
	units map[string]*unit
	order []*unit // as in the stack: sorted by name

	mu      sync.Mutex
	sb      tandem.Sandbox
	closing bool
	subs    map[chan Line]string // followers, by the service they follow ("" = all)
}

// New returns a supervisor for opts.Stack. Nothing runs until Up.
func New(opts Options) *Supervisor {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.TailLines == 0 {
		opts.TailLines = 10
	}
	s := &Supervisor{opts: opts, log: opts.Logger.With("instance", opts.Name), units: map[string]*unit{}, subs: map[chan Line]string{}}
	for _, svc := range opts.Stack.Services {
		u := newUnit(s, svc)
		s.units[svc.Name] = u
		s.order = append(s.order, u)
	}
	return s
}

// Up creates the instance's sandbox and starts every service as soon as its
// dependencies allow. It returns once each service has settled: running
// (healthy, if it has a healthcheck), exited, or failed. The error names the
// services that could not start and why; the rest keep running.
func (s *Supervisor) Up(ctx context.Context) error {
	names := make([]string, 0, len(s.order))
	for _, u := range s.order {
		names = append(names, u.svc.Name)
	}
	// The services' output may hold anything they print: their owner's only.
	if err := os.MkdirAll(filepath.Join(s.opts.DataDir, "logs"), 0o700); err != nil {
		return err
	}
	tree := s.opts.WorkTree
	if tree == "" {
		tree = s.opts.Stack.Dir
	}
	sb, err := s.opts.Runtime.NewSandbox(ctx, tandem.SandboxSpec{Name: s.opts.Name, Services: names, DataDir: s.opts.DataDir,
		WorkTree: tree, Restore: s.opts.Restore, Limits: s.opts.Limits})
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.sb = sb
	s.mu.Unlock()

	errs := make([]error, len(s.order))
	var wg sync.WaitGroup
	for i, u := range s.order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.bringUp(ctx, u)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (s *Supervisor) bringUp(ctx context.Context, u *unit) error {
	if err := s.awaitDependencies(ctx, u); err != nil {
		u.fail(err)
		return fmt.Errorf("service %s: %w", u.svc.Name, err)
	}
	if err := u.start(ctx); err != nil {
		return fmt.Errorf("service %s: %w", u.svc.Name, err)
	}
	st, err := u.wait(ctx, func(st Status) bool { return st.State != Starting && st.State != Created })
	if err != nil {
		return err
	}
	if st.State == Failed {
		return fmt.Errorf("service %s: %s", u.svc.Name, st.Error)
	}
	return nil
}

// Down stops every service, dependents before what they depend on, each with
// its stop signal and grace period, then removes the sandbox.
func (s *Supervisor) Down(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	sb := s.sb
	s.mu.Unlock()

	done := map[string]chan struct{}{}
	for _, u := range s.order {
		done[u.svc.Name] = make(chan struct{})
	}
	var wg sync.WaitGroup
	for _, u := range s.order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done[u.svc.Name])
			for _, d := range s.order {
				if d.dependsOn(u.svc.Name) {
					<-done[d.svc.Name]
				}
			}
			u.stop(ctx)
		}()
	}
	wg.Wait()
	var err error
	if sb != nil {
		err = sb.Close()
	}
	for _, u := range s.order {
		u.closeLog()
	}
	s.mu.Lock()
	for ch := range s.subs {
		close(ch)
		delete(s.subs, ch)
	}
	s.mu.Unlock()
	return err
}

// DialContext connects to "service:port" inside the instance.
func (s *Supervisor) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	s.mu.Lock()
	sb := s.sb
	s.mu.Unlock()
	if sb == nil {
		return nil, tandem.Errorf(tandem.EUNAVAILABLE, "instance %s is not up", s.opts.Name)
	}
	return sb.DialContext(ctx, network, addr)
}

// Ready returns nil when service can take traffic, or an EUNAVAILABLE error
// that says why not in words fit for an error page.
func (s *Supervisor) Ready(service string) error {
	u := s.units[service]
	if u == nil {
		return tandem.Errorf(tandem.ENOTFOUND, "no service %q", service)
	}
	st := u.status()
	if st.State == Running || st.State == Healthy {
		return nil
	}
	return &tandem.Error{Code: tandem.EUNAVAILABLE, Message: st.Reason()}
}

// Status reports every service, in the stack's order.
func (s *Supervisor) Status() []Status {
	out := make([]Status, 0, len(s.order))
	for _, u := range s.order {
		out = append(out, u.status())
	}
	return out
}

func (s *Supervisor) unit(name string) (*unit, error) {
	u := s.units[name]
	if u == nil {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "no service %q in %s", name, s.opts.Stack.Name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sb == nil || s.closing {
		return nil, tandem.Errorf(tandem.ECONFLICT, "instance %s is not up", s.opts.Name)
	}
	return u, nil
}

// Start starts a stopped or exited service, without waiting for its
// dependencies (as docker compose start does), and returns once it runs.
func (s *Supervisor) Start(ctx context.Context, name string) error {
	u, err := s.unit(name)
	if err != nil {
		return err
	}
	return u.start(ctx)
}

// Stop stops a service with its stop signal, killing it after its grace
// period, and returns once it has ended. Its restart policy does not apply.
func (s *Supervisor) Stop(ctx context.Context, name string) error {
	u, err := s.unit(name)
	if err != nil {
		return err
	}
	u.stop(ctx)
	return nil
}

// Restart stops and starts a service, then the services that depend on it
// with restart: true, as docker compose restart does.
func (s *Supervisor) Restart(ctx context.Context, name string) error {
	u, err := s.unit(name)
	if err != nil {
		return err
	}
	u.stop(ctx)
	if err := u.start(ctx); err != nil {
		return err
	}
	for _, d := range s.order {
		for _, dep := range d.svc.DependsOn {
			if dep.Service == name && dep.Restart && d.status().State.up() {
				if err := s.Restart(ctx, d.svc.Name); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Exec runs argv to completion inside the instance, in a service's
// directory and environment, as docker compose exec does.
func (s *Supervisor) Exec(ctx context.Context, service string, argv []string, stdout, stderr io.Writer) error {
	u, err := s.unit(service)
	if err != nil {
		return err
	}
	return s.sandbox().Exec(ctx, u.svc, argv, stdout, stderr)
}

// Logs returns up to n of the newest lines of a service's output.
func (s *Supervisor) Logs(name string, n int) ([]string, error) {
	u := s.units[name]
	if u == nil {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "no service %q in %s", name, s.opts.Stack.Name)
	}
	return u.logs.tail(n), nil
}

// Follow returns a channel of new output lines of service ("" for all) until
// cancel is called or the instance goes down. A follower that does not keep
// up loses lines rather than slowing the services.
func (s *Supervisor) Follow(service string) (lines <-chan Line, cancel func()) {
	ch := make(chan Line, 256)
	s.mu.Lock()
	if s.closing {
		close(ch)
	} else {
		s.subs[ch] = service
	}
	s.mu.Unlock()
	return ch, func() {
		s.mu.Lock()
		if _, ok := s.subs[ch]; ok {
			delete(s.subs, ch)
			close(ch)
		}
		s.mu.Unlock()
	}
}

func (s *Supervisor) emit(l Line) {
	if s.opts.Output != nil {
		s.opts.Output(l)
	}
	s.mu.Lock()
	for ch, svc := range s.subs {
		if svc == "" || svc == l.Service {
			select {
			case ch <- l:
			default:
			}
		}
	}
	s.mu.Unlock()
}

func (s *Supervisor) sandbox() tandem.Sandbox {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sb
}

func (s *Supervisor) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// restartDelay is Docker's restart backoff: 100ms doubling, here capped at
// 10s, back to the start after the service ran for 10s.
func restartDelay(attempt int) time.Duration {
	d := 100 * time.Millisecond
	for i := 0; i < attempt && d < 10*time.Second; i++ {
		d *= 2
	}
	return min(d, 10*time.Second)
}

package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/internal/logwriter"
)

// unit is one service and the process currently running it.
type unit struct {
	sup  *Supervisor
	svc  *tandem.Service
	logs *ring
	out  *lineWriter

	mu       sync.Mutex
	st       Status
	proc     tandem.Process
	gen      int           // bumped on every start, so stale watchers stand down
	started  bool          // started at least once: service_started holds
	stopping bool          // a stop was asked for: no restart
	attempt  int           // restarts in a row, for the backoff
	changed  chan struct{} // closed on every change of st
	file     *logwriter.Writer
}

func newUnit(s *Supervisor, svc *tandem.Service) *unit {
	u := &unit{sup: s, svc: svc, logs: newRing(200), changed: make(chan struct{})}
	u.st = Status{Service: svc.Name, State: Created, Since: time.Now()}
	u.out = &lineWriter{emit: u.line}
	return u
}

// line records one line of the service's output.
func (u *unit) line(text string) {
	now := time.Now()
	for _, v := range u.sup.opts.Mask {
		if v != "" {
			text = strings.ReplaceAll(text, v, "[secret]")
		}
	}
	u.logs.add(text)
	u.mu.Lock()
	if u.file == nil {
		if f, err := os.OpenFile(filepath.Join(u.sup.opts.DataDir, "logs", u.svc.Name+".log"),
			os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err == nil {
			u.file = logwriter.New(f) // a line per request must not cost a write each
		}
	}
	if u.file != nil {
		fmt.Fprintf(u.file, "%s %s\n", now.UTC().Format(time.RFC3339Nano), text)
	}
	u.mu.Unlock()
	u.sup.emit(Line{Service: u.svc.Name, Time: now, Text: text})
}

// note is tandem speaking about the service, in its output.
func (u *unit) note(format string, args ...any) {
	u.line("tandem: " + fmt.Sprintf(format, args...))
}

func (u *unit) closeLog() {
	u.out.Flush()
	u.mu.Lock()
	if u.file != nil {
		u.file.Close()
		u.file = nil
	}
	u.mu.Unlock()
}

func (u *unit) status() Status {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.st
}

// setLocked changes the status and wakes every waiter. u.mu is held.
func (u *unit) setLocked(f func(*Status)) {
	prev := u.st.State
	f(&u.st)
	if u.st.State != prev {
		u.st.Since = time.Now()
	}
	close(u.changed)
	u.changed = make(chan struct{})
}

// wait blocks until cond holds for the status, and returns that status.
func (u *unit) wait(ctx context.Context, cond func(Status) bool) (Status, error) {
	for {
		u.mu.Lock()
		st, ch := u.st, u.changed
		u.mu.Unlock()
		if cond(st) {
			return st, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return st, ctx.Err()
		}
	}
}

func (u *unit) fail(err error) {
	u.mu.Lock()
	u.setLocked(func(st *Status) { st.State, st.Error = Failed, err.Error() })
	u.mu.Unlock()
	u.note("%v", err)
	u.sup.log.Error("service failed to start", "service", u.svc.Name, "err", err)
}

func (u *unit) dependsOn(name string) bool {
	for _, d := range u.svc.DependsOn {
		if d.Service == name {
			return true
		}
	}
	return false
}

// start runs the service's command unless it already runs.
func (u *unit) start(ctx context.Context) error {
	sb := u.sup.sandbox()
	u.mu.Lock()
	if u.st.State.up() {
		u.mu.Unlock()
		return nil
	}
	u.stopping = false
	u.gen++
	gen := u.gen
	u.mu.Unlock()

	p, err := sb.Start(ctx, u.svc, u.out, u.out)
	if err != nil {
		u.fail(err)
		return err
	}
	u.mu.Lock()
	u.proc = p
	u.started = true
	ports := u.sup.opts.Routed[u.svc.Name]
	u.setLocked(func(st *Status) {
		st.State, st.ID, st.ExitCode, st.Error, st.Health = Running, p.ID(), 0, "", ""
		if u.svc.Healthcheck != nil || len(ports) > 0 {
			st.State = Starting
		}
	})
	u.mu.Unlock()
	go u.watch(p, gen)
	switch {
	case u.svc.Healthcheck != nil:
		go u.checkHealth(p, gen)
	case len(ports) > 0:
		go u.awaitPorts(gen, ports)
	}
	return nil
}

// watch waits for the process to end, records how, and applies the
// restart policy.
func (u *unit) watch(p tandem.Process, gen int) {
	began := time.Now()
	err := p.Wait()
	u.out.Flush()
	code := 0
	var ee *tandem.ExitError
	if errors.As(err, &ee) {
		code = ee.Code
	} else if err != nil {
		code = -1
	}
	u.mu.Lock()
	if gen != u.gen {
		u.mu.Unlock()
		return
	}
	stopping := u.stopping
	u.mu.Unlock()
	// Report the exit before publishing it: the new state wakes whoever
	// waits on this service (a dependent that then fails the whole start,
	// which closes the supervisor), and a report made after that would be
	// dropped as noise of the shutdown.
	report := !stopping && !u.sup.isClosing()
	if report {
		u.reportExit(code)
	}

	u.mu.Lock()
	if gen != u.gen {
		u.mu.Unlock()
		return
	}
	u.proc = nil
	u.setLocked(func(st *Status) {
		st.ID, st.ExitCode, st.State = "", code, Exited
		if u.stopping {
			st.State = Stopped
		} else if err != nil {
			st.Error = err.Error()
		}
	})
	if time.Since(began) > 10*time.Second {
		u.attempt = 0
	}
	attempt := u.attempt
	stopping = u.stopping
	u.mu.Unlock()

	if !report || stopping || u.sup.isClosing() {
		return
	}
	if !restarts(u.svc.Restart, code, attempt) {
		return
	}
	delay := restartDelay(attempt)
	u.mu.Lock()
	u.attempt++
	u.mu.Unlock()
	time.AfterFunc(delay, func() {
		u.mu.Lock()
		again := !u.stopping && gen == u.gen && !u.st.State.up()
		if again {
			u.st.Restarts++
		}
		u.mu.Unlock()
		if again && !u.sup.isClosing() {
			u.note("restarting %s (restart: %s)", u.svc.Name, u.svc.Restart)
			u.start(context.Background())
		}
	})
}

// reportExit tells of an exit nobody asked for: with the tail of the
// output when it failed.
func (u *unit) reportExit(code int) {
	if code != 0 {
		tail := u.logs.tail(u.sup.opts.TailLines)
		u.note("%s exited with code %d", u.svc.Name, code)
		u.sup.log.Error("service exited", "service", u.svc.Name, "code", code, "tail", strings.Join(tail, "\n"))
		return
	}
	u.note("%s exited with code 0", u.svc.Name)
	u.sup.log.Info("service exited", "service", u.svc.Name, "code", 0)
}

// restarts applies a Compose restart policy to an exit.
func restarts(policy tandem.Restart, code, attempt int) bool {
	p := string(policy)
	switch {
	case p == string(tandem.RestartAlways), p == string(tandem.RestartUnlessStopped):
		return true
	case p == string(tandem.RestartOnFailure):
		return code != 0
	case strings.HasPrefix(p, string(tandem.RestartOnFailure)+":"):
		max, err := strconv.Atoi(strings.TrimPrefix(p, string(tandem.RestartOnFailure)+":"))
		return code != 0 && (err != nil || attempt < max)
	}
	return false
}

// stop ends the running process with the service's stop signal, then SIGKILL
// after its grace period, and returns once it has ended.
func (u *unit) stop(ctx context.Context) {
	u.mu.Lock()
	u.stopping = true
	p, gen := u.proc, u.gen
	if p == nil || !u.st.State.up() {
		if u.st.State == Created {
			u.setLocked(func(st *Status) { st.State = Stopped })
		}
		u.mu.Unlock()
		return
	}
	u.mu.Unlock()

	grace := u.svc.StopGrace
	if grace <= 0 {
		grace = tandem.DefaultStopGrace
	}
	// The runtime kills it once grace has passed: say so as it happens.
	late := time.AfterFunc(grace, func() { u.note("%s did not stop within %s: killing it", u.svc.Name, grace) })
	p.Stop(ctx, grace)
	late.Stop()
	// watch records the end; wait for it so callers see the new state.
	u.wait(context.Background(), func(st Status) bool {
		u.mu.Lock()
		defer u.mu.Unlock()
		return u.gen != gen || !st.State.up()
	})
}

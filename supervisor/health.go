package supervisor

import (
	"bytes"
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tandem-dev/tandem"
)

// eagerProbe is how often a starting service is probed until it is first
// healthy: a preview is ready the moment it is, not up to an interval later.
const eagerProbe = 250 * time.Millisecond

// portPoll is how often a starting service's ports are tried, and
// gateLimit the longest it goes unprobed while they stay closed.
const (
	portPoll  = 50 * time.Millisecond
	gateLimit = time.Second
)

// checkHealth runs the service's healthcheck inside the instance for as long
// as process gen runs. Before the first success, failures count only once
// the time Docker would allow has passed (start_period + retries × interval);
// after it, retries consecutive failures make the service unhealthy, and a
// success makes it healthy again.
//
// While a service with known ports has not opened them, it is still starting
// and its healthcheck would fail: it is probed the moment they open, and
// before that once a second at most (or its interval, if shorter).
//
// A process whose runtime probes it (tandem.ProbedProcess) is not probed
// again here: its verdicts are followed instead (followProbe).
func (u *unit) checkHealth(p tandem.Process, gen int) {
	hc := u.svc.Healthcheck
	argv := hc.Argv()
	if argv == nil {
		return
	}
	interval, timeout := hc.Timing()
	retries := max(hc.Retries, 1)
	h := &healthRun{began: time.Now(), budget: hc.StartPeriod + time.Duration(retries)*interval, retries: retries}
	if pp, ok := p.(tandem.ProbedProcess); ok {
		u.followProbe(pp, gen, h)
		return
	}
	closed := u.gatePorts()

	wait := min(eagerProbe, interval)
	for {
		if len(closed) > 0 {
			if !u.untilPortsOpen(gen, closed, min(interval, gateLimit)) {
				closed = nil
			}
		} else {
			time.Sleep(wait)
		}
		if !u.current(gen) {
			return
		}
		var out bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		err := u.sup.sandbox().Exec(ctx, u.svc, argv, &out, &out)
		cancel()
		msg := strings.TrimSpace(out.String())
		if err != nil && msg == "" {
			msg = err.Error()
		}
		if !u.record(gen, h, err == nil, msg, 1) {
			return
		}
		if h.healthy {
			wait, closed = interval, nil
		}
	}
}

// healthRun is what a service's healthcheck has said since its process
// started.
type healthRun struct {
	began    time.Time
	budget   time.Duration // start_period + retries × interval: failures before it do not count
	retries  int
	healthy  bool // passed at least once
	failures int  // in a row
}

// record applies one verdict of process gen's healthcheck: a pass makes the
// service healthy; a failure, which counts as weight failures in a row,
// makes it unhealthy once retries have failed in a row since it passed, or
// once the budget has passed without a pass. msg is what the check said. It
// returns false once process gen no longer runs.
func (u *unit) record(gen int, h *healthRun, ok bool, msg string, weight int) bool {
	u.mu.Lock()
	if gen != u.gen || !u.st.State.up() {
		u.mu.Unlock()
		return false
	}
	prev := u.st.State
	if ok {
		h.healthy, h.failures = true, 0
		u.setLocked(func(st *Status) { st.State, st.Health = Healthy, "" })
	} else {
		h.failures += weight
		unhealthy := h.healthy && h.failures >= h.retries || !h.healthy && time.Since(h.began) > h.budget
		u.setLocked(func(st *Status) {
			st.Health = msg
			if unhealthy {
				st.State = Unhealthy
			}
		})
	}
	state := u.st.State
	u.mu.Unlock()
	if state != prev {
		u.note("%s is %s", u.svc.Name, state)
		u.sup.log.Info("health", "service", u.svc.Name, "state", string(state))
	}
	return true
}

// current says whether process gen still runs.
func (u *unit) current(gen int) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return gen == u.gen && u.st.State.up()
}

// followProbe follows the verdicts of the runtime's own probe of process
// gen. The runtime has counted the retries of a service that passed before
// it reports a failure, so one failure then is enough; before the first
// pass the budget applies as to tandem's own probes. What a failure said
// is asked for only when it makes the service unhealthy.
func (u *unit) followProbe(p tandem.ProbedProcess, gen int, h *healthRun) {
	const recheck = time.Second // how often, at most, gen and the budget are looked at without a change
	was, said := false, false
	for u.current(gen) {
		ok, changed := p.Probed()
		switch {
		case ok && !was:
			said = false
			if !u.record(gen, h, true, "", 1) {
				return
			}
		case !ok && !said && (h.healthy || time.Since(h.began) > h.budget):
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			msg := p.ProbeFailure(ctx)
			cancel()
			said = true
			if !u.record(gen, h, false, msg, h.retries) {
				return
			}
		}
		was = ok
		select {
		case <-changed:
		case <-time.After(recheck):
		}
	}
}

// gatePorts are the ports a starting service is known to open: those the
// file declares and those the gateway routes to it.
func (u *unit) gatePorts() []int {
	ports := slices.Clone(u.svc.Ports)
	for _, p := range u.sup.opts.Routed[u.svc.Name] {
		if !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	return ports
}

// untilPortsOpen tries ports inside the instance until every one accepts a
// connection, process gen stops, or d passes. It says whether to keep
// waiting for them next time: not once they opened, nor when a port cannot
// be tried at all (a runtime the supervisor cannot dial into), only refused.
func (u *unit) untilPortsOpen(gen int, ports []int, d time.Duration) (again bool) {
	deadline := time.Now().Add(d)
	for {
		err := u.portsOpen(ports)
		if err == nil || !errors.Is(err, syscall.ECONNREFUSED) {
			return false
		}
		u.mu.Lock()
		current := gen == u.gen && u.st.State.up()
		u.mu.Unlock()
		if !current || time.Now().After(deadline) {
			return true
		}
		time.Sleep(portPoll)
	}
}

// portsOpen returns nil once every port accepts a connection inside the
// instance, else the first dial's error.
func (u *unit) portsOpen(ports []int) error {
	for _, port := range ports {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := u.sup.sandbox().DialContext(ctx, "tcp", net.JoinHostPort(u.svc.Name, strconv.Itoa(port)))
		cancel()
		if err != nil {
			return err
		}
		c.Close()
	}
	return nil
}

// awaitPorts marks process gen Running once every port accepts a connection
// inside the instance. It never fails the service: one that never listens
// stays Starting, and the gateway says so.
func (u *unit) awaitPorts(gen int, ports []int) {
	for {
		u.mu.Lock()
		current := gen == u.gen && u.st.State == Starting
		u.mu.Unlock()
		if !current {
			return
		}
		if u.portsOpen(ports) == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	u.mu.Lock()
	if gen == u.gen && u.st.State == Starting {
		u.setLocked(func(st *Status) { st.State = Running })
	}
	u.mu.Unlock()
}

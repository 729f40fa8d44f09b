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
func (u *unit) checkHealth(p tandem.Process, gen int) {
	hc := u.svc.Healthcheck
	argv := healthArgv(hc.Test)
	if argv == nil {
		return
	}
	interval := hc.Interval
	if interval <= 0 {
		interval = tandem.DefaultHealthInterval
	}
	timeout := hc.Timeout
	if timeout <= 0 {
		timeout = tandem.DefaultHealthTimeout
	}
	retries := max(hc.Retries, 1)
	began := time.Now()
	budget := hc.StartPeriod + time.Duration(retries)*interval
	healthy, failures := false, 0
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
		u.mu.Lock()
		current := gen == u.gen && u.st.State.up()
		u.mu.Unlock()
		if !current {
			return
		}
		var out bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		err := u.sup.sandbox().Exec(ctx, u.svc, argv, &out, &out)
		cancel()

		u.mu.Lock()
		if gen != u.gen || !u.st.State.up() {
			u.mu.Unlock()
			return
		}
		prev := u.st.State
		if err == nil {
			healthy, failures = true, 0
			u.setLocked(func(st *Status) { st.State, st.Health = Healthy, "" })
		} else {
			failures++
			msg := strings.TrimSpace(out.String())
			if msg == "" {
				msg = err.Error()
			}
			unhealthy := healthy && failures >= retries || !healthy && time.Since(began) > budget
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
		if healthy {
			wait, closed = interval, nil
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

// healthArgv turns a Compose healthcheck test into a command line.
func healthArgv(test []string) []string {
	if len(test) == 0 {
		return nil
	}
	switch test[0] {
	case "CMD":
		return test[1:]
	case "CMD-SHELL":
		return []string{"/bin/sh", "-c", strings.Join(test[1:], " ")}
	case "NONE":
		return nil
	}
	// A bare list, as some files write it, is a command.
	return test
}

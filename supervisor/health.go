package supervisor

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/tandem-dev/tandem"
)

// eagerProbe is how often a starting service is probed until it is first
// healthy: a preview is ready the moment it is, not up to an interval later.
const eagerProbe = 250 * time.Millisecond

// checkHealth runs the service's healthcheck inside the instance for as long
// as process gen runs. Before the first success, failures count only once
// the time Docker would allow has passed (start_period + retries × interval);
// after it, retries consecutive failures make the service unhealthy, and a
// success makes it healthy again.
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

	wait := min(eagerProbe, interval)
	for {
		time.Sleep(wait)
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
			wait = interval
		}
	}
}

// awaitPorts marks process gen Running once every port accepts a connection
// inside the instance. It never fails the service: one that never listens
// stays Starting, and the gateway says so.
func (u *unit) awaitPorts(gen int, ports []int) {
	for _, port := range ports {
		addr := net.JoinHostPort(u.svc.Name, strconv.Itoa(port))
		for {
			u.mu.Lock()
			current := gen == u.gen && u.st.State == Starting
			u.mu.Unlock()
			if !current {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			c, err := u.sup.sandbox().DialContext(ctx, "tcp", addr)
			cancel()
			if err == nil {
				c.Close()
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
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

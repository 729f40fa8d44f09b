package gateway

import (
	"sync/atomic"
	"time"
)

// health is an upstream's passive health: connection failures in a row
// mark it down for a while, during which requests are answered at once
// instead of each waiting for its own failure; then one trial request may
// bring it back. The hot path (a healthy upstream) reads one atomic.
type health struct {
	fails     atomic.Int32
	downUntil atomic.Int64 // unix nanoseconds; 0: up
	trial     atomic.Bool  // a trial request is in flight
}

// admit reports whether a request may go to the upstream, and whether it
// is the trial that decides whether a down upstream is back.
func (h *health) admit(now time.Time) (ok, trial bool) {
	d := h.downUntil.Load()
	if d == 0 {
		return true, false
	}
	if now.UnixNano() < d {
		return false, false
	}
	if h.trial.CompareAndSwap(false, true) {
		return true, true
	}
	return false, false // another request is trying it
}

// success records a response from the upstream.
func (h *health) success(trial bool) {
	if h.fails.Load() != 0 {
		h.fails.Store(0)
	}
	if h.downUntil.Load() != 0 {
		h.downUntil.Store(0)
	}
	if trial {
		h.trial.Store(false)
	}
}

// failure records a connection failure; it reports whether the upstream is
// now down.
func (h *health) failure(trial bool, max int, cooldown time.Duration) bool {
	n := h.fails.Add(1)
	down := trial || max > 0 && int(n) >= max
	if down {
		h.downUntil.Store(time.Now().Add(cooldown).UnixNano())
	}
	if trial {
		h.trial.Store(false)
	}
	return down
}

// abandon releases a trial that ended without a verdict (the client left).
func (h *health) abandon(trial bool) {
	if trial {
		h.trial.Store(false)
	}
}

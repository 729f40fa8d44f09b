package forge

import (
	"context"
	"encoding/json"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/tandem-dev/tandem"
)

// processLoop handles due deliveries one at a time, in the order they
// came: events of one pull request must not overtake each other. It wakes
// for a new delivery, and at least every second for retries that fall due.
func (s *Service) processLoop(ctx context.Context) {
	for {
		due, err := s.opts.Store.DueDeliveries(ctx, time.Now().UTC(), 32)
		if err != nil && ctx.Err() == nil {
			s.log.Error("forge: read the queue", "err", err)
		}
		for _, d := range due {
			if ctx.Err() != nil {
				return
			}
			s.attempt(ctx, d)
		}
		if len(due) == 32 {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-time.After(time.Second):
		}
	}
}

// attempt handles one delivery and records the outcome: done, failed for
// good (an error that another try would repeat, or too many tries), or
// due again after a backoff that doubles with each try.
func (s *Service) attempt(ctx context.Context, d tandem.ForgeDelivery) {
	var ev Event
	err := json.Unmarshal(d.Event, &ev)
	if err != nil {
		err = tandem.Errorf(tandem.EINVALID, "event: %v", err) // it will not read better next time
	} else {
		s.records.Lock()
		err = s.handle(ctx, d.Forge, &ev)
		s.records.Unlock()
	}
	if ctx.Err() != nil {
		return // stopping: the delivery stays pending for the next start
	}
	d.Attempts++
	switch {
	case err == nil:
		d.State, d.Error = tandem.DeliveryDone, ""
		s.metrics.deliveries.WithLabelValues(d.Forge, "done").Inc()
	case permanent(err) || d.Attempts >= s.opts.MaxAttempts:
		d.State, d.Error = tandem.DeliveryFailed, err.Error()
		s.metrics.deliveries.WithLabelValues(d.Forge, "failed").Inc()
		s.log.Error("forge: delivery failed", "forge", d.Forge, "delivery", d.ID, "attempts", d.Attempts, "err", err)
	default:
		d.Error = err.Error()
		d.NextAt = time.Now().UTC().Add(s.backoff(d.Attempts))
		s.metrics.deliveries.WithLabelValues(d.Forge, "retry").Inc()
		s.log.Warn("forge: delivery will be tried again", "forge", d.Forge, "delivery", d.ID, "attempts", d.Attempts, "at", d.NextAt, "err", err)
	}
	if err := s.opts.Store.UpdateDelivery(context.Background(), d); err != nil {
		s.log.Error("forge: record delivery", "forge", d.Forge, "delivery", d.ID, "err", err)
	}
}

// backoff is how long to wait after the n-th failed try: 1s, 2s, 4s...
func (s *Service) backoff(n int) time.Duration {
	b := time.Second << min(n-1, 20)
	return min(b, s.opts.MaxBackoff)
}

// permanent reports whether err would come back on every try.
func permanent(err error) bool {
	switch tandem.ErrorCode(err) {
	case tandem.EINVALID, tandem.EFORBIDDEN:
		return true
	}
	return false
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	c.Write(&m)
	return m.GetCounter().GetValue()
}

package forge

import (
	"context"
	"time"

	"github.com/tandem-dev/tandem"
)

// Attempt and Backoff let the external tests drive the queue one attempt
// at a time.
func (s *Service) Attempt(ctx context.Context, d tandem.ForgeDelivery) { s.attempt(ctx, d) }
func (s *Service) Backoff(n int) time.Duration                         { return s.backoff(n) }
func (s *Service) Retries(forge string) float64 {
	return counterValue(s.metrics.deliveries.WithLabelValues(forge, "retry"))
}

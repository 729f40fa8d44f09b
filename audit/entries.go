package audit

import (
	"context"

	"github.com/tandem-dev/tandem"
)

// Entries returns the last n (0: all) of the entries f selects, oldest
// first, each checked against the log's key: the log as people read it
// (the dashboard). An entry that does not verify is an error naming it.
func (l *Log) Entries(ctx context.Context, f tandem.AuditFilter, n int) ([]*Entry, error) {
	recs, err := l.store.AuditRecords(ctx, f)
	if err != nil {
		return nil, err
	}
	if n > 0 && len(recs) > n {
		recs = recs[len(recs)-n:]
	}
	out := make([]*Entry, 0, len(recs))
	for _, r := range recs {
		e, err := openEntry(l.PublicKey(), l.Origin(), r.Index, r.Envelope)
		if err != nil {
			return nil, tandem.Errorf(tandem.EINTERNAL, "audit: entry %d does not verify: %v", r.Index, err)
		}
		out = append(out, e)
	}
	return out, nil
}

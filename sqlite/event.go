package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/tandem-dev/tandem"
)

const (
	insertEvent  = "INSERT INTO events (preview, time, kind, detail) VALUES (?, ?, ?, ?)"
	selectEvents = "SELECT id, preview, time, kind, detail FROM events WHERE preview = ? AND id > ? ORDER BY id LIMIT ?"
)

// AddEvent appends e and returns it with its ID set, and its time set to
// now if it had none; times come back in UTC. The preview need not exist:
// an event such as "destroyed" may come after its record is gone.
func (db *DB) AddEvent(ctx context.Context, e tandem.Event) (tandem.Event, error) {
	if e.Preview == "" || e.Kind == "" {
		return tandem.Event{}, tandem.Errorf(tandem.EINVALID, "sqlite: add event: an event needs a preview and a kind")
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC() // also drops the monotonic reading, so e equals what Events returns
	res, err := db.addEvent.ExecContext(ctx, e.Preview, formatTime(e.Time), e.Kind, e.Detail)
	if err != nil {
		return tandem.Event{}, fmt.Errorf("sqlite: add event to %q: %w", e.Preview, err)
	}
	if e.ID, err = res.LastInsertId(); err != nil {
		return tandem.Event{}, fmt.Errorf("sqlite: add event to %q: %w", e.Preview, err)
	}
	return e, nil
}

// Events returns the events of the preview called name with an ID above
// after, oldest first, at most limit of them (0 or less: all). Events of a
// deleted preview are still there; a name never used has none.
func (db *DB) Events(ctx context.Context, name string, after int64, limit int) ([]tandem.Event, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := db.getEvents.QueryContext(ctx, name, after, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: events of %q: %w", name, err)
	}
	defer rows.Close()
	events := []tandem.Event{} // an empty list, not null, in JSON
	for rows.Next() {
		var (
			e tandem.Event
			t sql.NullString
		)
		if err := rows.Scan(&e.ID, &e.Preview, &t, &e.Kind, &e.Detail); err != nil {
			return nil, fmt.Errorf("sqlite: events of %q: %w", name, err)
		}
		if e.Time, err = parseTime(t); err != nil {
			return nil, fmt.Errorf("sqlite: events of %q: event %d: %w", name, e.ID, err)
		}
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: events of %q: %w", name, err)
	}
	return events, nil
}

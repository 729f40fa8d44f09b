package sqlite

import (
	"database/sql"
	"fmt"
	"time"
)

// Times are stored as text in UTC with nine fractional digits: unambiguous,
// readable in the sqlite3 shell, understood by SQLite's date functions, and
// ordered the same as text and as instants. The zero time is NULL.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

func formatTime(t time.Time) sql.NullString {
	if t.IsZero() {
		return sql.NullString{}
	}
	return sql.NullString{String: t.UTC().Format(timeLayout), Valid: true}
}

func parseTime(s sql.NullString) (time.Time, error) {
	if !s.Valid {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s.String)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad time %q: %w", s.String, err)
	}
	return t.UTC(), nil
}

package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/tandem-dev/tandem"
)

// migrations are the schema's history: migrations[i] takes the database
// from version i to i+1, and the version is kept in PRAGMA user_version.
// Append, never edit: a released file has run the old text. Tables are
// STRICT so a value of the wrong type is an error, not a silent conversion.
var migrations = []string{
	// 1: previews, their secrets and their events.
	`
CREATE TABLE previews (
	name        TEXT PRIMARY KEY,
	repo        TEXT NOT NULL,
	ref         TEXT NOT NULL,
	pr          INTEGER NOT NULL,
	git_commit  TEXT NOT NULL,
	branch      TEXT NOT NULL,
	state       TEXT NOT NULL,
	step        TEXT NOT NULL,
	error       TEXT NOT NULL,
	log_tail    TEXT,              -- JSON array of lines; NULL: none
	url         TEXT NOT NULL,
	ttl_ns      INTEGER NOT NULL,  -- nanoseconds; 0: no expiry
	expires_at  TEXT,              -- times: UTC, RFC 3339, nine fractional digits; NULL: zero
	created_at  TEXT,
	updated_at  TEXT,
	ready_at    TEXT,
	generation  INTEGER NOT NULL,
	serving     INTEGER NOT NULL,
	binding_repo         TEXT NOT NULL,
	binding_commit       TEXT NOT NULL,
	binding_stack_digest TEXT NOT NULL,
	binding_builds       TEXT,     -- JSON object service → digest; NULL: none
	binding_snapshot_key TEXT NOT NULL
) STRICT;

-- Apart from previews so that no query that shows a preview can show them.
-- The cascade is a second guard: DeletePreview deletes them itself.
CREATE TABLE secrets (
	preview TEXT NOT NULL REFERENCES previews (name) ON DELETE CASCADE,
	name    TEXT NOT NULL,
	value   TEXT NOT NULL,
	PRIMARY KEY (preview, name)
) STRICT;

-- No foreign key: an audit trail outlives what it describes. AUTOINCREMENT
-- so an ID is never reused, even after the newest events are gone: readers
-- page with "after ID".
CREATE TABLE events (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	preview TEXT NOT NULL,
	time    TEXT NOT NULL,
	kind    TEXT NOT NULL,
	detail  TEXT NOT NULL
) STRICT;
CREATE INDEX events_by_preview ON events (preview, id);
`,
	auditSchema, // 2: the audit log, in audit.go
	// 3: people, grants, tokens, sessions, share links, codes and logins, in access.go.
	accessSchema,
	// 4: forge webhooks' deliveries and pull requests, and what previews
	// record of other repositories and of who asked, in forge.go.
	forgeSchema,
	// 5: review plans, checklist results and approvals, and what previews
	// record of their author and review plan, in review.go.
	reviewSchema,
}

// migrate brings the database up to len(migrations), one transaction per
// step. Each step reads the version inside its own write transaction, so
// two processes opening an old file at once apply each step once.
func migrate(ctx context.Context, db *sql.DB, migrations []string) error {
	for {
		done, err := migrateStep(ctx, db, migrations)
		if err != nil || done {
			return err
		}
	}
}

func migrateStep(ctx context.Context, db *sql.DB, migrations []string) (done bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()

	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return false, fmt.Errorf("read schema version: %w", err)
	}
	switch {
	case v > len(migrations):
		return false, tandem.Errorf(tandem.EUNSUPPORTED,
			"schema version %d is newer than this tandem knows (%d): the file was written by a newer tandem; upgrade tandem or use another data directory",
			v, len(migrations))
	case v == len(migrations):
		return true, nil
	}
	if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
		return false, fmt.Errorf("migrate schema to version %d: %w", v+1, err)
	}
	// PRAGMA takes no parameters; v is an int.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
		return false, fmt.Errorf("migrate schema to version %d: %w", v+1, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migrate schema to version %d: %w", v+1, err)
	}
	return false, nil
}

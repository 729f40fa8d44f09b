package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tandem-dev/tandem"
)

var _ tandem.ForgeStore = (*DB)(nil)

// forgeSchema is migration 4: webhook deliveries, the pull requests that
// drive previews, and the previews' record of other repositories' commits
// and of who asked for them.
const forgeSchema = `
ALTER TABLE previews ADD COLUMN binding_sources TEXT;  -- JSON object service → repo@commit; NULL: none
ALTER TABLE previews ADD COLUMN source_refs TEXT;      -- JSON object service → repo@ref; NULL: none
ALTER TABLE previews ADD COLUMN requested_by TEXT NOT NULL DEFAULT '';
ALTER TABLE previews ADD COLUMN request_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE previews ADD COLUMN untrusted INTEGER NOT NULL DEFAULT 0;

-- One row per delivery: the primary key is what makes a redelivery a no-op.
CREATE TABLE forge_deliveries (
	forge     TEXT NOT NULL,
	id        TEXT NOT NULL,
	event     BLOB NOT NULL,
	received  TEXT NOT NULL,
	state     TEXT NOT NULL,
	attempts  INTEGER NOT NULL,
	next_at   TEXT NOT NULL,
	error     TEXT NOT NULL,
	PRIMARY KEY (forge, id)
) STRICT;
CREATE INDEX forge_deliveries_due ON forge_deliveries (state, next_at);

CREATE TABLE forge_prs (
	forge        TEXT NOT NULL,
	project      TEXT NOT NULL,
	number       INTEGER NOT NULL,
	repo         TEXT NOT NULL,
	preview      TEXT NOT NULL,
	head         TEXT NOT NULL,
	author       TEXT NOT NULL,
	fork         INTEGER NOT NULL,
	held         INTEGER NOT NULL,
	allowed_head TEXT NOT NULL,
	allowed_by   TEXT NOT NULL,
	closed       INTEGER NOT NULL,
	comment_id   INTEGER NOT NULL,
	deployment   INTEGER NOT NULL,
	reported     TEXT NOT NULL,
	updated_at   TEXT NOT NULL,
	PRIMARY KEY (forge, project, number)
) STRICT;
CREATE INDEX forge_prs_by_preview ON forge_prs (preview);
`

// AddDelivery records a new delivery; a repeated ID changes nothing.
func (db *DB) AddDelivery(ctx context.Context, d tandem.ForgeDelivery) (bool, error) {
	if d.State == "" {
		d.State = tandem.DeliveryPending
	}
	if d.Received.IsZero() {
		d.Received = time.Now()
	}
	if d.NextAt.IsZero() {
		d.NextAt = d.Received
	}
	res, err := db.write.ExecContext(ctx, `INSERT INTO forge_deliveries
		(forge, id, event, received, state, attempts, next_at, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (forge, id) DO NOTHING`,
		d.Forge, d.ID, d.Event, formatTime(d.Received), d.State, d.Attempts, formatTime(d.NextAt), d.Error)
	if err != nil {
		return false, fmt.Errorf("sqlite: add delivery %s/%s: %w", d.Forge, d.ID, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

const deliveryColumns = "forge, id, event, received, state, attempts, next_at, error"

func scanDelivery(row scanner) (*tandem.ForgeDelivery, error) {
	var d tandem.ForgeDelivery
	var received, next sql.NullString
	if err := row.Scan(&d.Forge, &d.ID, &d.Event, &received, &d.State, &d.Attempts, &next, &d.Error); err != nil {
		return nil, err
	}
	var err error
	if d.Received, err = parseTime(received); err != nil {
		return nil, err
	}
	if d.NextAt, err = parseTime(next); err != nil {
		return nil, err
	}
	return &d, nil
}

// DueDeliveries returns pending deliveries due at now, oldest first.
func (db *DB) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]tandem.ForgeDelivery, error) {
	// Times are written with a fixed width, so text order is time order.
	rows, err := db.read.QueryContext(ctx, "SELECT "+deliveryColumns+` FROM forge_deliveries
		WHERE state = ? AND next_at <= ? ORDER BY next_at, received LIMIT ?`,
		tandem.DeliveryPending, formatTime(now.UTC()), limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: due deliveries: %w", err)
	}
	defer rows.Close()
	var out []tandem.ForgeDelivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: due deliveries: %w", err)
		}
		out = append(out, *d)
	}
	return out, rows.Err()
}

// UpdateDelivery records the outcome of an attempt.
func (db *DB) UpdateDelivery(ctx context.Context, d tandem.ForgeDelivery) error {
	if d.NextAt.IsZero() {
		d.NextAt = time.Now()
	}
	_, err := db.write.ExecContext(ctx, `UPDATE forge_deliveries SET state = ?, attempts = ?, next_at = ?, error = ?
		WHERE forge = ? AND id = ?`, d.State, d.Attempts, formatTime(d.NextAt), d.Error, d.Forge, d.ID)
	if err != nil {
		return fmt.Errorf("sqlite: update delivery %s/%s: %w", d.Forge, d.ID, err)
	}
	return nil
}

// Delivery returns one delivery, or ENOTFOUND.
func (db *DB) Delivery(ctx context.Context, forge, id string) (*tandem.ForgeDelivery, error) {
	d, err := scanDelivery(db.read.QueryRowContext(ctx, "SELECT "+deliveryColumns+" FROM forge_deliveries WHERE forge = ? AND id = ?", forge, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "no delivery %s of forge %s", id, forge)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: delivery %s/%s: %w", forge, id, err)
	}
	return d, nil
}

const forgePRColumns = `forge, project, number, repo, preview, head, author, fork, held,
	allowed_head, allowed_by, closed, comment_id, deployment, reported, updated_at`

// PutForgePR creates or replaces a pull request's record.
func (db *DB) PutForgePR(ctx context.Context, pr *tandem.ForgePR) error {
	if pr.UpdatedAt.IsZero() {
		pr.UpdatedAt = time.Now()
	}
	_, err := db.write.ExecContext(ctx, "INSERT OR REPLACE INTO forge_prs ("+forgePRColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		pr.Forge, pr.Project, pr.Number, pr.Repo, pr.Preview, pr.Head, pr.Author, pr.Fork, pr.Held,
		pr.AllowedHead, pr.AllowedBy, pr.Closed, pr.CommentID, pr.Deployment, pr.Reported, formatTime(pr.UpdatedAt))
	if err != nil {
		return fmt.Errorf("sqlite: put pull request %s %s#%d: %w", pr.Forge, pr.Project, pr.Number, err)
	}
	return nil
}

func scanForgePR(row scanner) (*tandem.ForgePR, error) {
	var pr tandem.ForgePR
	var updated sql.NullString
	err := row.Scan(&pr.Forge, &pr.Project, &pr.Number, &pr.Repo, &pr.Preview, &pr.Head, &pr.Author, &pr.Fork, &pr.Held,
		&pr.AllowedHead, &pr.AllowedBy, &pr.Closed, &pr.CommentID, &pr.Deployment, &pr.Reported, &updated)
	if err != nil {
		return nil, err
	}
	pr.UpdatedAt, err = parseTime(updated)
	return &pr, err
}

// ForgePR returns a pull request, or ENOTFOUND.
func (db *DB) ForgePR(ctx context.Context, forge, project string, number int) (*tandem.ForgePR, error) {
	pr, err := scanForgePR(db.read.QueryRowContext(ctx, "SELECT "+forgePRColumns+
		" FROM forge_prs WHERE forge = ? AND project = ? AND number = ?", forge, project, number))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "no pull request %s#%d of forge %s", project, number, forge)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: pull request %s#%d: %w", project, number, err)
	}
	return pr, nil
}

// ForgePRByPreview returns the open pull request a preview is made for, or
// ENOTFOUND.
func (db *DB) ForgePRByPreview(ctx context.Context, preview string) (*tandem.ForgePR, error) {
	pr, err := scanForgePR(db.read.QueryRowContext(ctx, "SELECT "+forgePRColumns+
		" FROM forge_prs WHERE preview = ? ORDER BY closed, updated_at DESC LIMIT 1", preview))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "no pull request makes preview %q", preview)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: pull request of preview %q: %w", preview, err)
	}
	return pr, nil
}

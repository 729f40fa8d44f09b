package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tandem-dev/tandem"
)

var _ tandem.ReviewStore = (*DB)(nil)

// reviewSchema is migration 5: what a preview records of its author and
// of the review plan each generation was made with, the plans themselves,
// and what reviewers did (tandem.ReviewStore). Results and approvals are
// kept as given: triggers refuse to change them. No foreign keys, as for
// events: a review outlives the preview it was of.
const reviewSchema = `
ALTER TABLE previews ADD COLUMN author TEXT NOT NULL DEFAULT '';
ALTER TABLE previews ADD COLUMN binding_review_plan TEXT NOT NULL DEFAULT '';

CREATE TABLE review_plans (
	preview    TEXT NOT NULL,
	generation INTEGER NOT NULL,
	digest     TEXT NOT NULL,
	plan       TEXT NOT NULL,  -- JSON, tandem.ReviewPlan
	time       TEXT NOT NULL,
	PRIMARY KEY (preview, generation)
) STRICT;

CREATE TABLE review_results (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	preview    TEXT NOT NULL,
	generation INTEGER NOT NULL,
	git_commit TEXT NOT NULL,
	item       TEXT NOT NULL,
	result     TEXT NOT NULL,  -- pass, fail, n/a; '' for evidence alone
	note       TEXT NOT NULL,
	by_email   TEXT NOT NULL,
	time       TEXT NOT NULL,
	evidence   TEXT,           -- JSON array of tandem.Evidence; NULL: none
	entry      INTEGER NOT NULL
) STRICT;
CREATE INDEX review_results_by_preview ON review_results (preview, id);

CREATE TABLE review_approvals (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	preview    TEXT NOT NULL,
	generation INTEGER NOT NULL,
	git_commit TEXT NOT NULL,
	email      TEXT NOT NULL,
	signature  TEXT NOT NULL,  -- JSON, tandem.Signature
	time       TEXT NOT NULL,
	entry      INTEGER NOT NULL
) STRICT;
CREATE INDEX review_approvals_by_preview ON review_approvals (preview, id);

CREATE TRIGGER review_results_kept BEFORE UPDATE ON review_results
BEGIN SELECT RAISE(ABORT, 'review results are kept as given'); END;
CREATE TRIGGER review_approvals_kept BEFORE UPDATE ON review_approvals
BEGIN SELECT RAISE(ABORT, 'approvals are kept as given'); END;
`

// PutReviewPlan keeps a generation's plan, replacing one of the same
// preview and generation.
func (db *DB) PutReviewPlan(ctx context.Context, rec tandem.ReviewPlanRecord) error {
	if rec.Preview == "" || rec.Generation < 1 || rec.Digest == "" {
		return tandem.Errorf(tandem.EINVALID, "sqlite: put review plan: a preview, a generation and a digest are needed")
	}
	plan, err := json.Marshal(rec.Plan)
	if err != nil {
		return err
	}
	if rec.Time.IsZero() {
		rec.Time = time.Now()
	}
	_, err = db.write.ExecContext(ctx, `INSERT INTO review_plans (preview, generation, digest, plan, time) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (preview, generation) DO UPDATE SET digest = excluded.digest, plan = excluded.plan, time = excluded.time`,
		rec.Preview, rec.Generation, rec.Digest, string(plan), formatTime(rec.Time))
	return wrap(err, "put review plan of %q", rec.Preview)
}

// ReviewPlan returns the plan kept for a generation.
func (db *DB) ReviewPlan(ctx context.Context, preview string, generation int) (*tandem.ReviewPlanRecord, error) {
	rec := &tandem.ReviewPlanRecord{Preview: preview, Generation: generation}
	var plan string
	var at sql.NullString
	err := db.read.QueryRowContext(ctx, "SELECT digest, plan, time FROM review_plans WHERE preview = ? AND generation = ?",
		preview, generation).Scan(&rec.Digest, &plan, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "no review plan of %s generation %d", preview, generation)
	}
	if err != nil {
		return nil, wrap(err, "review plan of %q", preview)
	}
	if err := json.Unmarshal([]byte(plan), &rec.Plan); err != nil {
		return nil, fmt.Errorf("sqlite: review plan of %q: %w", preview, err)
	}
	if rec.Time, err = parseTime(at); err != nil {
		return nil, fmt.Errorf("sqlite: review plan of %q: %w", preview, err)
	}
	return rec, nil
}

// AddChecklistResult keeps a checklist result or evidence.
func (db *DB) AddChecklistResult(ctx context.Context, r *tandem.ChecklistResult) error {
	if r == nil || r.Preview == "" || r.Item == "" || r.By == "" {
		return tandem.Errorf(tandem.EINVALID, "sqlite: add checklist result: a preview, an item and who are needed")
	}
	evidence, err := jsonColumn(len(r.Evidence) > 0, r.Evidence)
	if err != nil {
		return err
	}
	_, err = db.write.ExecContext(ctx, `INSERT INTO review_results
		(preview, generation, git_commit, item, result, note, by_email, time, evidence, entry) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Preview, r.Generation, r.Commit, r.Item, r.Result, r.Note, r.By, formatTime(r.Time), evidence, r.Entry)
	return wrap(err, "add checklist result to %q", r.Preview)
}

// AddApproval keeps a signature.
func (db *DB) AddApproval(ctx context.Context, a *tandem.Approval) error {
	if a == nil || a.Preview == "" || a.Email == "" || a.Signature.Time.IsZero() {
		return tandem.Errorf(tandem.EINVALID, "sqlite: add approval: a preview, a signer and a signature are needed")
	}
	sig, err := json.Marshal(a.Signature)
	if err != nil {
		return err
	}
	_, err = db.write.ExecContext(ctx, `INSERT INTO review_approvals
		(preview, generation, git_commit, email, signature, time, entry) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		a.Preview, a.Generation, a.Commit, a.Email, string(sig), formatTime(a.Signature.Time), a.Entry)
	return wrap(err, "add approval to %q", a.Preview)
}

// ChecklistResults returns a preview's results from since on, oldest first.
func (db *DB) ChecklistResults(ctx context.Context, preview string, since time.Time) ([]*tandem.ChecklistResult, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT generation, git_commit, item, result, note, by_email, time, evidence, entry
		FROM review_results WHERE preview = ? AND time >= ? ORDER BY id`, preview, sinceText(since))
	if err != nil {
		return nil, wrap(err, "checklist results of %q", preview)
	}
	defer rows.Close()
	out := []*tandem.ChecklistResult{}
	for rows.Next() {
		r := &tandem.ChecklistResult{Preview: preview}
		var at, evidence sql.NullString
		if err := rows.Scan(&r.Generation, &r.Commit, &r.Item, &r.Result, &r.Note, &r.By, &at, &evidence, &r.Entry); err != nil {
			return nil, wrap(err, "checklist results of %q", preview)
		}
		if r.Time, err = parseTime(at); err != nil {
			return nil, fmt.Errorf("sqlite: checklist results of %q: %w", preview, err)
		}
		if err := fromJSON(evidence, &r.Evidence); err != nil {
			return nil, fmt.Errorf("sqlite: checklist results of %q: evidence: %w", preview, err)
		}
		out = append(out, r)
	}
	return out, wrap(rows.Err(), "checklist results of %q", preview)
}

// Approvals returns a preview's signatures from since on, oldest first.
func (db *DB) Approvals(ctx context.Context, preview string, since time.Time) ([]*tandem.Approval, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT generation, git_commit, email, signature, entry
		FROM review_approvals WHERE preview = ? AND time >= ? ORDER BY id`, preview, sinceText(since))
	if err != nil {
		return nil, wrap(err, "approvals of %q", preview)
	}
	defer rows.Close()
	out := []*tandem.Approval{}
	for rows.Next() {
		a := &tandem.Approval{Preview: preview}
		var sig string
		if err := rows.Scan(&a.Generation, &a.Commit, &a.Email, &sig, &a.Entry); err != nil {
			return nil, wrap(err, "approvals of %q", preview)
		}
		if err := json.Unmarshal([]byte(sig), &a.Signature); err != nil {
			return nil, fmt.Errorf("sqlite: approvals of %q: %w", preview, err)
		}
		out = append(out, a)
	}
	return out, wrap(rows.Err(), "approvals of %q", preview)
}

// sinceText compares as stored times do; the zero time is before all.
func sinceText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return formatTime(t).String
}

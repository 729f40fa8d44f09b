package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tandem-dev/tandem"
)

// previewColumns are the previews table's columns in the order that
// previewArgs writes them and scanPreview reads them.
var previewColumns = []string{
	"name", "repo", "ref", "pr", "git_commit", "branch",
	"state", "step", "error", "log_tail",
	"url", "ttl_ns", "expires_at", "created_at", "updated_at", "ready_at",
	"generation", "serving",
	"binding_repo", "binding_commit", "binding_stack_digest", "binding_builds", "binding_snapshot_key",
	"binding_sources", "source_refs", "requested_by", "request_reason", "untrusted", // migration 4
	"author", "binding_review_plan", // migration 5
}

var (
	selectPreviews = "SELECT " + strings.Join(previewColumns, ", ") + " FROM previews"

	// An upsert, not INSERT OR REPLACE: REPLACE deletes the old row first,
	// and the delete would cascade to the preview's secrets.
	upsertPreview = func() string {
		var set []string
		for _, c := range previewColumns[1:] {
			set = append(set, c+" = excluded."+c)
		}
		return "INSERT INTO previews (" + strings.Join(previewColumns, ", ") + ")" +
			" VALUES (?" + strings.Repeat(", ?", len(previewColumns)-1) + ")" +
			" ON CONFLICT (name) DO UPDATE SET " + strings.Join(set, ", ")
	}()
)

// PutPreview creates or replaces a preview's record. Its secrets and events
// are left as they are.
func (db *DB) PutPreview(ctx context.Context, p *tandem.Preview) error {
	if p == nil {
		return tandem.Errorf(tandem.EINVALID, "sqlite: put preview: nil preview")
	}
	if err := tandem.ValidPreviewName(p.Name); err != nil {
		return err
	}
	args, err := previewArgs(p)
	if err != nil {
		return fmt.Errorf("sqlite: put preview %q: %w", p.Name, err)
	}
	// One statement is one transaction; update adds nothing here.
	if _, err := db.putPreview.ExecContext(ctx, args...); err != nil {
		return fmt.Errorf("sqlite: put preview %q: %w", p.Name, err)
	}
	return nil
}

// Preview returns one preview, or ENOTFOUND.
func (db *DB) Preview(ctx context.Context, name string) (*tandem.Preview, error) {
	p, err := scanPreview(db.getPreview.QueryRowContext(ctx, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(name)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: preview %q: %w", name, err)
	}
	return p, nil
}

// Previews returns every preview, sorted by name.
func (db *DB) Previews(ctx context.Context) ([]*tandem.Preview, error) {
	rows, err := db.read.QueryContext(ctx, selectPreviews+" ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("sqlite: previews: %w", err)
	}
	defer rows.Close()
	ps := []*tandem.Preview{} // an empty list, not null, in JSON
	for rows.Next() {
		p, err := scanPreview(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: previews: %w", err)
		}
		ps = append(ps, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: previews: %w", err)
	}
	return ps, nil
}

// DeletePreview removes a preview and its secrets in one transaction; its
// events stay. A preview that does not exist is ENOTFOUND.
func (db *DB) DeletePreview(ctx context.Context, name string) error {
	err := db.update(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM secrets WHERE preview = ?", name); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM previews WHERE name = ?", name)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return notFound(name)
		}
		return nil
	})
	return wrap(err, "delete preview %q", name)
}

func previewArgs(p *tandem.Preview) ([]any, error) {
	logTail, err := jsonColumn(len(p.LogTail) > 0, p.LogTail)
	if err != nil {
		return nil, fmt.Errorf("log tail: %w", err)
	}
	builds, err := jsonColumn(len(p.Binding.Builds) > 0, p.Binding.Builds)
	if err != nil {
		return nil, fmt.Errorf("binding builds: %w", err)
	}
	sources, err := jsonColumn(len(p.Binding.Sources) > 0, p.Binding.Sources)
	if err != nil {
		return nil, fmt.Errorf("binding sources: %w", err)
	}
	refs, err := jsonColumn(len(p.SourceRefs) > 0, p.SourceRefs)
	if err != nil {
		return nil, fmt.Errorf("source refs: %w", err)
	}
	b := p.Binding
	return []any{
		p.Name, p.Repo, p.Ref, p.PR, p.Commit, p.Branch,
		string(p.State), p.Step, p.Error, logTail,
		p.URL, int64(p.TTL), formatTime(p.ExpiresAt), formatTime(p.CreatedAt), formatTime(p.UpdatedAt), formatTime(p.ReadyAt),
		p.Generation, p.Serving,
		b.Repo, b.Commit, b.StackDigest, builds, b.SnapshotKey,
		sources, refs, p.RequestedBy, p.RequestReason, p.Untrusted,
		p.Author, b.ReviewPlan,
	}, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanPreview(row scanner) (*tandem.Preview, error) {
	var (
		p                                        tandem.Preview
		state                                    string
		logTail, builds, sources, refs           sql.NullString
		ttl                                      int64
		expiresAt, createdAt, updatedAt, readyAt sql.NullString
	)
	err := row.Scan(
		&p.Name, &p.Repo, &p.Ref, &p.PR, &p.Commit, &p.Branch,
		&state, &p.Step, &p.Error, &logTail,
		&p.URL, &ttl, &expiresAt, &createdAt, &updatedAt, &readyAt,
		&p.Generation, &p.Serving,
		&p.Binding.Repo, &p.Binding.Commit, &p.Binding.StackDigest, &builds, &p.Binding.SnapshotKey,
		&sources, &refs, &p.RequestedBy, &p.RequestReason, &p.Untrusted,
		&p.Author, &p.Binding.ReviewPlan,
	)
	if err != nil {
		return nil, err
	}
	p.State = tandem.PreviewState(state)
	p.TTL = time.Duration(ttl)
	if err := fromJSON(logTail, &p.LogTail); err != nil {
		return nil, fmt.Errorf("preview %q: log tail: %w", p.Name, err)
	}
	if err := fromJSON(builds, &p.Binding.Builds); err != nil {
		return nil, fmt.Errorf("preview %q: binding builds: %w", p.Name, err)
	}
	if err := fromJSON(sources, &p.Binding.Sources); err != nil {
		return nil, fmt.Errorf("preview %q: binding sources: %w", p.Name, err)
	}
	if err := fromJSON(refs, &p.SourceRefs); err != nil {
		return nil, fmt.Errorf("preview %q: source refs: %w", p.Name, err)
	}
	for _, t := range []struct {
		dst *time.Time
		src sql.NullString
	}{
		{&p.ExpiresAt, expiresAt}, {&p.CreatedAt, createdAt}, {&p.UpdatedAt, updatedAt}, {&p.ReadyAt, readyAt},
	} {
		if *t.dst, err = parseTime(t.src); err != nil {
			return nil, fmt.Errorf("preview %q: %w", p.Name, err)
		}
	}
	return &p, nil
}

// jsonColumn encodes v, or gives NULL when there is nothing to keep: an
// empty list or map reads back as nil.
func jsonColumn(some bool, v any) (sql.NullString, error) {
	if !some {
		return sql.NullString{}, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return sql.NullString{}, err
	}
	return sql.NullString{String: string(b), Valid: true}, nil
}

func fromJSON(s sql.NullString, v any) error {
	if !s.Valid {
		return nil
	}
	return json.Unmarshal([]byte(s.String), v)
}

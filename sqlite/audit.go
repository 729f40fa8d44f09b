package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/tandem-dev/tandem"
)

// auditSchema is the migration that adds the audit log (package audit): its
// entries, its Merkle tree's stored hashes and the checkpoints it signed.
// Triggers refuse to change or delete an entry or a hash: the tree would
// no longer match the checkpoints handed out, and only the log's proofs
// would tell. They stop accidents and tools, not someone who drops them.
const auditSchema = `
CREATE TABLE audit_entries (
	idx      INTEGER PRIMARY KEY,  -- the entry's index in the log, from 0
	repo     TEXT NOT NULL,
	preview  TEXT NOT NULL,
	kind     TEXT NOT NULL,
	time     TEXT NOT NULL,
	envelope BLOB NOT NULL         -- the DSSE envelope, exactly as the tree hashes it
) STRICT;
CREATE INDEX audit_entries_by_preview ON audit_entries (preview, idx);
CREATE INDEX audit_entries_by_repo ON audit_entries (repo, idx);

-- Indexed as golang.org/x/mod/sumdb/tlog numbers stored hashes.
CREATE TABLE audit_hashes (
	id   INTEGER PRIMARY KEY,
	hash BLOB NOT NULL
) STRICT;

-- Every checkpoint handed out, so that an export can prove the log now
-- extends each of them.
CREATE TABLE audit_checkpoints (
	size INTEGER PRIMARY KEY,
	note BLOB NOT NULL
) STRICT;

CREATE TRIGGER audit_entries_append_only BEFORE UPDATE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_entries_keep BEFORE DELETE ON audit_entries
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_hashes_append_only BEFORE UPDATE ON audit_hashes
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_hashes_keep BEFORE DELETE ON audit_hashes
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
-- REPLACE deletes without firing delete triggers.
CREATE TRIGGER audit_entries_no_replace BEFORE INSERT ON audit_entries
WHEN EXISTS (SELECT 1 FROM audit_entries WHERE idx = NEW.idx)
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_hashes_no_replace BEFORE INSERT ON audit_hashes
WHEN EXISTS (SELECT 1 FROM audit_hashes WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
`

var _ tandem.AuditStore = (*DB)(nil)

// AppendAudit adds recs and the stored hashes they add, in one transaction.
func (db *DB) AppendAudit(ctx context.Context, recs []tandem.AuditRecord, hashes []tandem.AuditHash) error {
	if len(recs) == 0 {
		return nil
	}
	err := db.update(ctx, func(tx *sql.Tx) error {
		var size int64
		if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(idx) + 1, 0) FROM audit_entries").Scan(&size); err != nil {
			return err
		}
		if size != recs[0].Index {
			return tandem.Errorf(tandem.ECONFLICT, "sqlite: audit log holds %d entries, not %d: another writer appended", size, recs[0].Index)
		}
		// Prepared once for the batch: parsing costs more than inserting.
		entry, err := tx.PrepareContext(ctx, "INSERT INTO audit_entries (idx, repo, preview, kind, time, envelope) VALUES (?, ?, ?, ?, ?, ?)")
		if err != nil {
			return err
		}
		defer entry.Close()
		hash, err := tx.PrepareContext(ctx, "INSERT INTO audit_hashes (id, hash) VALUES (?, ?)")
		if err != nil {
			return err
		}
		defer hash.Close()
		for i, r := range recs {
			if r.Index != size+int64(i) {
				return tandem.Errorf(tandem.EINVALID, "sqlite: audit entries out of order: %d after %d", r.Index, size+int64(i)-1)
			}
			if _, err := entry.ExecContext(ctx, r.Index, r.Repo, r.Preview, string(r.Kind), formatTime(r.Time), r.Envelope); err != nil {
				return err
			}
		}
		for _, h := range hashes {
			if _, err := hash.ExecContext(ctx, h.Index, h.Hash[:]); err != nil {
				return err
			}
		}
		return nil
	})
	return wrap(err, "append %d audit entries at %d", len(recs), recs[0].Index)
}

// AuditSize returns how many entries the log holds.
func (db *DB) AuditSize(ctx context.Context) (int64, error) {
	var n int64
	err := db.read.QueryRowContext(ctx, "SELECT coalesce(max(idx) + 1, 0) FROM audit_entries").Scan(&n)
	return n, wrap(err, "audit log size")
}

// AuditHashes returns the stored hashes at indexes, in their order.
func (db *DB) AuditHashes(ctx context.Context, indexes []int64) ([][32]byte, error) {
	out := make([][32]byte, len(indexes))
	if len(indexes) == 0 {
		return out, nil
	}
	at := make(map[int64][]int, len(indexes))
	args := make([]any, 0, len(indexes))
	for i, id := range indexes {
		if at[id] == nil {
			args = append(args, id)
		}
		at[id] = append(at[id], i)
	}
	// SQLite allows 32766 parameters; a proof needs a few dozen.
	for len(args) > 0 {
		chunk := args[:min(len(args), 1000)]
		args = args[len(chunk):]
		rows, err := db.read.QueryContext(ctx, "SELECT id, hash FROM audit_hashes WHERE id IN (?"+strings.Repeat(", ?", len(chunk)-1)+")", chunk...)
		if err != nil {
			return nil, wrap(err, "audit hashes")
		}
		for rows.Next() {
			var id int64
			var h []byte
			if err := rows.Scan(&id, &h); err != nil {
				rows.Close()
				return nil, wrap(err, "audit hashes")
			}
			if len(h) != 32 {
				rows.Close()
				return nil, fmt.Errorf("sqlite: audit hash %d has %d bytes, not 32", id, len(h))
			}
			for _, i := range at[id] {
				copy(out[i][:], h)
			}
			delete(at, id)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, wrap(err, "audit hashes")
		}
	}
	for id := range at {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "sqlite: no audit hash %d", id)
	}
	return out, nil
}

// AuditRecords returns the entries f selects, oldest first.
func (db *DB) AuditRecords(ctx context.Context, f tandem.AuditFilter) ([]tandem.AuditRecord, error) {
	q := "SELECT idx, repo, preview, kind, time, envelope FROM audit_entries WHERE 1"
	var args []any
	if f.Preview != "" {
		q += " AND preview = ?"
		args = append(args, f.Preview)
	}
	if f.Repo != "" {
		q += " AND repo = ?"
		args = append(args, f.Repo)
	}
	if !f.Since.IsZero() {
		q += " AND time >= ?"
		args = append(args, formatTime(f.Since))
	}
	if f.Size > 0 {
		q += " AND idx < ?"
		args = append(args, f.Size)
	}
	rows, err := db.read.QueryContext(ctx, q+" ORDER BY idx", args...)
	if err != nil {
		return nil, wrap(err, "audit entries")
	}
	defer rows.Close()
	recs := []tandem.AuditRecord{}
	for rows.Next() {
		var r tandem.AuditRecord
		var kind string
		var t sql.NullString
		if err := rows.Scan(&r.Index, &r.Repo, &r.Preview, &kind, &t, &r.Envelope); err != nil {
			return nil, wrap(err, "audit entries")
		}
		r.Kind = tandem.AuditKind(kind)
		if r.Time, err = parseTime(t); err != nil {
			return nil, fmt.Errorf("sqlite: audit entry %d: %w", r.Index, err)
		}
		recs = append(recs, r)
	}
	return recs, wrap(rows.Err(), "audit entries")
}

// AddAuditCheckpoint keeps a checkpoint the log signed, once per size.
func (db *DB) AddAuditCheckpoint(ctx context.Context, c tandem.AuditCheckpoint) error {
	_, err := db.write.ExecContext(ctx, "INSERT INTO audit_checkpoints (size, note) VALUES (?, ?) ON CONFLICT (size) DO NOTHING", c.Size, c.Note)
	return wrap(err, "keep audit checkpoint %d", c.Size)
}

// AuditCheckpoints returns the checkpoints kept, smallest first.
func (db *DB) AuditCheckpoints(ctx context.Context) ([]tandem.AuditCheckpoint, error) {
	rows, err := db.read.QueryContext(ctx, "SELECT size, note FROM audit_checkpoints ORDER BY size")
	if err != nil {
		return nil, wrap(err, "audit checkpoints")
	}
	defer rows.Close()
	var cps []tandem.AuditCheckpoint
	for rows.Next() {
		var c tandem.AuditCheckpoint
		if err := rows.Scan(&c.Size, &c.Note); err != nil {
			return nil, wrap(err, "audit checkpoints")
		}
		cps = append(cps, c)
	}
	return cps, wrap(rows.Err(), "audit checkpoints")
}

package sqlite

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/tandem-dev/tandem"
)

// PutSession stores a new session with the SHA-256 of its cookie's value,
// dropping the expired ones.
func (db *DB) PutSession(ctx context.Context, s *tandem.Session, hash []byte) error {
	if s.ID == "" || len(hash) != 32 || s.Host == "" || s.ExpiresAt.IsZero() || (s.PersonID == "") == (s.ShareID == "") {
		return tandem.Errorf(tandem.EINVALID, "sqlite: put session: it needs an ID, its cookie's SHA-256, a host, an expiry, and a person or a share link")
	}
	if s.CreatedAt.IsZero() {
		s.CreatedAt = time.Now()
	}
	err := db.update(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE expires_at <= ?", formatTime(time.Now())); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO sessions (id, hash, person, share, host, method, auth_time, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, s.ID, hash, s.PersonID, s.ShareID, s.Host, s.Method,
			formatTime(s.AuthTime), formatTime(s.CreatedAt), formatTime(s.ExpiresAt))
		if isUnique(err) {
			return tandem.Errorf(tandem.ECONFLICT, "session %s exists", s.ID)
		}
		return err
	})
	return wrap(err, "put session")
}

// SessionByHash returns the live session whose cookie has hash.
func (db *DB) SessionByHash(ctx context.Context, hash []byte) (*tandem.Session, error) {
	var (
		s     tandem.Session
		times [3]sql.NullString
	)
	err := db.read.QueryRowContext(ctx, `SELECT id, person, share, host, method, auth_time, created_at, expires_at
		FROM sessions WHERE hash = ? AND expires_at > ?`, hash, formatTime(time.Now())).
		Scan(&s.ID, &s.PersonID, &s.ShareID, &s.Host, &s.Method, &times[0], &times[1], &times[2])
	if errors.Is(err, sql.ErrNoRows) {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "no such session, or it expired")
	}
	if err == nil {
		err = parseTimes(times[:], &s.AuthTime, &s.CreatedAt, &s.ExpiresAt)
	}
	if err != nil {
		return nil, wrap(err, "session")
	}
	return &s, nil
}

// DeleteSession ends a session; one that is gone already is no error.
func (db *DB) DeleteSession(ctx context.Context, id string) error {
	_, err := db.write.ExecContext(ctx, "DELETE FROM sessions WHERE id = ?", id)
	return wrap(err, "delete session %s", id)
}

const selectShares = `SELECT id, repo, preview, email, created_by, created_at, expires_at, revoked_at, failures, locked_at, uses FROM shares`

// PutShare stores a new share link with the SHA-256 of its secret.
func (db *DB) PutShare(ctx context.Context, s *tandem.ShareLink, hash []byte) error {
	s.Email = strings.ToLower(strings.TrimSpace(s.Email))
	if s.ID == "" || len(hash) != 32 || s.Repo == "" || s.Preview == "" || s.Email == "" || s.ExpiresAt.IsZero() {
		return tandem.Errorf(tandem.EINVALID, "sqlite: put share link: it needs an ID, its secret's SHA-256, a repository, a preview, an email and an expiry")
	}
	if s.CreatedAt.IsZero() {
		s.CreatedAt = time.Now()
	}
	_, err := db.write.ExecContext(ctx, `INSERT INTO shares (id, hash, repo, preview, email, created_by, created_at, expires_at, revoked_at, failures, locked_at, uses)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, s.ID, hash, s.Repo, s.Preview, s.Email, s.CreatedBy,
		formatTime(s.CreatedAt), formatTime(s.ExpiresAt), formatTime(s.RevokedAt), s.Failures, formatTime(s.LockedAt), s.Uses)
	if isUnique(err) {
		return tandem.Errorf(tandem.ECONFLICT, "share link %s exists", s.ID)
	}
	return wrap(err, "put share link %s", s.ID)
}

// ShareByHash returns the share link whose secret has hash, revoked,
// locked and expired ones too: the caller says why it refuses one.
func (db *DB) ShareByHash(ctx context.Context, hash []byte) (*tandem.ShareLink, error) {
	return oneShare(db.read.QueryRowContext(ctx, selectShares+" WHERE hash = ?", hash))
}

// Share returns the share link id.
func (db *DB) Share(ctx context.Context, id string) (*tandem.ShareLink, error) {
	return oneShare(db.read.QueryRowContext(ctx, selectShares+" WHERE id = ?", id))
}

func oneShare(row *sql.Row) (*tandem.ShareLink, error) {
	s, err := scanShare(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "no such share link")
	}
	if err != nil {
		return nil, wrap(err, "share link")
	}
	return s, nil
}

func scanShare(row interface{ Scan(...any) error }) (*tandem.ShareLink, error) {
	var (
		s     tandem.ShareLink
		times [4]sql.NullString
	)
	if err := row.Scan(&s.ID, &s.Repo, &s.Preview, &s.Email, &s.CreatedBy, &times[0], &times[1], &times[2], &s.Failures, &times[3], &s.Uses); err != nil {
		return nil, err
	}
	return &s, parseTimes(times[:], &s.CreatedAt, &s.ExpiresAt, &s.RevokedAt, &s.LockedAt)
}

// Shares returns the share links of a preview of repo, oldest first; a
// preview "" means all of repo's, and a repo "" all.
func (db *DB) Shares(ctx context.Context, repo, preview string) ([]*tandem.ShareLink, error) {
	rows, err := db.read.QueryContext(ctx, selectShares+` WHERE (? = '' OR repo = ?) AND (? = '' OR preview = ?) ORDER BY created_at, id`,
		repo, repo, preview, preview)
	if err != nil {
		return nil, wrap(err, "share links")
	}
	defer rows.Close()
	list := []*tandem.ShareLink{}
	for rows.Next() {
		s, err := scanShare(rows)
		if err != nil {
			return nil, wrap(err, "share links")
		}
		list = append(list, s)
	}
	return list, wrap(rows.Err(), "share links")
}

// RevokeShare revokes a share link; a revoked one keeps its first time.
func (db *DB) RevokeShare(ctx context.Context, id string, at time.Time) error {
	return db.updateOne(ctx, "share link "+id, "UPDATE shares SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?", formatTime(at), id)
}

// ShareAttempt records a code tried on a link, in one write transaction so
// that concurrent tries count one by one. On a link that cannot be used at
// at (revoked, locked, expired) nothing counts, right code or wrong: the
// caller checks Valid on what comes back.
func (db *DB) ShareAttempt(ctx context.Context, id string, ok bool, max int, at time.Time) (*tandem.ShareLink, error) {
	if max < 1 {
		return nil, tandem.Errorf(tandem.EINVALID, "sqlite: share attempt: max must be at least 1")
	}
	var s *tandem.ShareLink
	err := db.update(ctx, func(tx *sql.Tx) error {
		var err error
		if s, err = oneShare(tx.QueryRowContext(ctx, selectShares+" WHERE id = ?", id)); err != nil || !s.Valid(at) {
			return err
		}
		if ok {
			s.Failures, s.Uses = 0, s.Uses+1
		} else {
			s.Failures++
			if s.Failures >= max {
				s.LockedAt = at.UTC()
			}
		}
		_, err = tx.ExecContext(ctx, "UPDATE shares SET failures = ?, uses = ?, locked_at = ? WHERE id = ?",
			s.Failures, s.Uses, formatTime(s.LockedAt), id)
		return err
	})
	if err != nil {
		return nil, wrap(err, "share attempt on %s", id)
	}
	return s, nil
}

// PutCode keeps a one-time code's hash for key until expires, replacing an
// earlier one and its count of wrong tries, and drops expired codes.
func (db *DB) PutCode(ctx context.Context, key string, hash []byte, expires time.Time) error {
	if key == "" || len(hash) != 32 || expires.IsZero() {
		return tandem.Errorf(tandem.EINVALID, "sqlite: put code: it needs a key, the code's SHA-256 and an expiry")
	}
	err := db.update(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM codes WHERE expires_at <= ?", formatTime(time.Now())); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO codes (key, hash, expires_at, attempts) VALUES (?, ?, ?, 0)
			ON CONFLICT (key) DO UPDATE SET hash = excluded.hash, expires_at = excluded.expires_at, attempts = 0`,
			key, hash, formatTime(expires))
		return err
	})
	return wrap(err, "put code")
}

// UseCode reports whether hash is key's live code and consumes it if so,
// in one write transaction: of concurrent tries, one at most succeeds, and
// each wrong one counts. The max-th wrong try removes the code.
func (db *DB) UseCode(ctx context.Context, key string, hash []byte, max int, at time.Time) (bool, error) {
	if max < 1 {
		return false, tandem.Errorf(tandem.EINVALID, "sqlite: use code: max must be at least 1")
	}
	var right bool
	err := db.update(ctx, func(tx *sql.Tx) error {
		var (
			want     []byte
			expires  sql.NullString
			attempts int
		)
		err := tx.QueryRowContext(ctx, "SELECT hash, expires_at, attempts FROM codes WHERE key = ?", key).Scan(&want, &expires, &attempts)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		} else if err != nil {
			return err
		}
		until, err := parseTime(expires)
		if err != nil {
			return err
		}
		right = at.Before(until) && subtle.ConstantTimeCompare(hash, want) == 1
		if right || !at.Before(until) || attempts+1 >= max {
			_, err = tx.ExecContext(ctx, "DELETE FROM codes WHERE key = ?", key)
		} else {
			_, err = tx.ExecContext(ctx, "UPDATE codes SET attempts = attempts + 1 WHERE key = ?", key)
		}
		return err
	})
	return right, wrap(err, "use code")
}

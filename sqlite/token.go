package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/tandem-dev/tandem"
)

const selectTokens = `SELECT id, name, role, repo, person, created_by, created_at, expires_at, last_used, revoked_at FROM tokens`

// PutToken stores a new token with the SHA-256 of its secret. A token has
// a role in a repository, or a person and neither.
func (db *DB) PutToken(ctx context.Context, t *tandem.Token, hash []byte) error {
	switch {
	case t.ID == "" || t.Name == "":
		return tandem.Errorf(tandem.EINVALID, "sqlite: put token: a token needs an ID and a name")
	case len(hash) != 32:
		return tandem.Errorf(tandem.EINVALID, "sqlite: put token %s: want the secret's SHA-256", t.ID)
	case t.PersonID == "" && (t.Repo == "" || t.Role == ""):
		return tandem.Errorf(tandem.EINVALID, "sqlite: put token %s: a token needs a role and a repository, or a person", t.ID)
	case t.PersonID != "" && (t.Repo != "" || t.Role != ""):
		return tandem.Errorf(tandem.EINVALID, "sqlite: put token %s: a person's token takes the person's roles", t.ID)
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = time.Now()
	}
	_, err := db.write.ExecContext(ctx, `INSERT INTO tokens (id, hash, name, role, repo, person, created_by, created_at, expires_at, last_used, revoked_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, t.ID, hash, t.Name, t.Role, t.Repo, t.PersonID, t.CreatedBy,
		formatTime(t.CreatedAt), formatTime(t.ExpiresAt), formatTime(t.LastUsed), formatTime(t.RevokedAt))
	if isUnique(err) {
		return tandem.Errorf(tandem.ECONFLICT, "token %s exists", t.ID)
	}
	return wrap(err, "put token %s", t.ID)
}

// TokenByHash returns the token whose secret has hash, revoked and expired
// ones too: the caller says why it refuses one.
func (db *DB) TokenByHash(ctx context.Context, hash []byte) (*tandem.Token, error) {
	return db.oneToken(ctx, " WHERE hash = ?", hash)
}

func (db *DB) oneToken(ctx context.Context, where string, arg any) (*tandem.Token, error) {
	list, err := db.tokens(ctx, where, arg)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "no such token")
	}
	return list[0], nil
}

// Tokens returns every token, the oldest first, with no secret or hash.
func (db *DB) Tokens(ctx context.Context) ([]*tandem.Token, error) {
	return db.tokens(ctx, " ORDER BY created_at, id")
}

func (db *DB) tokens(ctx context.Context, where string, args ...any) ([]*tandem.Token, error) {
	rows, err := db.read.QueryContext(ctx, selectTokens+where, args...)
	if err != nil {
		return nil, wrap(err, "tokens")
	}
	defer rows.Close()
	list := []*tandem.Token{}
	for rows.Next() {
		var (
			t     tandem.Token
			times [4]sql.NullString
		)
		if err := rows.Scan(&t.ID, &t.Name, &t.Role, &t.Repo, &t.PersonID, &t.CreatedBy, &times[0], &times[1], &times[2], &times[3]); err != nil {
			return nil, wrap(err, "tokens")
		}
		if err := parseTimes(times[:], &t.CreatedAt, &t.ExpiresAt, &t.LastUsed, &t.RevokedAt); err != nil {
			return nil, wrap(err, "token %s", t.ID)
		}
		list = append(list, &t)
	}
	return list, wrap(rows.Err(), "tokens")
}

// RevokeToken revokes the token id at at: ENOTFOUND if there is none. A
// token revoked before keeps its first revocation's time.
func (db *DB) RevokeToken(ctx context.Context, id string, at time.Time) error {
	return db.updateOne(ctx, "token "+id, "UPDATE tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?", formatTime(at), id)
}

// TouchToken records a use of the token id at at (a later use than the one
// recorded; an earlier one changes nothing).
func (db *DB) TouchToken(ctx context.Context, id string, at time.Time) error {
	t := formatTime(at)
	return db.updateOne(ctx, "token "+id, "UPDATE tokens SET last_used = max(coalesce(last_used, ?), ?) WHERE id = ?", t, t, id)
}

// updateOne runs an UPDATE of the one row of what, and says ENOTFOUND if
// there is no such row.
func (db *DB) updateOne(ctx context.Context, what, query string, args ...any) error {
	res, err := db.write.ExecContext(ctx, query, args...)
	if err != nil {
		return wrap(err, "%s", what)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return tandem.Errorf(tandem.ENOTFOUND, "no %s", what)
	}
	return nil
}

// maxPendingLogins bounds the logins waiting for an answer: starting one
// needs no credentials, so a flood of them must not fill the disk.
const maxPendingLogins = 1000

// PutDevice stores a new pending login with the hash of its device code,
// dropping the expired ones. A user code a live login has is ECONFLICT (make
// another); more than a thousand pending at once is EUNAVAILABLE.
func (db *DB) PutDevice(ctx context.Context, d *tandem.DeviceAuth, hash []byte) error {
	code := normalUserCode(d.UserCode)
	if len(hash) != 32 || len(code) < 6 || d.ExpiresAt.IsZero() {
		return tandem.Errorf(tandem.EINVALID, "sqlite: put login: it needs a device code's SHA-256, a user code and an expiry")
	}
	if d.CreatedAt.IsZero() {
		d.CreatedAt = time.Now()
	}
	d.UserCode = showUserCode(code)
	err := db.update(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM devices WHERE expires_at <= ?", formatTime(time.Now())); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM devices").Scan(&n); err != nil {
			return err
		}
		if n >= maxPendingLogins {
			return tandem.Errorf(tandem.EUNAVAILABLE, "too many logins are waiting for an answer: try again in a few minutes")
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO devices (hash, user_code, client, created_at, expires_at, person, approved_at, denied_at)
			VALUES (?, ?, ?, ?, ?, '', NULL, NULL)`, hash, code, d.Client, formatTime(d.CreatedAt), formatTime(d.ExpiresAt))
		if isUnique(err) {
			return tandem.Errorf(tandem.ECONFLICT, "that user code is taken")
		}
		return err
	})
	return wrap(err, "put login")
}

const selectDevices = "SELECT user_code, client, created_at, expires_at, person, approved_at, denied_at FROM devices"

func scanDevice(row *sql.Row) (*tandem.DeviceAuth, error) {
	var (
		d     tandem.DeviceAuth
		times [4]sql.NullString
	)
	if err := row.Scan(&d.UserCode, &d.Client, &times[0], &times[1], &d.PersonID, &times[2], &times[3]); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, tandem.Errorf(tandem.ENOTFOUND, "no such login, or it expired: start again with tandem login")
		}
		return nil, err
	}
	d.UserCode = showUserCode(d.UserCode)
	return &d, parseTimes(times[:], &d.CreatedAt, &d.ExpiresAt, &d.ApprovedAt, &d.DeniedAt)
}

// DeviceByUserCode returns the live login of a user code, as a person
// typed it.
func (db *DB) DeviceByUserCode(ctx context.Context, userCode string) (*tandem.DeviceAuth, error) {
	d, err := scanDevice(db.read.QueryRowContext(ctx, selectDevices+" WHERE user_code = ? AND expires_at > ?",
		normalUserCode(userCode), formatTime(time.Now())))
	return d, wrap(err, "login")
}

// ApproveDevice records that the person personID approved the login.
func (db *DB) ApproveDevice(ctx context.Context, userCode, personID string, at time.Time) error {
	return db.answerDevice(ctx, userCode, personID, "approved_at", at)
}

// DenyDevice records that the person said the login was not theirs.
func (db *DB) DenyDevice(ctx context.Context, userCode string, at time.Time) error {
	return db.answerDevice(ctx, userCode, "", "denied_at", at)
}

func (db *DB) answerDevice(ctx context.Context, userCode, personID, column string, at time.Time) error {
	code := normalUserCode(userCode)
	err := db.update(ctx, func(tx *sql.Tx) error {
		d, err := scanDevice(tx.QueryRowContext(ctx, selectDevices+" WHERE user_code = ? AND expires_at > ?", code, formatTime(at)))
		switch {
		case err != nil:
			return err
		case !d.ApprovedAt.IsZero() || !d.DeniedAt.IsZero():
			return tandem.Errorf(tandem.ECONFLICT, "login %s was answered already", d.UserCode)
		}
		if personID != "" {
			var ok bool
			if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM people WHERE id = ?)", personID).Scan(&ok); err != nil {
				return err
			}
			if !ok {
				return tandem.Errorf(tandem.ENOTFOUND, "no person %s", personID)
			}
		}
		// column is one of two constants.
		_, err = tx.ExecContext(ctx, "UPDATE devices SET person = ?, "+column+" = ? WHERE user_code = ?", personID, formatTime(at), code)
		return err
	})
	return wrap(err, "answer login %s", userCode)
}

// TakeDevice returns the live login of a device code's hash, and removes it
// once approved or denied: the answer is given once.
func (db *DB) TakeDevice(ctx context.Context, hash []byte, at time.Time) (*tandem.DeviceAuth, error) {
	var d *tandem.DeviceAuth
	err := db.update(ctx, func(tx *sql.Tx) error {
		var err error
		d, err = scanDevice(tx.QueryRowContext(ctx, selectDevices+" WHERE hash = ? AND expires_at > ?", hash, formatTime(at)))
		if err != nil {
			return err
		}
		if !d.ApprovedAt.IsZero() || !d.DeniedAt.IsZero() {
			_, err = tx.ExecContext(ctx, "DELETE FROM devices WHERE hash = ?", hash)
		}
		return err
	})
	if err != nil {
		return nil, wrap(err, "take login")
	}
	return d, nil
}

// normalUserCode is a user code as stored: upper-case, without the dashes
// and spaces people type.
func normalUserCode(s string) string {
	return strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(s))
}

// showUserCode writes a stored code as people read it: "BCDF-GHJK".
func showUserCode(s string) string {
	if len(s) == 8 {
		return s[:4] + "-" + s[4:]
	}
	return s
}

// parseTimes parses each of ss into the time at the same place in ts.
func parseTimes(ss []sql.NullString, ts ...*time.Time) error {
	for i, s := range ss {
		t, err := parseTime(s)
		if err != nil {
			return err
		}
		*ts[i] = t
	}
	return nil
}

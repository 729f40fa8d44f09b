package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/tandem-dev/tandem"
)

// accessSchema is the migration that adds who may do what: people, grants,
// API tokens, sessions, share links, one-time codes, pending logins and
// their events (tandem.AccessStore). Every secret is kept as its SHA-256
// (tandem.HashSecret), but for TOTP secrets, which a check needs whole and
// which are kept apart from every record that is shown.
const accessSchema = `
CREATE TABLE people (
	id         TEXT PRIMARY KEY,
	email      TEXT NOT NULL UNIQUE,  -- lower-case
	name       TEXT NOT NULL,
	issuer     TEXT NOT NULL,
	subject    TEXT NOT NULL,
	groups     TEXT,                  -- JSON array; NULL: none
	created_at TEXT NOT NULL,
	last_seen  TEXT
) STRICT;
CREATE UNIQUE INDEX people_by_subject ON people (issuer, subject) WHERE subject != '';

CREATE TABLE totp_secrets (
	person TEXT PRIMARY KEY REFERENCES people (id) ON DELETE CASCADE,
	secret TEXT NOT NULL
) STRICT;

CREATE TABLE grants (
	id     INTEGER PRIMARY KEY AUTOINCREMENT,
	repo   TEXT NOT NULL,
	role   TEXT NOT NULL,
	email  TEXT NOT NULL,
	domain TEXT NOT NULL,
	grp    TEXT NOT NULL,
	source TEXT NOT NULL   -- "config" (tandem.yaml) or "api"
) STRICT;

CREATE TABLE tokens (
	id         TEXT PRIMARY KEY,
	hash       BLOB NOT NULL UNIQUE,
	name       TEXT NOT NULL,
	role       TEXT NOT NULL,
	repo       TEXT NOT NULL,
	person     TEXT NOT NULL,
	created_by TEXT NOT NULL,
	created_at TEXT NOT NULL,
	expires_at TEXT,
	last_used  TEXT,
	revoked_at TEXT
) STRICT;

CREATE TABLE sessions (
	id         TEXT PRIMARY KEY,
	hash       BLOB NOT NULL UNIQUE,
	person     TEXT NOT NULL,
	share      TEXT NOT NULL,
	host       TEXT NOT NULL,
	method     TEXT NOT NULL,
	auth_time  TEXT,
	created_at TEXT NOT NULL,
	expires_at TEXT NOT NULL
) STRICT;

CREATE TABLE shares (
	id         TEXT PRIMARY KEY,
	hash       BLOB NOT NULL UNIQUE,
	repo       TEXT NOT NULL,
	preview    TEXT NOT NULL,
	email      TEXT NOT NULL,
	created_by TEXT NOT NULL,
	created_at TEXT NOT NULL,
	expires_at TEXT NOT NULL,
	revoked_at TEXT,
	failures   INTEGER NOT NULL,
	locked_at  TEXT,
	uses       INTEGER NOT NULL
) STRICT;
CREATE INDEX shares_by_preview ON shares (repo, preview);

CREATE TABLE codes (
	key        TEXT PRIMARY KEY,
	hash       BLOB NOT NULL,
	expires_at TEXT NOT NULL,
	attempts   INTEGER NOT NULL
) STRICT;

CREATE TABLE devices (
	hash        BLOB PRIMARY KEY,
	user_code   TEXT NOT NULL UNIQUE,  -- upper-case, no dash
	client      TEXT NOT NULL,
	created_at  TEXT NOT NULL,
	expires_at  TEXT NOT NULL,
	person      TEXT NOT NULL,
	approved_at TEXT,
	denied_at   TEXT
) STRICT;

CREATE TABLE access_events (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	time    TEXT NOT NULL,
	kind    TEXT NOT NULL,
	actor   TEXT NOT NULL,
	repo    TEXT NOT NULL,
	preview TEXT NOT NULL,
	subject TEXT NOT NULL,
	detail  TEXT NOT NULL
) STRICT;
`

var _ tandem.AccessStore = (*DB)(nil)

const selectPeople = `SELECT id, email, name, issuer, subject, groups, created_at, last_seen,
	EXISTS (SELECT 1 FROM totp_secrets WHERE person = people.id) FROM people`

// PutPerson creates or updates p by its ID, giving it one ("p_...") and
// its CreatedAt if it has none. Its email is kept lower-case; an email or
// an SSO account another person has is ECONFLICT. TOTP is not written: it
// follows PutTOTPSecret.
func (db *DB) PutPerson(ctx context.Context, p *tandem.Person) error {
	p.Email = strings.ToLower(strings.TrimSpace(p.Email))
	if p.Email == "" || !strings.Contains(p.Email, "@") {
		return tandem.Errorf(tandem.EINVALID, "sqlite: put person: %q is not an email address", p.Email)
	}
	if (p.Issuer == "") != (p.Subject == "") {
		return tandem.Errorf(tandem.EINVALID, "sqlite: put person %s: an SSO account needs both issuer and subject", p.Email)
	}
	if p.ID == "" {
		p.ID = tandem.NewID("p_")
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = time.Now()
	}
	p.CreatedAt, p.LastSeen = p.CreatedAt.UTC(), p.LastSeen.UTC()
	var groups sql.NullString
	if len(p.Groups) > 0 {
		b, _ := json.Marshal(p.Groups)
		groups = sql.NullString{String: string(b), Valid: true}
	}
	_, err := db.write.ExecContext(ctx, `INSERT INTO people (id, email, name, issuer, subject, groups, created_at, last_seen)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET email = excluded.email, name = excluded.name, issuer = excluded.issuer,
			subject = excluded.subject, groups = excluded.groups, last_seen = excluded.last_seen`,
		p.ID, p.Email, p.Name, p.Issuer, p.Subject, groups, formatTime(p.CreatedAt), formatTime(p.LastSeen))
	if isUnique(err) {
		return tandem.Errorf(tandem.ECONFLICT, "another person has the email address %s or that SSO account", p.Email)
	}
	return wrap(err, "put person %s", p.Email)
}

// Person returns the person with id.
func (db *DB) Person(ctx context.Context, id string) (*tandem.Person, error) {
	return db.onePerson(ctx, "no person "+id, " WHERE id = ?", id)
}

// PersonByEmail returns the person with email, in any case.
func (db *DB) PersonByEmail(ctx context.Context, email string) (*tandem.Person, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	return db.onePerson(ctx, "no person "+email, " WHERE email = ?", email)
}

// PersonBySubject returns the person of an SSO account.
func (db *DB) PersonBySubject(ctx context.Context, issuer, subject string) (*tandem.Person, error) {
	if subject == "" {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "no SSO account without a subject")
	}
	return db.onePerson(ctx, "no person of that SSO account", " WHERE issuer = ? AND subject = ?", issuer, subject)
}

func (db *DB) onePerson(ctx context.Context, missing, where string, args ...any) (*tandem.Person, error) {
	people, err := db.people(ctx, where, args...)
	if err != nil {
		return nil, err
	}
	if len(people) == 0 {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "%s", missing)
	}
	return people[0], nil
}

// People returns everyone, by email.
func (db *DB) People(ctx context.Context) ([]*tandem.Person, error) {
	return db.people(ctx, " ORDER BY email")
}

func (db *DB) people(ctx context.Context, where string, args ...any) ([]*tandem.Person, error) {
	rows, err := db.read.QueryContext(ctx, selectPeople+where, args...)
	if err != nil {
		return nil, wrap(err, "people")
	}
	defer rows.Close()
	people := []*tandem.Person{}
	for rows.Next() {
		var (
			p                 tandem.Person
			groups, at, since sql.NullString
		)
		if err := rows.Scan(&p.ID, &p.Email, &p.Name, &p.Issuer, &p.Subject, &groups, &at, &since, &p.TOTP); err != nil {
			return nil, wrap(err, "people")
		}
		if groups.Valid {
			if err := json.Unmarshal([]byte(groups.String), &p.Groups); err != nil {
				return nil, wrap(err, "groups of %s", p.Email)
			}
		}
		var err1, err2 error
		p.CreatedAt, err1 = parseTime(at)
		p.LastSeen, err2 = parseTime(since)
		if err := errors.Join(err1, err2); err != nil {
			return nil, wrap(err, "person %s", p.Email)
		}
		people = append(people, &p)
	}
	return people, wrap(rows.Err(), "people")
}

// TOTPSecret returns a person's authenticator secret: ENOTFOUND if they
// enrolled none.
func (db *DB) TOTPSecret(ctx context.Context, personID string) (string, error) {
	var secret string
	err := db.read.QueryRowContext(ctx, "SELECT secret FROM totp_secrets WHERE person = ?", personID).Scan(&secret)
	if errors.Is(err, sql.ErrNoRows) {
		return "", tandem.Errorf(tandem.ENOTFOUND, "%s has no authenticator enrolled", personID)
	}
	return secret, wrap(err, "TOTP secret of %s", personID)
}

// PutTOTPSecret keeps a person's authenticator secret; "" removes it. The
// person must exist (ENOTFOUND).
func (db *DB) PutTOTPSecret(ctx context.Context, personID, secret string) error {
	err := db.update(ctx, func(tx *sql.Tx) error {
		var ok bool
		if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM people WHERE id = ?)", personID).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			return tandem.Errorf(tandem.ENOTFOUND, "no person %s", personID)
		}
		if secret == "" {
			_, err := tx.ExecContext(ctx, "DELETE FROM totp_secrets WHERE person = ?", personID)
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO totp_secrets (person, secret) VALUES (?, ?)
			ON CONFLICT (person) DO UPDATE SET secret = excluded.secret`, personID, secret)
		return err
	})
	return wrap(err, "put TOTP secret of %s", personID)
}

// Grants returns every grant, config ones first, then by ID.
func (db *DB) Grants(ctx context.Context) ([]tandem.Grant, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT id, repo, role, email, domain, grp, source FROM grants
		ORDER BY source != 'config', id`)
	if err != nil {
		return nil, wrap(err, "grants")
	}
	defer rows.Close()
	grants := []tandem.Grant{}
	for rows.Next() {
		var g tandem.Grant
		if err := rows.Scan(&g.ID, &g.Repo, &g.Role, &g.Email, &g.Domain, &g.Group, &g.Source); err != nil {
			return nil, wrap(err, "grants")
		}
		grants = append(grants, g)
	}
	return grants, wrap(rows.Err(), "grants")
}

// AddGrant adds g (Source "api" unless it says) and returns it with its
// ID. A grant equal to one there is ECONFLICT.
func (db *DB) AddGrant(ctx context.Context, g tandem.Grant) (tandem.Grant, error) {
	if g.Source == "" {
		g.Source = "api"
	}
	g, err := checkGrant(g)
	if err != nil {
		return g, err
	}
	err = db.update(ctx, func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM grants WHERE repo = ? AND role = ? AND email = ? AND domain = ? AND grp = ?`,
			g.Repo, g.Role, g.Email, g.Domain, g.Group).Scan(&id)
		if err == nil {
			return tandem.Errorf(tandem.ECONFLICT, "grant %d already gives that", id)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		g.ID, err = insertGrant(ctx, tx, g)
		return err
	})
	return g, wrap(err, "add grant")
}

func insertGrant(ctx context.Context, tx *sql.Tx, g tandem.Grant) (int64, error) {
	res, err := tx.ExecContext(ctx, "INSERT INTO grants (repo, role, email, domain, grp, source) VALUES (?, ?, ?, ?, ?, ?)",
		g.Repo, g.Role, g.Email, g.Domain, g.Group, g.Source)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// checkGrant checks g and writes its email and domain lower-case.
func checkGrant(g tandem.Grant) (tandem.Grant, error) {
	g.Email = strings.ToLower(strings.TrimSpace(g.Email))
	g.Domain = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(g.Domain), "@"))
	n := 0
	for _, s := range []string{g.Email, g.Domain, g.Group} {
		if s != "" {
			n++
		}
	}
	role, err := tandem.ParseRole(string(g.Role))
	switch {
	case err != nil:
		return g, err
	case n != 1:
		return g, tandem.Errorf(tandem.EINVALID, "a grant names exactly one of an email, a domain and a group")
	case g.Repo == "":
		return g, tandem.Errorf(tandem.EINVALID, "a grant needs a repository (or %q for all)", tandem.AllRepos)
	case g.Email != "" && !strings.Contains(g.Email, "@"):
		return g, tandem.Errorf(tandem.EINVALID, "grant email %q is not an email address", g.Email)
	case g.Domain != "" && strings.ContainsAny(g.Domain, "@/ "):
		return g, tandem.Errorf(tandem.EINVALID, "grant domain %q is not a domain name", g.Domain)
	case g.Source != "api" && g.Source != "config":
		return g, tandem.Errorf(tandem.EINVALID, "grant source %q: want api or config", g.Source)
	}
	g.Role = role
	return g, nil
}

// DeleteGrant removes an "api" grant: ENOTFOUND if there is none with id,
// ECONFLICT for one tandem.yaml gives (change the file).
func (db *DB) DeleteGrant(ctx context.Context, id int64) error {
	err := db.update(ctx, func(tx *sql.Tx) error {
		var source string
		err := tx.QueryRowContext(ctx, "SELECT source FROM grants WHERE id = ?", id).Scan(&source)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return tandem.Errorf(tandem.ENOTFOUND, "no grant %d", id)
		case err != nil:
			return err
		case source == "config":
			return tandem.Errorf(tandem.ECONFLICT, "grant %d comes from tandem.yaml: change the file", id)
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM grants WHERE id = ?", id)
		return err
	})
	return wrap(err, "delete grant %d", id)
}

// ReplaceConfigGrants swaps every "config" grant for grants, in one
// transaction: none is applied if one is bad.
func (db *DB) ReplaceConfigGrants(ctx context.Context, grants []tandem.Grant) error {
	checked := make([]tandem.Grant, len(grants))
	for i, g := range grants {
		g.Source = "config"
		var err error
		if checked[i], err = checkGrant(g); err != nil {
			return err
		}
	}
	err := db.update(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM grants WHERE source = 'config'"); err != nil {
			return err
		}
		for _, g := range checked {
			if _, err := insertGrant(ctx, tx, g); err != nil {
				return err
			}
		}
		return nil
	})
	return wrap(err, "replace the grants of tandem.yaml")
}

// AddAccessEvent appends e, with its time set to now if it has none.
func (db *DB) AddAccessEvent(ctx context.Context, e tandem.AccessEvent) (tandem.AccessEvent, error) {
	if e.Kind == "" {
		return e, tandem.Errorf(tandem.EINVALID, "sqlite: add access event: an event needs a kind")
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC()
	res, err := db.write.ExecContext(ctx, `INSERT INTO access_events (time, kind, actor, repo, preview, subject, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, formatTime(e.Time), e.Kind, e.Actor, e.Repo, e.Preview, e.Subject, e.Detail)
	if err == nil {
		e.ID, err = res.LastInsertId()
	}
	return e, wrap(err, "add access event")
}

// AccessEvents returns the events after the one with ID after, oldest
// first, at most limit (0 or less: all).
func (db *DB) AccessEvents(ctx context.Context, after int64, limit int) ([]tandem.AccessEvent, error) {
	if limit <= 0 {
		limit = -1
	}
	rows, err := db.read.QueryContext(ctx, `SELECT id, time, kind, actor, repo, preview, subject, detail FROM access_events
		WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
	if err != nil {
		return nil, wrap(err, "access events")
	}
	defer rows.Close()
	events := []tandem.AccessEvent{}
	for rows.Next() {
		var (
			e tandem.AccessEvent
			t sql.NullString
		)
		if err := rows.Scan(&e.ID, &t, &e.Kind, &e.Actor, &e.Repo, &e.Preview, &e.Subject, &e.Detail); err != nil {
			return nil, wrap(err, "access events")
		}
		if e.Time, err = parseTime(t); err != nil {
			return nil, wrap(err, "access event %d", e.ID)
		}
		events = append(events, e)
	}
	return events, wrap(rows.Err(), "access events")
}

// isUnique reports whether err is a UNIQUE or PRIMARY KEY constraint's.
func isUnique(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && (e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}

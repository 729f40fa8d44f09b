// Package sqlite keeps tandem's state — previews, their secrets and their
// events — in a SQLite file, with modernc.org/sqlite so the binary needs no
// cgo.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/tandem-dev/tandem"
)

// DB is tandem's state in a SQLite file, in WAL mode. It is safe for use by
// many goroutines, and by several processes that open the same file.
//
// It holds two pools over the one file. SQLite lets one connection write at
// a time, and a writer that finds the file locked sleeps and polls until
// busy_timeout runs out, unfairly: many in-process writers contending that
// way get SQLITE_BUSY under load. So all writes go through a pool of exactly
// one connection, where database/sql queues them in order and honours each
// caller's context; busy_timeout is left for other processes. Reads go
// through a pool of several read-only connections, which WAL lets run beside
// the writer without blocking it or being blocked.
type DB struct {
	path  string
	write *sql.DB
	read  *sql.DB

	// Statements on the hot paths, prepared once per connection: SQLite
	// spends more time parsing a query than running one of these.
	putPreview, getPreview, addEvent, getEvents *sql.Stmt
}

var _ tandem.PreviewStore = (*DB)(nil)

// Open opens the state database at path, creating the file and its schema
// if needed and migrating an older schema forward. The directory must exist.
// The file and its -wal and -shm are readable by their owner only.
func Open(path string) (*DB, error) {
	return open(path, migrations)
}

func open(path string, migrations []string) (*DB, error) {
	if path == "" {
		return nil, tandem.Errorf(tandem.EINVALID, "sqlite: no database path")
	}
	if err := private(path); err != nil {
		return nil, err
	}
	db := &DB{path: path}

	// _txlock=immediate: a write transaction takes the write lock at BEGIN,
	// where busy_timeout applies, rather than upgrading from a read lock
	// mid-transaction, where SQLite fails at once with SQLITE_BUSY.
	// synchronous(FULL): a commit survives power loss, not only kill -9;
	// events are the audit trail's raw material.
	var err error
	db.write, err = sql.Open("sqlite", dsn(path,
		"_pragma=busy_timeout(5000)",
		"_pragma=journal_mode(WAL)",
		"_pragma=synchronous(FULL)",
		"_pragma=foreign_keys(1)",
		"_txlock=immediate"))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.write.SetMaxOpenConns(1)
	db.write.SetMaxIdleConns(1)
	db.write.SetConnMaxLifetime(0)
	db.write.SetConnMaxIdleTime(0)

	// The write pool's first connection sets WAL mode, which persists in the
	// file, and migrates; read connections come after both.
	if err := migrate(context.Background(), db.write, migrations); err != nil {
		db.write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}

	// query_only makes a write through the read pool an error instead of a
	// second, uncoordinated writer.
	db.read, err = sql.Open("sqlite", dsn(path,
		"_pragma=busy_timeout(5000)",
		"_pragma=query_only(1)"))
	if err != nil {
		db.write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	db.read.SetMaxOpenConns(n)
	db.read.SetMaxIdleConns(n) // a new connection re-reads the schema: keep them
	db.read.SetConnMaxLifetime(0)
	db.read.SetConnMaxIdleTime(0)
	if err := db.prepare(); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return db, nil
}

func (db *DB) prepare() error {
	for _, s := range []struct {
		stmt **sql.Stmt
		pool *sql.DB
		sql  string
	}{
		{&db.putPreview, db.write, upsertPreview},
		{&db.getPreview, db.read, selectPreviews + " WHERE name = ?"},
		{&db.addEvent, db.write, insertEvent},
		{&db.getEvents, db.read, selectEvents},
	} {
		var err error
		if *s.stmt, err = s.pool.Prepare(s.sql); err != nil {
			return err
		}
	}
	return nil
}

// dsn makes a file: URI of path. SQLite decodes %HH in a URI's path, and the
// driver splits the DSN at the first '?', so those characters are escaped.
func dsn(path string, params ...string) string {
	path = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return "file:" + path + "?" + strings.Join(params, "&")
}

// Close closes the database. Everything committed is already on disk.
func (db *DB) Close() error {
	var errs []error
	for _, s := range []*sql.Stmt{db.putPreview, db.getPreview, db.addEvent, db.getEvents} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	if db.read != nil {
		errs = append(errs, db.read.Close())
	}
	if db.write != nil {
		errs = append(errs, db.write.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close %s: %w", db.path, err)
	}
	return nil
}

// update runs fn in one write transaction, committed if fn returns nil.
// Errors from fn come back as they are, so a tandem.Error keeps its code.
func (db *DB) update(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() // a no-op once committed
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// view runs fn in one read transaction, so that every query in it sees the
// same snapshot of the database.
func (db *DB) view(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return fn(tx)
}

func notFound(name string) error {
	return tandem.Errorf(tandem.ENOTFOUND, "no preview %q", name)
}

// wrap adds context to an unexpected error and passes a tandem.Error (such
// as ENOTFOUND) through unchanged, so its message stays the one for people.
func wrap(err error, format string, args ...any) error {
	if err == nil || tandem.ErrorCode(err) != tandem.EINTERNAL {
		return err
	}
	return fmt.Errorf("sqlite: "+format+": %w", append(args, err)...)
}

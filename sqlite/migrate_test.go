package sqlite

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandem-dev/tandem"
)

func TestOpenNewFile(t *testing.T) {
	db := openTest(t)
	var version int
	var mode string
	if err := db.read.QueryRow("PRAGMA user_version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if err := db.read.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if version != len(migrations) || mode != "wal" {
		t.Errorf("user_version %d, journal_mode %q; want %d, wal", version, mode, len(migrations))
	}
}

// A later tandem adds a migration: opening a file made before it keeps the
// data and brings the schema forward, once.
func TestMigrateForward(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tandem.db")
	old, err := open(path, migrations)
	if err != nil {
		t.Fatal(err)
	}
	want := fullPreview("pr-7")
	if err := old.PutPreview(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	next := append(migrations[:len(migrations):len(migrations)],
		`CREATE TABLE approvals (id INTEGER PRIMARY KEY, preview TEXT NOT NULL) STRICT;
		 INSERT INTO approvals (preview) SELECT name FROM previews;`)
	for range 2 { // the second open finds nothing to do
		db, err := open(path, next)
		if err != nil {
			t.Fatal(err)
		}
		got, err := db.Preview(t.Context(), "pr-7")
		if err != nil {
			t.Fatal(err)
		}
		assertPreviewEqual(t, got, want)
		var version, approvals int
		if err := db.read.QueryRow("PRAGMA user_version").Scan(&version); err != nil {
			t.Fatal(err)
		}
		if err := db.read.QueryRow("SELECT count(*) FROM approvals").Scan(&approvals); err != nil {
			t.Fatal(err)
		}
		if version != len(next) || approvals != 1 {
			t.Errorf("user_version %d, %d approvals; want %d, 1", version, approvals, len(next))
		}
		db.Close()
	}
}

// A migration that fails leaves the file as it was: no half-made schema, the
// old version, and the old tandem can still open it.
func TestMigrationFailureRollsBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tandem.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	bad := append(migrations[:len(migrations):len(migrations)],
		`CREATE TABLE half (x INTEGER); INSERT INTO no_such_table VALUES (1);`)
	if _, err := open(path, bad); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("version %d", len(bad))) {
		t.Fatalf("open with a failing migration: %v, want an error naming version %d", err, len(bad))
	}

	db, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var version, half int
	if err := db.read.QueryRow("PRAGMA user_version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if err := db.read.QueryRow("SELECT count(*) FROM sqlite_schema WHERE name = 'half'").Scan(&half); err != nil {
		t.Fatal(err)
	}
	if version != len(migrations) || half != 0 {
		t.Errorf("after a failed migration: user_version %d, table half exists: %v", version, half == 1)
	}
}

// A file written by a newer tandem must not be used, or half-understood.
func TestOpenNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tandem.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	raw, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	_, err = Open(path)
	assertCode(t, err, tandem.EUNSUPPORTED)
	for _, s := range []string{path, "99", "newer", "upgrade tandem"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
}

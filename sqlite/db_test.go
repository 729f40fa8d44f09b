package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/tandem-dev/tandem"
)

// Closing and opening again, as a restart does, finds everything committed.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tandem.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	want := fullPreview("pr-7")
	if err := db.PutPreview(ctx, want); err != nil {
		t.Fatal(err)
	}
	if err := db.PutSecrets(ctx, "pr-7", map[string]string{"K": "v"}); err != nil {
		t.Fatal(err)
	}
	e, err := db.AddEvent(ctx, tandem.Event{Preview: "pr-7", Kind: "state", Detail: "ready"})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got, err := db.Preview(ctx, "pr-7")
	if err != nil {
		t.Fatal(err)
	}
	assertPreviewEqual(t, got, want)
	if s, err := db.Secrets(ctx, "pr-7"); err != nil || s["K"] != "v" {
		t.Errorf("secrets after reopen = %v, %v", s, err)
	}
	events, err := db.Events(ctx, "pr-7", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	assertEvents(t, events, []tandem.Event{e})
}

// Two Opens of one file, as two processes would have, each see what the
// other commits.
func TestTwoOpens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tandem.db")
	a, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := t.Context()

	if err := a.PutPreview(ctx, fullPreview("pr-a")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Preview(ctx, "pr-a"); err != nil {
		t.Errorf("b does not see a's write: %v", err)
	}
	if err := b.PutPreview(ctx, fullPreview("pr-b")); err != nil {
		t.Fatal(err)
	}
	if err := b.DeletePreview(ctx, "pr-a"); err != nil {
		t.Fatal(err)
	}
	list, err := a.Previews(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Name != "pr-b" {
		t.Errorf("a sees %d previews after b's writes, want only pr-b", len(list))
	}
}

// The read pool must never write: a second writer in the process would
// contend with the write pool for the lock.
func TestReadPoolIsReadOnly(t *testing.T) {
	db := openTest(t)
	if _, err := db.read.Exec("INSERT INTO events (preview, time, kind, detail) VALUES ('x', 'x', 'x', 'x')"); err == nil {
		t.Error("a write through the read pool succeeded")
	}
}

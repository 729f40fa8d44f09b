package sqlite

import (
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
)

// openTest opens a fresh database in a temporary directory, closed when the
// test ends.
func openTest(t testing.TB) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "tandem.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return db
}

// fullPreview has every field set, times in a zone other than UTC and with
// nanoseconds, so a field the store drops or rounds shows up.
func fullPreview(name string) *tandem.Preview {
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	created := time.Date(2026, 11, 21, 9, 30, 15, 123456789, zone)
	return &tandem.Preview{
		Name:       name,
		Repo:       "shop",
		Ref:        "refs/pull/7/head",
		PR:         7,
		Commit:     "0123456789abcdef0123456789abcdef01234567",
		Branch:     "feature/search",
		State:      tandem.PreviewFailed,
		Step:       "build web",
		Error:      "exit status 1",
		LogTail:    []string{"> next build", "Type error: ’x’ is not assignable", ""},
		URL:        "https://" + name + ".previews.example.com",
		TTL:        72*time.Hour + 1,
		ExpiresAt:  created.Add(72*time.Hour + 1),
		CreatedAt:  created,
		UpdatedAt:  created.Add(90 * time.Second),
		ReadyAt:    created.Add(42*time.Second + 7),
		Generation: 3,
		Serving:    2,
		Binding: tandem.Binding{
			Repo:        "shop",
			Commit:      "fedcba9876543210fedcba9876543210fedcba98",
			StackDigest: "sha256:aaaa",
			Builds:      map[string]string{"api": "sha256:bbbb", "web": "sha256:cccc"},
			SnapshotKey: "sha256:dddd",
			Sources:     map[string]string{"api": "backend@89abcdef0123456789abcdef0123456789abcdef"},
			ReviewPlan:  "sha256:eeee",
		},
		Author:        "alice@corp.example",
		RequestedBy:   "gitea:alice",
		RequestReason: "opened pull request #7",
		Untrusted:     true,
		SourceRefs:    map[string]string{"api": "backend@refs/pull/515/head"},
	}
}

// assertNoZeroFields fails for any zero field of v, recursively, so that a
// field added to Preview or Binding fails the round trip until the store
// keeps it.
// notStored are the fields the store does not keep, by design.
var notStored = map[string]bool{
	"Preview.Asleep": true, // the preview manager's, known only while it runs
}

func assertNoZeroFields(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	if notStored[path] {
		return
	}
	if v.IsZero() {
		t.Errorf("fixture leaves %s zero: set it, and store it", path)
		return
	}
	if v.Kind() == reflect.Struct && v.Type() != reflect.TypeFor[time.Time]() {
		for i := range v.NumField() {
			assertNoZeroFields(t, v.Field(i), path+"."+v.Type().Field(i).Name)
		}
	}
}

// assertPreviewEqual compares times as instants, and checks that they come
// back in UTC, then everything else exactly.
func assertPreviewEqual(t *testing.T, got, want *tandem.Preview) {
	t.Helper()
	g, w := *got, *want
	for _, f := range []struct {
		name      string
		got, want *time.Time
	}{
		{"ExpiresAt", &g.ExpiresAt, &w.ExpiresAt},
		{"CreatedAt", &g.CreatedAt, &w.CreatedAt},
		{"UpdatedAt", &g.UpdatedAt, &w.UpdatedAt},
		{"ReadyAt", &g.ReadyAt, &w.ReadyAt},
	} {
		if !f.got.Equal(*f.want) {
			t.Errorf("%s = %v, want %v", f.name, *f.got, *f.want)
		}
		if !f.got.IsZero() && f.got.Location() != time.UTC {
			t.Errorf("%s in %v, want UTC", f.name, f.got.Location())
		}
		*f.got, *f.want = time.Time{}, time.Time{}
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("read back\n%+v\nwant\n%+v", g, w)
	}
}

func assertCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := tandem.ErrorCode(err); got != code {
		t.Fatalf("error %v has code %q, want %q", err, got, code)
	}
}

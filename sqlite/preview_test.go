package sqlite

import (
	"reflect"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
)

func TestPreviewRoundTrip(t *testing.T) {
	db := openTest(t)
	want := fullPreview("pr-7")
	assertNoZeroFields(t, reflect.ValueOf(*want), "Preview")

	if err := db.PutPreview(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	got, err := db.Preview(t.Context(), "pr-7")
	if err != nil {
		t.Fatal(err)
	}
	assertPreviewEqual(t, got, want)

	list, err := db.Previews(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Fatalf("Previews returned %d, want 1", len(list))
	}
	assertPreviewEqual(t, list[0], want)
}

// A preview with nothing but a name comes back with nil lists and zero
// times, not empty ones or the Unix epoch.
func TestPreviewRoundTripZero(t *testing.T) {
	db := openTest(t)
	want := &tandem.Preview{Name: "pr-1", State: tandem.PreviewQueued}
	if err := db.PutPreview(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	got, err := db.Preview(t.Context(), "pr-1")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read back\n%+v\nwant\n%+v", got, want)
	}
}

func TestPutPreviewReplaces(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	p := fullPreview("pr-7")
	if err := db.PutPreview(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := db.PutSecrets(ctx, "pr-7", map[string]string{"DJANGO_SECRET_KEY": "s3cret"}); err != nil {
		t.Fatal(err)
	}

	p.State, p.Step, p.Error, p.LogTail = tandem.PreviewReady, "", "", nil
	p.Generation, p.Serving = 4, 4
	p.ReadyAt = time.Now()
	p.Binding.Builds = map[string]string{"web": "sha256:eeee"}
	if err := db.PutPreview(ctx, p); err != nil {
		t.Fatal(err)
	}
	got, err := db.Preview(ctx, "pr-7")
	if err != nil {
		t.Fatal(err)
	}
	assertPreviewEqual(t, got, p)

	// An update is not a delete and re-create: the secrets must stay, or the
	// application's sessions and signed data break on every new commit.
	secrets, err := db.Secrets(ctx, "pr-7")
	if err != nil {
		t.Fatal(err)
	}
	if secrets["DJANGO_SECRET_KEY"] != "s3cret" {
		t.Errorf("secrets after update = %v, want them kept", secrets)
	}
}

func TestPutPreviewInvalid(t *testing.T) {
	db := openTest(t)
	for _, p := range []*tandem.Preview{nil, {}, {Name: "PR_7"}, {Name: "-x"}} {
		assertCode(t, db.PutPreview(t.Context(), p), tandem.EINVALID)
	}
}

func TestPreviewsSortedByName(t *testing.T) {
	db := openTest(t)
	list, err := db.Previews(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if list == nil || len(list) != 0 {
		t.Errorf("Previews of an empty store = %#v, want an empty list", list)
	}

	for _, name := range []string{"pr-2", "main", "pr-10", "a", "pr-1"} {
		if err := db.PutPreview(t.Context(), &tandem.Preview{Name: name, State: tandem.PreviewQueued}); err != nil {
			t.Fatal(err)
		}
	}
	list, err = db.Previews(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range list {
		names = append(names, p.Name)
	}
	want := []string{"a", "main", "pr-1", "pr-10", "pr-2"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("Previews = %v, want %v", names, want)
	}
}

func TestDeletePreview(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	for _, name := range []string{"pr-1", "pr-2"} {
		if err := db.PutPreview(ctx, fullPreview(name)); err != nil {
			t.Fatal(err)
		}
		if err := db.PutSecrets(ctx, name, map[string]string{"K": "v-" + name}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.AddEvent(ctx, tandem.Event{Preview: name, Kind: "state", Detail: "ready"}); err != nil {
			t.Fatal(err)
		}
	}

	if err := db.DeletePreview(ctx, "pr-1"); err != nil {
		t.Fatal(err)
	}
	_, err := db.Preview(ctx, "pr-1")
	assertCode(t, err, tandem.ENOTFOUND)
	_, err = db.Secrets(ctx, "pr-1")
	assertCode(t, err, tandem.ENOTFOUND)
	var n int
	if err := db.read.QueryRowContext(ctx, "SELECT count(*) FROM secrets WHERE preview = 'pr-1'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d secrets of the deleted preview left in the table", n)
	}
	events, err := db.Events(ctx, "pr-1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 {
		t.Errorf("events of the deleted preview = %v, want them kept", events)
	}

	// The other preview is untouched.
	if _, err := db.Preview(ctx, "pr-2"); err != nil {
		t.Error(err)
	}
	if s, err := db.Secrets(ctx, "pr-2"); err != nil || s["K"] != "v-pr-2" {
		t.Errorf("secrets of pr-2 = %v, %v", s, err)
	}

	assertCode(t, db.DeletePreview(ctx, "pr-1"), tandem.ENOTFOUND)
}

func TestNotFound(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	_, err := db.Preview(ctx, "pr-404")
	assertCode(t, err, tandem.ENOTFOUND)
	if want := `no preview "pr-404"`; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	assertCode(t, db.DeletePreview(ctx, "pr-404"), tandem.ENOTFOUND)
	_, err = db.Secrets(ctx, "pr-404")
	assertCode(t, err, tandem.ENOTFOUND)
	assertCode(t, db.PutSecrets(ctx, "pr-404", map[string]string{"K": "v"}), tandem.ENOTFOUND)
}

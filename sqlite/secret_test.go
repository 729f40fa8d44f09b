package sqlite

import (
	"encoding/json"
	"maps"
	"strings"
	"testing"

	"github.com/tandem-dev/tandem"
)

func TestSecrets(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	if err := db.PutPreview(ctx, fullPreview("pr-7")); err != nil {
		t.Fatal(err)
	}
	got, err := db.Secrets(ctx, "pr-7")
	if err != nil {
		t.Fatal(err)
	}
	if got == nil || len(got) != 0 {
		t.Errorf("secrets before any = %#v, want an empty map", got)
	}

	first := map[string]string{"DJANGO_SECRET_KEY": "a", "NEXTAUTH_SECRET": "b"}
	if err := db.PutSecrets(ctx, "pr-7", first); err != nil {
		t.Fatal(err)
	}
	if got, err = db.Secrets(ctx, "pr-7"); err != nil || !maps.Equal(got, first) {
		t.Errorf("Secrets = %v, %v; want %v", got, err, first)
	}

	// Put replaces: a name no longer listed is gone.
	second := map[string]string{"NEXTAUTH_SECRET": "c"}
	if err := db.PutSecrets(ctx, "pr-7", second); err != nil {
		t.Fatal(err)
	}
	if got, err = db.Secrets(ctx, "pr-7"); err != nil || !maps.Equal(got, second) {
		t.Errorf("Secrets = %v, %v; want %v", got, err, second)
	}

	assertCode(t, db.PutSecrets(ctx, "pr-7", map[string]string{"": "x"}), tandem.EINVALID)
}

// Whatever shows a preview (the API, the CLI) starts from Preview or
// Previews; the secret's value must not be anywhere in what they return.
func TestSecretsNotInPreview(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	const value = "tandem-test-secret-9f8e7d6c5b4a"
	if err := db.PutPreview(ctx, fullPreview("pr-7")); err != nil {
		t.Fatal(err)
	}
	if err := db.PutSecrets(ctx, "pr-7", map[string]string{"DJANGO_SECRET_KEY": value}); err != nil {
		t.Fatal(err)
	}

	p, err := db.Preview(ctx, "pr-7")
	if err != nil {
		t.Fatal(err)
	}
	list, err := db.Previews(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []any{p, list} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), value) {
			t.Errorf("secret value in %s", b)
		}
	}
}

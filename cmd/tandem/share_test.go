package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/access"
	"github.com/tandem-dev/tandem/httpapi"
	"github.com/tandem-dev/tandem/internal/testmail"
	"github.com/tandem-dev/tandem/mail"
	"github.com/tandem-dev/tandem/preview"
	"github.com/tandem-dev/tandem/sqlite"
	"github.com/tandem-dev/tandem/supervisor"
)

// storedPreviews answers the API's preview lookups from the state
// database: a server whose previews are records, not running instances.
type storedPreviews struct{ db *sqlite.DB }

func (p storedPreviews) Get(ctx context.Context, name string) (*tandem.Preview, error) {
	return p.db.Preview(ctx, name)
}
func (p storedPreviews) List(ctx context.Context) ([]*tandem.Preview, error) {
	return p.db.Previews(ctx)
}
func (p storedPreviews) Create(context.Context, preview.CreateRequest) (*tandem.Preview, error) {
	return nil, tandem.Errorf(tandem.EUNSUPPORTED, "no previews are made here")
}
func (p storedPreviews) Destroy(context.Context, string) error {
	return tandem.Errorf(tandem.EUNSUPPORTED, "no previews are destroyed here")
}
func (p storedPreviews) Logs(context.Context, string, string, int) ([]string, error) { return nil, nil }
func (p storedPreviews) Follow(string, string) (<-chan supervisor.Line, func(), error) {
	return nil, func() {}, tandem.Errorf(tandem.EUNSUPPORTED, "no logs here")
}
func (p storedPreviews) Events(ctx context.Context, name string, after int64) ([]tandem.Event, error) {
	return p.db.Events(ctx, name, after, 0)
}
func (p storedPreviews) Subscribe(string) (<-chan tandem.Event, func()) { return nil, func() {} }

// tandem share against the real API, access server and store: who may
// share, the link printed once, listed, mailed, revoked.
func TestShareCLI(t *testing.T) {
	s := newAccessServer(t)
	ctx := context.Background()
	if err := s.store.PutPreview(ctx, &tandem.Preview{Name: "pr-7", Repo: "shop", State: tandem.PreviewReady, Generation: 1, Serving: 1}); err != nil {
		t.Fatal(err)
	}
	mp := testmail.Start(t)
	sender, err := mail.New(mail.Config{Host: mp.Host, Port: mp.Port, TLS: "none", From: "previews@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	shares, err := access.New(access.Config{Store: s.store, Previews: s.store, Domain: "previews.example.com", Mail: sender,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	s.api.Previews, s.api.Shares = storedPreviews{s.store}, shares

	tokens := map[string]string{}
	for _, role := range []string{"viewer", "reviewer"} {
		code, out, stderr := runSplit(t, "token", "create", "--name", role, "--role", role, "--repo", "shop", "--config", s.config)
		if code != 0 {
			t.Fatalf("token create: %s", stderr)
		}
		file := filepath.Join(t.TempDir(), role)
		os.WriteFile(file, []byte(out), 0o600)
		tokens[role] = file
	}
	as := func(role string, args ...string) (int, string, string) {
		return runSplit(t, append(append([]string{"share", "pr-7"}, args...), "--server", s.url, "--token-file", tokens[role])...)
	}

	code, out, stderr := as("reviewer", "--email", "Alice@Client.example", "--ttl", "2h")
	if code != 0 || !strings.HasPrefix(out, "https://auth.previews.example.com/share?k=tdml_") || strings.Count(out, "\n") != 1 ||
		!strings.Contains(stderr, "alice@client.example may open pr-7") {
		t.Fatalf("share: %d %q %q", code, out, stderr)
	}
	if code, _, stderr := as("viewer", "--email", "bob@client.example"); code == 0 || !strings.Contains(stderr, "reviewer") {
		t.Errorf("a viewer shared: %d %s", code, stderr)
	}
	if code, _, stderr := as("reviewer"); code == 0 || !strings.Contains(stderr, "--email") {
		t.Errorf("no address: %d %s", code, stderr)
	}
	if code, _, _ := runSplit(t, "share", "pr-404", "--email", "a@b.example", "--server", s.url, "--token-file", tokens["reviewer"]); code == 0 {
		t.Error("a preview that does not exist was shared")
	}

	code, out, _ = as("reviewer", "--email", "carol@client.example", "--send", "--json")
	var made httpapi.NewShare
	if err := json.Unmarshal([]byte(out), &made); code != 0 || err != nil || made.Share.Email != "carol@client.example" {
		t.Fatalf("--send --json: %d %q", code, out)
	}
	if m := mp.Wait(t, "carol@client.example", 0); !strings.Contains(m.Text, made.URL) {
		t.Errorf("the mail lacks the link: %q", m.Text)
	}
	if !made.Share.ExpiresAt.After(time.Now().Add(47*time.Hour)) || made.Share.CreatedBy != "token reviewer ("+strings.Split(made.Share.CreatedBy, "(")[1] {
		t.Errorf("%+v", made.Share)
	}

	code, out, _ = as("reviewer", "--list")
	if code != 0 || strings.Count(out, "active") != 2 || !strings.Contains(out, "alice@client.example") {
		t.Errorf("list: %d\n%s", code, out)
	}
	if code, out, _ := as("viewer", "--list"); code == 0 {
		t.Errorf("a viewer listed share links: %s", out)
	}
	if code, out, stderr := as("reviewer", "--revoke", made.Share.ID); code != 0 || !strings.Contains(out, "carol@client.example may no longer open pr-7") {
		t.Errorf("revoke: %d %s %s", code, out, stderr)
	}
	code, out, _ = as("reviewer", "--list")
	if code != 0 || !strings.Contains(out, "revoked") || strings.Count(out, "active") != 1 {
		t.Errorf("list after the revoke:\n%s", out)
	}
	events, _ := s.store.AccessEvents(ctx, 0, 0)
	var kinds []string
	for _, e := range events {
		if strings.HasPrefix(e.Kind, "share.") {
			kinds = append(kinds, e.Kind+" "+e.Actor)
		}
	}
	if len(kinds) != 3 || !strings.HasPrefix(kinds[2], "share.revoked token reviewer (") {
		t.Errorf("events %v", kinds)
	}
}

package forge_test

import (
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/forge"
	"github.com/tandem-dev/tandem/gitea"
	"github.com/tandem-dev/tandem/sqlite"
)

// A delivery whose handling fails is tried again after a backoff that
// doubles, up to a limit; it fails for good after too many tries, or at
// once when trying again cannot help.
func TestDeliveryRetries(t *testing.T) {
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "tandem.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	// A Gitea that is down: nothing listens where its API should be.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	down := "http://" + ln.Addr().String()
	ln.Close()
	c, _ := gitea.New(gitea.Config{URL: down, Token: "t", WebhookSecret: []byte("s")})
	s := forge.New(forge.Options{Store: store, Forges: map[string]forge.Client{"gitea": c}, MaxAttempts: 3, MaxBackoff: 90 * time.Second,
		Repos: []forge.Repo{{Name: "shop", Forge: "gitea", Project: "a/shop", Previews: true, Paths: []string{"web/**"}}}})
	ctx := context.Background()
	ev, _ := json.Marshal(forge.Event{Delivery: "d1", Action: forge.Labeled, Project: "a/shop", Number: 4, Head: "abc", IsPR: true})
	store.AddDelivery(ctx, tandem.ForgeDelivery{Forge: "gitea", ID: "d1", Event: ev})
	for try, wait := range []time.Duration{time.Second, 2 * time.Second} {
		d, _ := store.Delivery(ctx, "gitea", "d1")
		before := time.Now()
		s.Attempt(ctx, *d)
		d, _ = store.Delivery(ctx, "gitea", "d1")
		if d.State != tandem.DeliveryPending || d.Attempts != try+1 || !strings.Contains(d.Error, "forge API") ||
			d.NextAt.Before(before.Add(wait)) || d.NextAt.After(time.Now().Add(wait)) {
			t.Fatalf("after try %d: %+v", try+1, d)
		}
		if due, _ := store.DueDeliveries(ctx, time.Now(), 10); len(due) != 0 {
			t.Errorf("due before its backoff ran out: %+v", due)
		}
	}
	d, _ := store.Delivery(ctx, "gitea", "d1")
	s.Attempt(ctx, *d)
	if d, _ = store.Delivery(ctx, "gitea", "d1"); d.State != tandem.DeliveryFailed || d.Attempts != 3 {
		t.Errorf("after the last try: %+v", d)
	}

	store.AddDelivery(ctx, tandem.ForgeDelivery{Forge: "gitea", ID: "d2", Event: []byte(`{"action":`)})
	d, _ = store.Delivery(ctx, "gitea", "d2")
	s.Attempt(ctx, *d)
	if d, _ = store.Delivery(ctx, "gitea", "d2"); d.State != tandem.DeliveryFailed || d.Attempts != 1 {
		t.Errorf("an event that cannot be read: %+v", d)
	}
	if b := s.Backoff(40); b != 90*time.Second {
		t.Errorf("backoff after 40 tries: %s", b)
	}
	if got := s.Retries("gitea"); got != 2 {
		t.Errorf("retries counted: %v", got)
	}
}

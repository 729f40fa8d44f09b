package sqlite

import (
	"context"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
)

// A delivery is recorded once: a forge's redelivery of the same ID is seen
// as such, and pending deliveries come back due in order until handled.
func TestForgeDeliveries(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	now := time.Now().UTC()
	for i, id := range []string{"b", "a", "b"} {
		added, err := db.AddDelivery(ctx, tandem.ForgeDelivery{Forge: "gitea", ID: id, Event: []byte(`{"n":1}`), Received: now.Add(time.Duration(i) * time.Second)})
		if err != nil || added != (i < 2) {
			t.Fatalf("add %s: %v %v", id, added, err)
		}
	}
	if added, _ := db.AddDelivery(ctx, tandem.ForgeDelivery{Forge: "github", ID: "b", Event: []byte(`{}`), Received: now.Add(5 * time.Second)}); !added {
		t.Error("the same ID from another forge is another delivery")
	}
	due, err := db.DueDeliveries(ctx, now.Add(time.Minute), 10)
	if err != nil || len(due) != 3 || due[0].ID != "b" || due[0].Forge != "gitea" || due[1].ID != "a" || string(due[0].Event) != `{"n":1}` {
		t.Fatalf("due: %+v %v", due, err)
	}
	d := due[0]
	d.Attempts, d.NextAt, d.Error = 1, now.Add(time.Hour), "forge down"
	if err := db.UpdateDelivery(ctx, d); err != nil {
		t.Fatal(err)
	}
	a := due[1]
	a.State = tandem.DeliveryDone
	db.UpdateDelivery(ctx, a)
	due, _ = db.DueDeliveries(ctx, now.Add(time.Minute), 10)
	if len(due) != 1 || due[0].Forge != "github" {
		t.Errorf("due after a retry was put off and one done: %+v", due)
	}
	got, err := db.Delivery(ctx, "gitea", "b")
	if err != nil || got.Attempts != 1 || got.Error != "forge down" || !got.NextAt.Equal(now.Add(time.Hour)) {
		t.Errorf("delivery: %+v %v", got, err)
	}
	if _, err := db.Delivery(ctx, "gitea", "zz"); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("missing delivery: %v", err)
	}
}

func TestForgePRs(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	pr := &tandem.ForgePR{Forge: "gitea", Project: "alice/shop", Number: 7, Repo: "shop", Preview: "shop-pr-7",
		Head: "abc", Author: "bob", Fork: true, Held: true, AllowedHead: "abc", AllowedBy: "alice",
		CommentID: 42, Deployment: 9, Reported: "1:ready", UpdatedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)}
	if err := db.PutForgePR(ctx, pr); err != nil {
		t.Fatal(err)
	}
	got, err := db.ForgePR(ctx, "gitea", "alice/shop", 7)
	if err != nil || *got != *pr {
		t.Fatalf("got %+v, %v\nwant %+v", got, err, pr)
	}
	got, err = db.ForgePRByPreview(ctx, "shop-pr-7")
	if err != nil || *got != *pr {
		t.Fatalf("by preview: %+v, %v", got, err)
	}
	if _, err := db.ForgePR(ctx, "gitea", "alice/shop", 8); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("missing: %v", err)
	}
}

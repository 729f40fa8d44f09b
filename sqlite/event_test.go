package sqlite

import (
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
)

func TestAddEvent(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()

	before := time.Now()
	e, err := db.AddEvent(ctx, tandem.Event{Preview: "pr-7", Kind: "state", Detail: "queued"})
	if err != nil {
		t.Fatal(err)
	}
	if e.ID <= 0 {
		t.Errorf("ID = %d, want one set", e.ID)
	}
	if e.Time.Before(before) || e.Time.After(time.Now()) || e.Time.Location() != time.UTC {
		t.Errorf("Time = %v, want now in UTC", e.Time)
	}

	// A time given is kept, as an instant, to the nanosecond.
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("EST", -5*3600))
	e2, err := db.AddEvent(ctx, tandem.Event{Preview: "pr-7", Kind: "step", Detail: "build web", Time: at})
	if err != nil {
		t.Fatal(err)
	}
	if !e2.Time.Equal(at) || e2.ID <= e.ID {
		t.Errorf("second event = %+v, want time %v and an ID above %d", e2, at, e.ID)
	}

	// What AddEvent returns is exactly what Events reads back.
	got, err := db.Events(ctx, "pr-7", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != e || got[1] != e2 {
		t.Errorf("Events = %+v, want %+v, %+v", got, e, e2)
	}

	for _, bad := range []tandem.Event{{Kind: "state"}, {Preview: "pr-7"}} {
		_, err := db.AddEvent(ctx, bad)
		assertCode(t, err, tandem.EINVALID)
	}
}

func TestEventsPaging(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	var want []tandem.Event
	for i := range 10 {
		e, err := db.AddEvent(ctx, tandem.Event{Preview: "pr-1", Kind: "log", Detail: string(rune('a' + i))})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, e)
		// Another preview's events in between must not show.
		if _, err := db.AddEvent(ctx, tandem.Event{Preview: "pr-2", Kind: "log"}); err != nil {
			t.Fatal(err)
		}
	}

	all, err := db.Events(ctx, "pr-1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	assertEvents(t, all, want)

	// Page through three at a time, as a client following the log does.
	var paged []tandem.Event
	var after int64
	for {
		page, err := db.Events(ctx, "pr-1", after, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 3 {
			t.Fatalf("page of %d, want at most 3", len(page))
		}
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		after = page[len(page)-1].ID
	}
	assertEvents(t, paged, want)

	rest, err := db.Events(ctx, "pr-1", want[6].ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	assertEvents(t, rest, want[7:])

	none, err := db.Events(ctx, "never-made", 0, 0)
	if err != nil || none == nil || len(none) != 0 {
		t.Errorf("events of an unknown preview = %#v, %v; want an empty list", none, err)
	}
}

func assertEvents(t *testing.T, got, want []tandem.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("event %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

package sqlite

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tandem-dev/tandem"
)

// The serve command runs several preview workers at once, and a CLI or a
// second tandem may have the file open too. Many goroutines on two Opens of
// one file write previews, secrets and events and read them back: no
// SQLITE_BUSY, no lost write. Run with -race.
func TestConcurrentUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tandem.db")
	var dbs []*DB
	for range 2 {
		db, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		dbs = append(dbs, db)
	}
	ctx := t.Context()

	const workers, rounds = 16, 12
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		db := dbs[w%len(dbs)]
		wg.Go(func() {
			name := fmt.Sprintf("pr-%d", w)
			errs <- func() error {
				for i := range rounds {
					p := fullPreview(name)
					p.Generation = i
					if err := db.PutPreview(ctx, p); err != nil {
						return err
					}
					if err := db.PutSecrets(ctx, name, map[string]string{"K": fmt.Sprint(i)}); err != nil {
						return err
					}
					if _, err := db.AddEvent(ctx, tandem.Event{Preview: name, Kind: "log", Detail: fmt.Sprint(i)}); err != nil {
						return err
					}
					if _, err := db.Preview(ctx, name); err != nil {
						return err
					}
					if _, err := db.Previews(ctx); err != nil {
						return err
					}
					if s, err := db.Secrets(ctx, name); err != nil {
						return err
					} else if s["K"] != fmt.Sprint(i) {
						return fmt.Errorf("%s: read secret %q after writing %d", name, s["K"], i)
					}
					if _, err := db.Events(ctx, name, 0, 5); err != nil {
						return err
					}
				}
				return nil
			}()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}

	list, err := dbs[0].Previews(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != workers {
		t.Errorf("%d previews, want %d", len(list), workers)
	}
	for _, p := range list {
		if p.Generation != rounds-1 {
			t.Errorf("%s at generation %d, want the last write, %d", p.Name, p.Generation, rounds-1)
		}
		events, err := dbs[1].Events(ctx, p.Name, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != rounds {
			t.Errorf("%s has %d events, want %d", p.Name, len(events), rounds)
		}
	}
}

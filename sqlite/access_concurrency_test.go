package sqlite

import (
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
)

// twoOpens opens one file twice: two tandem processes, or a server and a
// CLI, as well as the goroutines of one.
func twoOpens(t *testing.T) []*DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tandem.db")
	var dbs []*DB
	for range 2 {
		db, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs = append(dbs, db)
	}
	return dbs
}

// concurrently runs f(i) for i in [0, n) at once and waits for all.
func concurrently(n int, f func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() { <-start; f(i) })
	}
	close(start)
	wg.Wait()
}

// A lock-out that can be raced is no lock-out: of many wrong codes tried at
// once, exactly max count, each seeing its own count, and the link locks.
func TestShareAttemptConcurrent(t *testing.T) {
	dbs := twoOpens(t)
	s := newShare(t, dbs[0], "s_1")
	const tries, max = 40, 5
	at := time.Now()
	failures := make([]int, tries)
	errs := make([]error, tries)
	concurrently(tries, func(i int) {
		got, err := dbs[i%2].ShareAttempt(t.Context(), s.ID, false, max, at)
		if errs[i] = err; err == nil {
			failures[i] = got.Failures
		}
	})
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(failures)
	want := []int{1, 2, 3, 4}
	for range tries - len(want) {
		want = append(want, max)
	}
	if !slices.Equal(failures, want) {
		t.Errorf("the counts the tries saw: %v", failures)
	}
	if got, _ := dbs[1].Share(t.Context(), s.ID); got.LockedAt.IsZero() || got.Failures != max || got.Valid(at) {
		t.Errorf("after %d wrong tries: %+v", tries, got)
	}
}

// Of concurrent tries of the right code, one succeeds; concurrent wrong
// tries each count, none lost and none twice.
func TestUseCodeConcurrent(t *testing.T) {
	dbs := twoOpens(t)
	ctx := t.Context()
	now := time.Now()
	right, wrong := tandem.HashSecret("123456"), tandem.HashSecret("000000")
	put := func() {
		t.Helper()
		if err := dbs[0].PutCode(ctx, "k", right, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	const n = 30
	tryAll := func(hash []byte, max int) int {
		var mu sync.Mutex
		ok := 0
		concurrently(n, func(i int) {
			good, err := dbs[i%2].UseCode(ctx, "k", hash, max, now)
			if err != nil {
				t.Error(err)
			}
			if good {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		})
		return ok
	}

	put()
	if ok := tryAll(right, 3); ok != 1 {
		t.Errorf("%d of %d concurrent tries of one code succeeded", ok, n)
	}
	// n wrong tries with max n+1 leave the code; with max n, they remove it.
	put()
	tryAll(wrong, n+1)
	if ok, _ := dbs[1].UseCode(ctx, "k", right, n+1, now); !ok {
		t.Errorf("%d wrong tries counted as more", n)
	}
	put()
	tryAll(wrong, n)
	if ok, _ := dbs[1].UseCode(ctx, "k", right, n, now); ok {
		t.Errorf("%d wrong tries counted as fewer: the code outlived its limit", n)
	}
}

// An approved login gives one token, however many polls come at once.
func TestTakeDeviceConcurrent(t *testing.T) {
	dbs := twoOpens(t)
	ctx := t.Context()
	now := time.Now()
	alice := &tandem.Person{Email: "alice@corp.example"}
	dbs[0].PutPerson(ctx, alice)
	hash := tandem.HashSecret("device")
	if err := dbs[0].PutDevice(ctx, &tandem.DeviceAuth{UserCode: "BCDF-GHJK", ExpiresAt: now.Add(time.Minute)}, hash); err != nil {
		t.Fatal(err)
	}
	if err := dbs[1].ApproveDevice(ctx, "BCDF-GHJK", alice.ID, now); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	approved := 0
	concurrently(20, func(i int) {
		d, err := dbs[i%2].TakeDevice(ctx, hash, now)
		if err == nil && d.PersonID == alice.ID {
			mu.Lock()
			approved++
			mu.Unlock()
		} else if tandem.ErrorCode(err) != tandem.ENOTFOUND {
			t.Error(err)
		}
	})
	if approved != 1 {
		t.Errorf("%d polls got the approval", approved)
	}
}

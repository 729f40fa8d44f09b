package sqlite

import (
	"fmt"
	"testing"

	"github.com/tandem-dev/tandem"
)

// Each write is one transaction with an fsync (synchronous=FULL): these
// measure the cost of a state change and of a progress line.

func BenchmarkPutPreview(b *testing.B) {
	db := openTest(b)
	p := fullPreview("pr-7")
	for i := 0; b.Loop(); i++ {
		p.Generation = i
		if err := db.PutPreview(b.Context(), p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAddEvent(b *testing.B) {
	db := openTest(b)
	e := tandem.Event{Preview: "pr-7", Kind: "log", Detail: "Compiled successfully in 4.2s"}
	for b.Loop() {
		if _, err := db.AddEvent(b.Context(), e); err != nil {
			b.Fatal(err)
		}
	}
}

// Many workers logging at once queue on the one write connection.
func BenchmarkAddEventParallel(b *testing.B) {
	db := openTest(b)
	b.RunParallel(func(pb *testing.PB) {
		e := tandem.Event{Preview: "pr-7", Kind: "log", Detail: "Compiled successfully in 4.2s"}
		for pb.Next() {
			if _, err := db.AddEvent(b.Context(), e); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkPreview(b *testing.B) {
	db := openTest(b)
	for i := range 100 {
		if err := db.PutPreview(b.Context(), fullPreview(fmt.Sprintf("pr-%d", i))); err != nil {
			b.Fatal(err)
		}
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := db.Preview(b.Context(), "pr-42"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// Package audittest holds what tests of the audit log share: one suite
// every tandem.AuditStore must pass, and a store in memory that passes it,
// for tests that must not link a database. (The fuzzer's coverage
// counters span every package linked; SQLite's are most of them, and
// would slow it a thousandfold.)
package audittest

import (
	"bytes"
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
)

// MemStore is a tandem.AuditStore in memory.
type MemStore struct {
	mu          sync.Mutex
	recs        []tandem.AuditRecord
	hashes      map[int64][32]byte
	checkpoints map[int64][]byte
}

var _ tandem.AuditStore = (*MemStore)(nil)

// NewMemStore returns an empty store.
func NewMemStore() *MemStore {
	return &MemStore{hashes: map[int64][32]byte{}, checkpoints: map[int64][]byte{}}
}

func (s *MemStore) AppendAudit(_ context.Context, recs []tandem.AuditRecord, hashes []tandem.AuditHash) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(recs) == 0 {
		return nil
	}
	if recs[0].Index != int64(len(s.recs)) {
		return tandem.Errorf(tandem.ECONFLICT, "audittest: the log holds %d entries, not %d", len(s.recs), recs[0].Index)
	}
	for i, r := range recs {
		if r.Index != recs[0].Index+int64(i) {
			return tandem.Errorf(tandem.EINVALID, "audittest: entries out of order")
		}
	}
	for _, h := range hashes {
		if _, ok := s.hashes[h.Index]; ok {
			return tandem.Errorf(tandem.ECONFLICT, "audittest: hash %d is stored", h.Index)
		}
	}
	for _, r := range recs {
		r.Envelope = bytes.Clone(r.Envelope)
		r.Time = r.Time.UTC()
		s.recs = append(s.recs, r)
	}
	for _, h := range hashes {
		s.hashes[h.Index] = h.Hash
	}
	return nil
}

func (s *MemStore) AuditSize(context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int64(len(s.recs)), nil
}

func (s *MemStore) AuditHashes(_ context.Context, indexes []int64) ([][32]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][32]byte, len(indexes))
	for i, x := range indexes {
		h, ok := s.hashes[x]
		if !ok {
			return nil, tandem.Errorf(tandem.ENOTFOUND, "audittest: no hash %d", x)
		}
		out[i] = h
	}
	return out, nil
}

func (s *MemStore) AuditRecords(_ context.Context, f tandem.AuditFilter) ([]tandem.AuditRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []tandem.AuditRecord{}
	for _, r := range s.recs {
		if (f.Preview == "" || r.Preview == f.Preview) && (f.Repo == "" || r.Repo == f.Repo) &&
			!r.Time.Before(f.Since) && (f.Size <= 0 || r.Index < f.Size) {
			r.Envelope = bytes.Clone(r.Envelope)
			out = append(out, r)
		}
	}
	return out, nil
}

func (s *MemStore) AddAuditCheckpoint(_ context.Context, c tandem.AuditCheckpoint) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.checkpoints[c.Size]; !ok {
		s.checkpoints[c.Size] = bytes.Clone(c.Note)
	}
	return nil
}

func (s *MemStore) AuditCheckpoints(context.Context) ([]tandem.AuditCheckpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []tandem.AuditCheckpoint
	for n, note := range s.checkpoints {
		out = append(out, tandem.AuditCheckpoint{Size: n, Note: bytes.Clone(note)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Size < out[j].Size })
	return out, nil
}

// TestStore runs the suite every tandem.AuditStore must pass against
// stores that open returns, each new and empty.
func TestStore(t *testing.T, open func(t *testing.T) tandem.AuditStore) {
	ctx := context.Background()
	when := time.Date(2026, 11, 26, 9, 30, 0, 123456789, time.FixedZone("UTC+1", 3600))
	rec := func(i int64, preview string, at time.Time) tandem.AuditRecord {
		return tandem.AuditRecord{Index: i, Repo: "shop", Preview: preview, Kind: tandem.AuditFirstVisit, Time: at, Envelope: []byte{byte(i), '{', '}'}}
	}
	hash := func(i int64) tandem.AuditHash {
		var h [32]byte
		h[0], h[31] = byte(i), 0xff
		return tandem.AuditHash{Index: i, Hash: h}
	}

	t.Run("appends in order and reads back", func(t *testing.T) {
		s := open(t)
		if err := s.AppendAudit(ctx, []tandem.AuditRecord{rec(0, "pr-1", when), rec(1, "pr-2", when.Add(time.Hour))}, []tandem.AuditHash{hash(0), hash(1), hash(2)}); err != nil {
			t.Fatal(err)
		}
		if err := s.AppendAudit(ctx, []tandem.AuditRecord{rec(2, "pr-1", when.Add(2*time.Hour))}, []tandem.AuditHash{hash(3)}); err != nil {
			t.Fatal(err)
		}
		if n, err := s.AuditSize(ctx); n != 3 || err != nil {
			t.Fatalf("size %d, %v", n, err)
		}
		got, err := s.AuditRecords(ctx, tandem.AuditFilter{})
		if err != nil || len(got) != 3 {
			t.Fatalf("%d records, %v", len(got), err)
		}
		for i, r := range got {
			want := rec(int64(i), r.Preview, r.Time)
			if r.Index != int64(i) || !bytes.Equal(r.Envelope, want.Envelope) || r.Repo != "shop" || r.Kind != tandem.AuditFirstVisit || r.Time.Location() != time.UTC {
				t.Errorf("record %d: %+v", i, r)
			}
		}
		if !got[0].Time.Equal(when) {
			t.Errorf("time %v, want %v", got[0].Time, when)
		}
		hs, err := s.AuditHashes(ctx, []int64{3, 0, 3})
		if err != nil || hs[0] != hash(3).Hash || hs[1] != hash(0).Hash || hs[2] != hash(3).Hash {
			t.Errorf("hashes %x, %v", hs, err)
		}
		if _, err := s.AuditHashes(ctx, []int64{0, 9}); tandem.ErrorCode(err) != tandem.ENOTFOUND {
			t.Errorf("a missing hash: %v, want %s", err, tandem.ENOTFOUND)
		}
	})

	t.Run("refuses an append at the wrong place", func(t *testing.T) {
		s := open(t)
		if err := s.AppendAudit(ctx, []tandem.AuditRecord{rec(0, "pr-1", when)}, []tandem.AuditHash{hash(0)}); err != nil {
			t.Fatal(err)
		}
		for _, at := range []int64{0, 2} {
			if err := s.AppendAudit(ctx, []tandem.AuditRecord{rec(at, "pr-1", when)}, nil); tandem.ErrorCode(err) != tandem.ECONFLICT {
				t.Errorf("append at %d: %v, want %s", at, err, tandem.ECONFLICT)
			}
		}
		// Nothing of a refused append stays.
		if err := s.AppendAudit(ctx, []tandem.AuditRecord{rec(1, "pr-1", when)}, []tandem.AuditHash{hash(0)}); err == nil {
			t.Error("a stored hash was replaced")
		}
		if n, _ := s.AuditSize(ctx); n != 1 {
			t.Errorf("size %d after refused appends", n)
		}
	})

	t.Run("selects", func(t *testing.T) {
		s := open(t)
		var recs []tandem.AuditRecord
		for i := range int64(6) {
			p := "pr-1"
			if i%2 == 1 {
				p = "pr-2"
			}
			r := rec(i, p, when.Add(time.Duration(i)*time.Hour))
			if i == 5 {
				r.Repo = "blog"
			}
			recs = append(recs, r)
		}
		if err := s.AppendAudit(ctx, recs, nil); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			f    tandem.AuditFilter
			want []int64
		}{
			{tandem.AuditFilter{Preview: "pr-1"}, []int64{0, 2, 4}},
			{tandem.AuditFilter{Repo: "blog"}, []int64{5}},
			{tandem.AuditFilter{Since: when.Add(3 * time.Hour)}, []int64{3, 4, 5}},
			{tandem.AuditFilter{Preview: "pr-2", Size: 5}, []int64{1, 3}},
			{tandem.AuditFilter{Preview: "pr-9"}, nil},
		} {
			got, err := s.AuditRecords(ctx, c.f)
			if err != nil || got == nil {
				t.Fatalf("%+v: %v (nil: %v)", c.f, err, got == nil)
			}
			var idx []int64
			for _, r := range got {
				idx = append(idx, r.Index)
			}
			if len(idx) != len(c.want) || (len(idx) > 0 && !equal(idx, c.want)) {
				t.Errorf("%+v: %v, want %v", c.f, idx, c.want)
			}
		}
	})

	t.Run("keeps the first checkpoint of each size", func(t *testing.T) {
		s := open(t)
		for _, c := range []tandem.AuditCheckpoint{{Size: 5, Note: []byte("five")}, {Size: 2, Note: []byte("two")}, {Size: 5, Note: []byte("other")}} {
			if err := s.AddAuditCheckpoint(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.AuditCheckpoints(ctx)
		if err != nil || len(got) != 2 || got[0].Size != 2 || string(got[1].Note) != "five" {
			t.Errorf("%+v, %v", got, err)
		}
	})
}

func equal(a, b []int64) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

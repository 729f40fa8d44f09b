package audit

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/tandem-dev/tandem"
)

func TestEntriesReadTheLogBack(t *testing.T) {
	l := newTestLog(t)
	l.review(t)
	l.append(t, tandem.AuditEvent{Kind: tandem.AuditPreviewCreated, Repo: "blog", Preview: "pr-1", Generation: 1, Actor: "tandem"})
	ctx := context.Background()
	all, err := l.Entries(ctx, tandem.AuditFilter{Preview: "pr-7"}, 0)
	if err != nil || len(all) < 3 {
		t.Fatalf("%d entries, %v", len(all), err)
	}
	for i, e := range all {
		if e.Predicate.Preview != "pr-7" || e.Predicate.Log != testOrigin || (i > 0 && e.Index <= all[i-1].Index) {
			t.Errorf("entry %d: %+v", e.Index, e.Predicate)
		}
	}
	last, err := l.Entries(ctx, tandem.AuditFilter{Preview: "pr-7"}, 2)
	if err != nil || len(last) != 2 || last[1].Index != all[len(all)-1].Index || last[0].Index != all[len(all)-2].Index {
		t.Fatalf("the last 2: %v %v", last, err)
	}
	if blog, err := l.Entries(ctx, tandem.AuditFilter{Repo: "blog"}, 0); err != nil || len(blog) != 1 || blog[0].Predicate.Kind != tandem.AuditPreviewCreated {
		t.Errorf("blog's: %v %v", blog, err)
	}

	// An entry altered in the store is named, not shown.
	l.Log.store = alteredStore{AuditStore: l.store, index: all[1].Index}
	if _, err := l.Entries(ctx, tandem.AuditFilter{Preview: "pr-7"}, 0); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("entry %d does not verify", all[1].Index)) {
		t.Errorf("an altered entry: %v", err)
	}
}

// alteredStore changes one byte of the payload of the entry at index.
type alteredStore struct {
	tandem.AuditStore
	index int64
}

func (s alteredStore) AuditRecords(ctx context.Context, f tandem.AuditFilter) ([]tandem.AuditRecord, error) {
	recs, err := s.AuditStore.AuditRecords(ctx, f)
	for i, r := range recs {
		if r.Index == s.index {
			env := bytes.Clone(r.Envelope)
			j := bytes.Index(env, []byte(`"payload":"`)) + len(`"payload":"`) + 20
			env[j] ^= 1
			recs[i].Envelope = env
		}
	}
	return recs, err
}

package sqlite

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
)

func TestReviewPlans(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	if _, err := db.ReviewPlan(ctx, "pr-7", 1); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Fatalf("no plan: %v", err)
	}
	plan := tandem.DefaultReviewPlan()
	plan.Checklist = append(plan.Checklist, tandem.ChecklistItem{ID: "home", Text: "It works", Page: "/", Viewport: tandem.Viewport{Width: 800, Height: 600}})
	rec := tandem.ReviewPlanRecord{Preview: "pr-7", Generation: 1, Digest: plan.Digest(), Plan: *plan, Time: time.Now().UTC().Round(0)}
	if err := db.PutReviewPlan(ctx, rec); err != nil {
		t.Fatal(err)
	}
	got, err := db.ReviewPlan(ctx, "pr-7", 1)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*got, rec) || got.Plan.Digest() != rec.Digest {
		t.Errorf("plan:\n got %+v\nwant %+v", got, rec)
	}
	// A preview made again under the same name replaces the plan.
	rec.Plan = *tandem.DefaultReviewPlan()
	rec.Digest = rec.Plan.Digest()
	if err := db.PutReviewPlan(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.ReviewPlan(ctx, "pr-7", 1); got.Digest != rec.Digest {
		t.Errorf("replaced plan: %s", got.Digest)
	}
}

func TestReviewRecords(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	ev := []tandem.Evidence{{Digest: "sha256:" + strings.Repeat("a", 64), Name: "screenshot of /", MediaType: "image/png", Size: 42}}
	results := []*tandem.ChecklistResult{
		{Preview: "pr-7", Generation: 1, Commit: "c1", Item: "home", Result: tandem.ResultPass, By: "qa@corp.example", Time: t0, Entry: 4, Evidence: ev},
		{Preview: "pr-7", Generation: 2, Commit: "c2", Item: "home", Result: "", Note: "report", By: "qa@corp.example", Time: t0.Add(time.Hour), Entry: 9},
		{Preview: "pr-8", Generation: 1, Commit: "c3", Item: "home", Result: tandem.ResultFail, By: "qa@corp.example", Time: t0, Entry: 5},
	}
	for _, r := range results {
		if err := db.AddChecklistResult(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.ChecklistResults(ctx, "pr-7", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, results[:2]) {
		t.Errorf("results:\n got %+v\nwant %+v", got, results[:2])
	}
	if got, _ := db.ChecklistResults(ctx, "pr-7", t0.Add(time.Minute)); len(got) != 1 || got[0].Generation != 2 {
		t.Errorf("results since: %+v", got)
	}

	sig := tandem.Signature{PrintedName: "Quinn Analyst", Identity: "qa@corp.example", Meaning: tandem.MeaningApproved, Time: t0,
		Stage: "qa", Reauth: "totp", ReauthAt: t0.Add(-time.Second), Checklist: []tandem.SignedItem{{Item: "home", Result: "pass", Entry: 4}}}
	a := &tandem.Approval{Preview: "pr-7", Generation: 1, Commit: "c1", Email: "qa@corp.example", Signature: sig, Entry: 5}
	if err := db.AddApproval(ctx, a); err != nil {
		t.Fatal(err)
	}
	approvals, err := db.Approvals(ctx, "pr-7", time.Time{})
	if err != nil || len(approvals) != 1 || !reflect.DeepEqual(approvals[0], a) {
		t.Errorf("approvals: %+v %v", approvals, err)
	}
	if none, _ := db.Approvals(ctx, "pr-7", t0.Add(time.Second)); len(none) != 0 {
		t.Errorf("approvals of an earlier preview of the same name: %+v", none)
	}
	// What was recorded stays as it was.
	if _, err := db.write.Exec("UPDATE review_approvals SET email = 'x'"); err == nil || !strings.Contains(err.Error(), "kept as given") {
		t.Errorf("an approval was changed: %v", err)
	}
	if err := db.AddApproval(ctx, &tandem.Approval{Preview: "pr-7"}); tandem.ErrorCode(err) != tandem.EINVALID {
		t.Errorf("an empty approval: %v", err)
	}
}

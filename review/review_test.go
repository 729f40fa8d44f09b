package review

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
)

// wantCode fails unless err has the code and says want.
func wantCode(t *testing.T, err error, code, want string) {
	t.Helper()
	if tandem.ErrorCode(err) != code || !strings.Contains(fmtErr(err), want) {
		t.Errorf("got %v (%s), want %s saying %q", err, tandem.ErrorCode(err), code, want)
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestPipeline runs a two-stage review of one generation through every
// rule, then a new commit that supersedes it.
func TestPipeline(t *testing.T) {
	b := newBench(t, false)
	ctx := context.Background()
	svc := b.svc

	st, err := svc.Status(ctx, "pr-7")
	if err != nil {
		t.Fatal(err)
	}
	if st.State != tandem.ReviewInProgress || st.PlanDigest != st.Binding.ReviewPlan || st.Plan.Source != tandem.ReviewPlanFile ||
		len(st.Checklist) != 2 || st.Stages[0].State != tandem.StageOpen || st.Stages[1].State != tandem.StageWaiting {
		t.Fatalf("the review at first: %+v", st)
	}

	qa1, qa2, pm, dev := b.person("qa1@corp.example"), b.person("qa2@corp.example"), b.person("pm@corp.example"), b.person("dev@corp.example")
	t.Run("the checklist", func(t *testing.T) {
		_, err := svc.Check(ctx, qa1, "pr-7", CheckRequest{Item: "home", Result: "pass"})
		wantCode(t, err, tandem.ECONFLICT, `"home" needs evidence`)
		_, err = svc.Check(ctx, qa1, "pr-7", CheckRequest{Item: "nope", Result: "pass"})
		wantCode(t, err, tandem.ENOTFOUND, "items: home, login")
		_, err = svc.Check(ctx, qa1, "pr-7", CheckRequest{Item: "login", Result: "maybe"})
		wantCode(t, err, tandem.EINVALID, "pass, fail or n/a")
		_, err = svc.Check(ctx, qa1, "pr-7", CheckRequest{Item: "login", Result: "pass", Generation: 2})
		wantCode(t, err, tandem.ECONFLICT, "now serves generation 1")
		viewer := &tandem.Principal{Kind: tandem.PrincipalToken, Token: &tandem.Token{ID: "t_v", Name: "v"}, Roles: map[string]tandem.Role{"shop": tandem.RoleViewer}}
		_, err = svc.Check(ctx, viewer, "pr-7", CheckRequest{Item: "login", Result: "pass"})
		wantCode(t, err, tandem.EFORBIDDEN, "needs the role reviewer")

		r, err := svc.AddEvidence(ctx, qa1, "pr-7", EvidenceRequest{Item: "home", Filename: "../../report.html"}, strings.NewReader("<html><script>alert(1)</script>passed</html>"))
		if err != nil {
			t.Fatal(err)
		}
		if ev := r.Evidence[0]; ev.MediaType != "text/plain; charset=utf-8" || ev.Name != "uploaded report.html" || r.Generation != 1 {
			t.Errorf("uploaded: %+v", r)
		}
		if _, err := svc.Check(ctx, qa1, "pr-7", CheckRequest{Item: "home", Result: "pass", Note: "with the report"}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("stages in order, the checklist first, by whom the stage admits", func(t *testing.T) {
		_, err := svc.Sign(ctx, qa1, "pr-7", SignRequest{Stage: "qa", Code: b.code("qa1@corp.example")})
		wantCode(t, err, tandem.ECONFLICT, "login has no result")
		ci := &tandem.Principal{Kind: tandem.PrincipalToken, Token: &tandem.Token{ID: "t_ci", Name: "ci"}, Roles: map[string]tandem.Role{"shop": tandem.RoleReviewer}}
		if _, err := svc.Check(ctx, ci, "pr-7", CheckRequest{Item: "login", Result: "pass", Note: "e2e suite"}); err != nil {
			t.Fatal(err)
		}
		_, err = svc.Sign(ctx, pm, "pr-7", SignRequest{Stage: "product", Code: b.code("pm@corp.example")})
		wantCode(t, err, tandem.ECONFLICT, "stage product waits for stage qa")
		_, err = svc.Sign(ctx, pm, "pr-7", SignRequest{Stage: "qa", Code: b.code("pm@corp.example")})
		wantCode(t, err, tandem.EFORBIDDEN, "it takes the role approver in shop, and the group qa")
		_, err = svc.Sign(ctx, qa1, "pr-7", SignRequest{Stage: "audit"})
		wantCode(t, err, tandem.ENOTFOUND, "stages, in order: qa, product")
		_, err = svc.Sign(ctx, ci, "pr-7", SignRequest{Stage: "qa", Code: "123456"})
		wantCode(t, err, tandem.EFORBIDDEN, "an electronic signature is a person's")
	})

	t.Run("the author signs no stage", func(t *testing.T) {
		_, err := svc.Sign(ctx, dev, "pr-7", SignRequest{Stage: "qa", Code: b.code("dev@corp.example")})
		wantCode(t, err, tandem.EFORBIDDEN, "dev@corp.example wrote this change")
		_, err = svc.Sign(ctx, qa1, "pr-7", SignRequest{Meaning: tandem.MeaningAuthored, Code: b.code("qa1@corp.example")})
		wantCode(t, err, tandem.EFORBIDDEN, "only the change's author")
		a, err := svc.Sign(ctx, dev, "pr-7", SignRequest{Meaning: tandem.MeaningAuthored, Code: b.code("dev@corp.example")})
		if err != nil || a.Signature.Meaning != tandem.MeaningAuthored || a.Signature.Stage != "" {
			t.Errorf("the author's own signature: %+v %v", a, err)
		}
	})

	t.Run("no signature without re-authentication", func(t *testing.T) {
		_, err := svc.Sign(ctx, qa1, "pr-7", SignRequest{Stage: "qa"})
		wantCode(t, err, tandem.EUNAUTHORIZED, "prove who you are now")
		_, err = svc.Sign(ctx, qa1, "pr-7", SignRequest{Stage: "qa", Code: "000000"})
		wantCode(t, err, tandem.EUNAUTHORIZED, "that code is wrong")
		stale := b.browser("qa1@corp.example", "oidc", time.Now().Add(-time.Hour))
		_, err = svc.Sign(ctx, stale, "pr-7", SignRequest{Stage: "qa"})
		wantCode(t, err, tandem.EUNAUTHORIZED, "more than 5m0s")
		capture := b.browser("qa1@corp.example", "capture", time.Now())
		_, err = svc.Sign(ctx, capture, "pr-7", SignRequest{Stage: "qa"})
		wantCode(t, err, tandem.EUNAUTHORIZED, "prove who you are now")
	})

	var qaEntry int64
	t.Run("a signature with a code, bound to what ran", func(t *testing.T) {
		a, err := svc.Sign(ctx, qa1, "pr-7", SignRequest{Stage: "qa", Meaning: tandem.MeaningApproved, Comment: "looks right", Code: b.code("qa1@corp.example")})
		if err != nil {
			t.Fatal(err)
		}
		sig := a.Signature
		if sig.PrintedName != "Quinn Analyst" || sig.Reauth != "totp" || sig.Time.Location() != time.UTC || len(sig.Checklist) != 2 ||
			sig.Checklist[0].Result != "pass" || sig.Checklist[0].Entry < 0 {
			t.Errorf("signature %+v", sig)
		}
		qaEntry = a.Entry
		e := b.entries()[a.Entry]
		if e.Kind != tandem.AuditSigned || e.Signature == nil || e.Signature.Comment != "looks right" || e.Binding.ReviewPlan == "" ||
			e.Binding.Commit != strings.Repeat("1", 40) || len(e.Evidence) != 1 || e.Evidence[0].Digest != e.Binding.ReviewPlan {
			t.Errorf("the signed entry: %+v", e)
		}
		_, err = svc.Sign(ctx, qa1, "pr-7", SignRequest{Stage: "qa", Code: b.code("qa1@corp.example")})
		wantCode(t, err, tandem.ECONFLICT, "stage qa is complete")
		_, err = svc.Sign(ctx, qa1, "pr-7", SignRequest{Stage: "product", Code: b.code("qa1@corp.example")})
		wantCode(t, err, tandem.EFORBIDDEN, "one person signs one stage")
	})

	t.Run("in a fresh browser session, the last stage", func(t *testing.T) {
		a, err := svc.Sign(ctx, b.browser("pm@corp.example", "oidc", time.Now().Add(-time.Minute)), "pr-7", SignRequest{Stage: "product"})
		if err != nil || a.Signature.Reauth != "oidc" {
			t.Fatalf("%+v %v", a, err)
		}
		st, _ := svc.Status(ctx, "pr-7")
		if st.State != tandem.ReviewApproved || Line(st) != "approved: qa, product" {
			t.Errorf("after both stages: %s, %q", st.State, Line(st))
		}
	})

	t.Run("a new commit supersedes the approvals", func(t *testing.T) {
		b.makeGeneration(2, strings.Repeat("2", 40))
		st, err := svc.Status(ctx, "pr-7")
		if err != nil {
			t.Fatal(err)
		}
		if st.State != tandem.ReviewInProgress || st.Generation != 2 || len(st.Superseded) != 3 || st.Stages[0].State != tandem.StageOpen ||
			len(st.Stages[0].Signatures) != 0 || st.Checklist[0].Result != nil || len(st.Authored) != 0 {
			t.Errorf("after the update: %+v", st)
		}
		sum := Summary(st)
		if !strings.Contains(sum, "approved at `1111111` by Quinn Analyst (stage qa), superseded") || !strings.Contains(sum, "generation 2 at `2222222`") {
			t.Errorf("summary:\n%s", sum)
		}
		_, err = svc.Sign(ctx, qa2, "pr-7", SignRequest{Stage: "qa", Code: b.code("qa2@corp.example"), Generation: 1})
		wantCode(t, err, tandem.ECONFLICT, "now serves generation 2")
		// A rejection need not wait for its turn, and ends the review.
		if _, err := svc.Sign(ctx, pm, "pr-7", SignRequest{Stage: "product", Meaning: tandem.MeaningRejected, Code: b.code("pm@corp.example")}); err != nil {
			t.Fatal(err)
		}
		st, _ = svc.Status(ctx, "pr-7")
		if st.State != tandem.ReviewRejected || Line(st) != "rejected: stage product" {
			t.Errorf("after the rejection: %s %q", st.State, Line(st))
		}
		_, err = svc.Sign(ctx, qa1, "pr-7", SignRequest{Stage: "product", Code: b.code("qa1@corp.example")})
		wantCode(t, err, tandem.ECONFLICT, "was rejected")
	})

	t.Run("every step is in the log, in order", func(t *testing.T) {
		var kinds []string
		for _, e := range b.entries() {
			kinds = append(kinds, string(e.Kind))
		}
		want := []string{"evidence.added", "checklist.result", "checklist.result", "signature", "signature", "signature", "signature"}
		if !slices.Equal(kinds, want) {
			t.Errorf("log: %v", kinds)
		}
		if qaEntry != 4 {
			t.Errorf("the qa signature is entry %d", qaEntry)
		}
	})
}

// TestCaptureAsTheReviewer captures a page through the gateway: the gate
// lets tandem's browser in as the reviewer, and their session ends after.
func TestCaptureAsTheReviewer(t *testing.T) {
	b := newBench(t, true)
	ctx := context.Background()
	qa1 := b.person("qa1@corp.example")
	r, err := b.svc.Check(ctx, qa1, "pr-7", CheckRequest{Item: "home", Result: "pass", Capture: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Evidence) != 3 || r.Evidence[0].MediaType != "image/png" || r.Evidence[1].MediaType != "application/json" {
		t.Fatalf("evidence %+v", r.Evidence)
	}
	dir := b.svc.cfg.Evidence
	read := func(ev tandem.Evidence) []byte {
		p, _ := dir.Path(ev.Digest)
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	img, err := png.Decode(bytes.NewReader(read(r.Evidence[0])))
	if err != nil || img.Bounds().Dx() != 800 {
		t.Errorf("screenshot: %v %v", img.Bounds(), err)
	}
	text := read(r.Evidence[2])
	if !strings.Contains(string(text), "One Origin for Two Servers") || r.Evidence[2].Digest != TextDigest(string(text)) {
		t.Errorf("text %q", text)
	}
	if !bytes.Contains(read(r.Evidence[1]), []byte(`"url": "http://pr-7.previews.example.com:`+b.port+`/"`)) {
		t.Errorf("HAR:\n%s", read(r.Evidence[1]))
	}
	if e := b.entries(); !slices.ContainsFunc(e, func(e tandem.AuditEvent) bool {
		return e.Kind == tandem.AuditChecklistResult && strings.HasSuffix(e.Detail, ":"+b.port+"/, which answered 200") && len(e.Evidence) == 3
	}) {
		t.Errorf("the log: %+v", e)
	}
	if !strings.Contains(b.gwLog.String(), `"principal":"qa1@corp.example"`) {
		t.Errorf("the gateway did not attribute the capture to the reviewer:\n%s", b.gwLog.String())
	}
	// The session it used is gone.
	events, _ := b.db.AccessEvents(ctx, 0, 0)
	if !slices.ContainsFunc(events, func(e tandem.AccessEvent) bool { return e.Kind == "session.capture" && e.Actor == "qa1@corp.example" }) {
		t.Errorf("access events: %+v", events)
	}
	// A token cannot capture: there is no person to be.
	ci := &tandem.Principal{Kind: tandem.PrincipalToken, Token: &tandem.Token{ID: "t_ci", Name: "ci"}, Roles: map[string]tandem.Role{"shop": tandem.RoleReviewer}}
	_, err = b.svc.Check(ctx, ci, "pr-7", CheckRequest{Item: "home", Result: "pass", Capture: true})
	wantCode(t, err, tandem.EFORBIDDEN, "opens the preview as a person")
	_, err = b.svc.Check(ctx, qa1, "pr-7", CheckRequest{Item: "login", Result: "pass", Capture: true})
	wantCode(t, err, tandem.EINVALID, "names no page")
}

func TestLoadPlan(t *testing.T) {
	tree := t.TempDir()
	if p, err := LoadPlan(tree, nil); err != nil || p.Digest() != tandem.DefaultReviewPlan().Digest() {
		t.Errorf("no plan: %+v %v", p, err)
	}
	stack := &tandem.Stack{Files: []string{filepath.Join(tree, "deploy", "compose.yml")}, Review: &tandem.ReviewPlan{Source: "x-tandem.review", OneStagePerPerson: true}}
	if p, err := LoadPlan(tree, stack); err != nil || p.Source != "deploy/compose.yml x-tandem.review" {
		t.Errorf("in the stack: %+v %v", p, err)
	}
	os.MkdirAll(filepath.Join(tree, ".tandem"), 0o755)
	os.WriteFile(filepath.Join(tree, tandem.ReviewPlanFile), []byte("stages:\n  - name: qa\n    role: viewer\n"), 0o644)
	_, err := LoadPlan(tree, nil)
	wantCode(t, err, tandem.EINVALID, ".tandem/review.yaml:3: stage \"qa\": role viewer may not sign")
	_, err = LoadPlan(tree, stack)
	wantCode(t, err, tandem.EINVALID, "also in deploy/compose.yml x-tandem.review: keep one")
	// A link out of the work tree is not followed.
	os.Remove(filepath.Join(tree, tandem.ReviewPlanFile))
	os.Symlink("/etc/passwd", filepath.Join(tree, tandem.ReviewPlanFile))
	_, err = LoadPlan(tree, nil)
	wantCode(t, err, tandem.EINVALID, ".tandem/review.yaml")
}

func TestSafeMediaType(t *testing.T) {
	for in, want := range map[string]string{
		"image/png": "image/png", "text/html; charset=utf-8": "text/plain; charset=utf-8", "text/xml; charset=utf-8": "text/plain; charset=utf-8",
		"image/svg+xml": "text/plain; charset=utf-8", "application/javascript": "text/plain; charset=utf-8", "video/mp4": "video/mp4",
		"application/octet-stream": "application/octet-stream", "application/x-msdownload": "application/octet-stream", "text/plain; charset=utf-8": "text/plain; charset=utf-8",
	} {
		if got := SafeMediaType(in); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

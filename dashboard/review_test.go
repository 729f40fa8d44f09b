package dashboard

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
)

// reviewed is pr-1 of shop serving generation 1, with a plan of two
// checklist items (one names a page) and one stage an approver signs.
func (w *world) reviewed() *tandem.ReviewPlan {
	w.t.Helper()
	plan := &tandem.ReviewPlan{Source: ".tandem/review.yaml", OneStagePerPerson: true,
		Checklist: []tandem.ChecklistItem{{ID: "home", Text: "The home page lists articles", Page: "/"}, {ID: "tests", Text: "The tests pass"}},
		Stages:    []tandem.ReviewStage{{Name: "qa", Meaning: tandem.MeaningApproved, Signers: 1, Role: tandem.RoleApprover}}}
	created := time.Now().UTC().Add(-time.Minute)
	w.pv.put(tandem.Preview{Name: "pr-1", Repo: "shop", Ref: "main", Commit: "9f2c4e1d0b7a6c5e4f3a2b1c0d9e8f7a6b5c4d3e", State: tandem.PreviewReady,
		Generation: 1, Serving: 1, CreatedAt: created, Author: "author@corp.example",
		Binding: tandem.Binding{Repo: "shop", Commit: "9f2c4e1d0b7a6c5e4f3a2b1c0d9e8f7a6b5c4d3e", ReviewPlan: plan.Digest()}})
	if err := w.store.PutReviewPlan(context.Background(), tandem.ReviewPlanRecord{Preview: "pr-1", Generation: 1, Digest: plan.Digest(), Plan: *plan, Time: time.Now()}); err != nil {
		w.t.Fatal(err)
	}
	return plan
}

func TestReviewPage(t *testing.T) {
	w := newWorld(t)
	w.reviewed()
	r := w.get(admin, "/previews/pr-1/review")
	for _, want := range []string{"The home page lists articles", `id="capture-home"`, `id="sign-qa"`, "in review", ".tandem/review.yaml", "author@corp.example"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("an admin's review page lacks %q: %.3000s", want, r.body)
		}
	}
	if r := w.get(admin, "/"); !strings.Contains(r.body, "in review: checklist 0/2") {
		t.Errorf("the list's review column: %.3000s", r.body)
	}
	r = w.get(viewer, "/previews/pr-1/review")
	if r.status != http.StatusOK || strings.Contains(r.body, `id="capture-home"`) || strings.Contains(r.body, `id="sign-qa"`) || strings.Contains(r.body, "/review/checks") {
		t.Errorf("a viewer's review page: %d %.3000s", r.status, r.body)
	}
	// A viewer may neither record nor sign, however the form is sent.
	for _, c := range []struct {
		path string
		form url.Values
	}{
		{"/previews/pr-1/review/checks", url.Values{"item": {"tests"}, "result": {"pass"}}},
		{"/previews/pr-1/review/sign", url.Values{"stage": {"qa"}, "code": {"246810"}}},
		{"/previews/pr-1/review/code", url.Values{"stage": {"qa"}}},
		{"/previews/pr-1/review/sign/reauth", url.Values{"stage": {"qa"}}},
	} {
		if r := w.do(viewer, "POST", c.path, c.form); r.status != http.StatusForbidden {
			t.Errorf("a viewer, %s: %d %.300s", c.path, r.status, r.body)
		}
	}
	if r := w.get(viewer, "/previews/pr-1/review/sign?stage=qa"); r.status != http.StatusForbidden {
		t.Errorf("a viewer's sign page: %d", r.status)
	}
	if r := w.upload(viewer, "tests", "report.txt", "ok 12 tests\n"); r.status != http.StatusForbidden {
		t.Errorf("a viewer's upload: %d", r.status)
	}
	if st, _ := w.dash.reviews().Status(context.Background(), "pr-1"); st.Checklist[1].Result != nil || len(st.Stages[0].Signatures) != 0 {
		t.Errorf("after a viewer's tries: %+v", st)
	}
}

func (w *world) upload(who, item, filename, content string) response {
	w.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("csrf", testCSRF)
	mw.WriteField("item", item)
	f, _ := mw.CreateFormFile("file", filename)
	io.WriteString(f, content)
	mw.Close()
	req, _ := http.NewRequest("POST", w.srv.URL+"/previews/pr-1/review/evidence", &body)
	req.Header.Set(whoHeader, who)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, res.Header, string(b)}
}

// A reviewer records results and evidence; an approver signs after
// proving again who they are, for that signature.
func TestReviewAndSign(t *testing.T) {
	w := newWorld(t)
	w.reviewed()
	for _, item := range []string{"home", "tests"} {
		if r := w.do(reviewer, "POST", "/previews/pr-1/review/checks", url.Values{"item": {item}, "result": {"pass"}, "note": {"fine"}, "generation": {"1"}}); r.status != http.StatusSeeOther {
			t.Fatalf("check %s: %d %.500s", item, r.status, r.body)
		}
	}
	if r := w.upload(reviewer, "tests", "report.txt", "ok 12 tests\n"); r.status != http.StatusSeeOther {
		t.Fatalf("upload: %d %.500s", r.status, r.body)
	}
	page := w.get(viewer, "/previews/pr-1/review")
	m := regexp.MustCompile(`href="(/previews/pr-1/review/evidence/sha256:[0-9a-f]{64})" class=pill>uploaded report.txt`).FindStringSubmatch(page.body)
	if m == nil {
		t.Fatalf("no evidence link: %.3000s", page.body)
	}
	if r := w.get(viewer, m[1]); r.body != "ok 12 tests\n" || r.header.Get("Content-Type") != "application/octet-stream" || !strings.HasPrefix(r.header.Get("Content-Disposition"), "attachment") {
		t.Errorf("the evidence file: %q %v", r.body, r.header)
	}
	if r := w.get(viewer, "/previews/pr-1/review/evidence/sha256:"+strings.Repeat("0", 64)); r.status != http.StatusNotFound {
		t.Errorf("evidence of no review: %d", r.status)
	}

	// The sign page says what a signature will say before anything is signed.
	r := w.get(admin, "/previews/pr-1/review/sign?stage=qa")
	if !strings.Contains(r.body, "I, <strong>admin</strong> (admin@corp.example), sign stage <strong>qa</strong>") || !strings.Contains(r.body, "as <strong>approved</strong>") {
		t.Errorf("the sign page: %.3000s", r.body)
	}
	// Signing in again first: the form goes to the sign-in host, and back.
	w.who[admin].AuthTime = time.Now().Add(-time.Hour)
	r = w.do(admin, "POST", "/previews/pr-1/review/sign/reauth", url.Values{"stage": {"qa"}, "meaning": {"approved"}, "comment": {"looks right"}, "generation": {"1"}})
	loc, _ := url.Parse(r.header.Get("Location"))
	back := loc.Query().Get("rd")
	if r.status != http.StatusSeeOther || loc.Host != "auth.previews.example.com" || loc.Query().Get("reauth") != "1" || !strings.HasPrefix(back, "http://tandem.previews.example.com/previews/pr-1/review/sign/sig_") {
		t.Fatalf("to re-authenticate: %d %s", r.status, r.header.Get("Location"))
	}
	path := strings.TrimPrefix(back, "http://tandem.previews.example.com")
	// Back without having signed in again: nothing to sign.
	if r := w.get(admin, path); strings.Contains(r.body, "id=sign-now") || !strings.Contains(r.body, "not signed in again") {
		t.Errorf("before re-authenticating: %.2000s", r.body)
	}
	if r := w.do(admin, "POST", path, url.Values{}); r.status != http.StatusUnauthorized {
		t.Errorf("a signature without re-authenticating: %d", r.status)
	}
	// Someone else's pending signature is nobody's.
	if r := w.get("shopadmin@corp.example", path); r.status != http.StatusNotFound {
		t.Errorf("another's pending signature: %d", r.status)
	}
	w.who[admin].AuthTime = time.Now()
	if r := w.get(admin, path); !strings.Contains(r.body, "id=sign-now") || !strings.Contains(r.body, "looks right") {
		t.Errorf("after re-authenticating: %.2000s", r.body)
	}
	if r := w.do(admin, "POST", path, url.Values{}); r.status != http.StatusSeeOther || r.header.Get("Location") != "/previews/pr-1/review?done=signed#stages" {
		t.Fatalf("sign: %d %.500s", r.status, r.body)
	}
	if r := w.do(admin, "POST", path, url.Values{}); r.status != http.StatusNotFound {
		t.Errorf("the same signature twice: %d", r.status)
	}
	st, _ := w.dash.reviews().Status(context.Background(), "pr-1")
	if st.State != tandem.ReviewApproved || len(st.Stages[0].Signatures) != 1 {
		t.Fatalf("after signing: %+v", st)
	}
	sig := st.Stages[0].Signatures[0].Signature
	if sig.PrintedName != "admin" || sig.Comment != "looks right" || sig.Reauth != "oidc" {
		t.Errorf("the signature: %+v", sig)
	}
	page = w.get(viewer, "/previews/pr-1/review")
	if !strings.Contains(page.body, "<strong>approved</strong> by admin (admin@corp.example)") {
		t.Errorf("the review after signing: %.3000s", page.body)
	}
	// The timeline shows it, from the audit log.
	if r := w.get(viewer, "/previews/pr-1"); !strings.Contains(r.body, "approved by admin (admin@corp.example) for the stage qa, re-authenticated by oidc") {
		t.Errorf("the timeline: %.5000s", r.body)
	}
}

// A code given with the signature is the re-authentication.
func TestSignWithCode(t *testing.T) {
	w := newWorld(t)
	w.reviewed()
	if r := w.do(admin, "POST", "/previews/pr-1/review/sign", url.Values{"stage": {"qa"}, "meaning": {"rejected"}, "code": {"000000"}}); r.status != http.StatusUnauthorized {
		t.Errorf("a wrong code: %d", r.status)
	}
	if r := w.do(admin, "POST", "/previews/pr-1/review/sign", url.Values{"stage": {"qa"}, "meaning": {"rejected"}, "code": {"246810"}, "comment": {"broken"}}); r.status != http.StatusSeeOther {
		t.Fatalf("a rejection with a code: %d %.500s", r.status, r.body)
	}
	if st, _ := w.dash.reviews().Status(context.Background(), "pr-1"); st.State != tandem.ReviewRejected {
		t.Errorf("after a rejection: %s", st.State)
	}
	// The author signs nothing, whatever role they have.
	w.person("author@corp.example", map[string]tandem.Role{"shop": tandem.RoleApprover})
	if r := w.get("author@corp.example", "/previews/pr-1/review"); strings.Contains(r.body, `id="sign-qa"`) {
		t.Errorf("the author is offered to sign")
	}
}

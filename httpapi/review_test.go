package httpapi

import (
	"bytes"
	"context"
	"encoding/base32"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/access"
	"github.com/tandem-dev/tandem/audit"
	"github.com/tandem-dev/tandem/review"
)

// withReviews gives the API a real review service over its store, the
// audit log and an access server, and pr-1 a generation with a plan of
// one item and one stage.
func withReviews(t *testing.T, a *api) {
	t.Helper()
	dir := t.TempDir()
	key, err := audit.EnsureKey(dir, "previews.example.com/audit")
	if err != nil {
		t.Fatal(err)
	}
	log, err := audit.Open(context.Background(), a.store, key)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := access.New(access.Config{Store: a.store, Previews: a.store, Domain: "previews.example.com", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := review.New(review.Config{Store: a.store, Previews: a.previews, Log: log, Evidence: audit.EvidenceDirIn(dir), Access: acc})
	if err != nil {
		t.Fatal(err)
	}
	tree := t.TempDir()
	os.MkdirAll(filepath.Join(tree, ".tandem"), 0o755)
	os.WriteFile(filepath.Join(tree, tandem.ReviewPlanFile), []byte("checklist:\n  - {id: smoke, text: It starts}\nstages:\n  - name: qa\n"), 0o644)
	p := a.previews.previews["pr-1"]
	digest, err := svc.PlanOf(context.Background(), p, 1, tree, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.Serving, p.Generation, p.CreatedAt = 1, 1, time.Now().Add(-time.Hour)
	p.Binding = tandem.Binding{Repo: "shop", Commit: "0123456789abcdef0123456789abcdef01234567", ReviewPlan: digest}
	a.srv.Reviews = svc
}

// personToken makes a person with an authenticator app, an approver of
// shop, and a token of their own; it returns the token and their secret.
func personToken(t *testing.T, a *api, email string) (string, string) {
	ctx := context.Background()
	p := &tandem.Person{ID: tandem.NewID("p_"), Email: email, Name: "Quinn Analyst", TOTP: true, CreatedAt: time.Now()}
	secret := base32.StdEncoding.EncodeToString([]byte(email + "-secret-bytes")[:20])
	if err := a.store.PutPerson(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := a.store.PutTOTPSecret(ctx, p.ID, secret); err != nil {
		t.Fatal(err)
	}
	if _, err := a.store.AddGrant(ctx, tandem.Grant{Repo: "shop", Role: tandem.RoleApprover, Email: email, Source: "api"}); err != nil {
		t.Fatal(err)
	}
	token := tandem.NewSecret(TokenPrefix)
	if err := a.store.PutToken(ctx, &tandem.Token{ID: tandem.NewID("t_"), Name: "login", PersonID: p.ID, CreatedBy: email}, tandem.HashSecret(token)); err != nil {
		t.Fatal(err)
	}
	return token, secret
}

func TestReviewAPI(t *testing.T) {
	a := newAPI(t)
	blog := a.token(tandem.RoleAdmin, "blog")
	if code, e := a.do("GET", "/v1/previews/pr-1/review", a.admin, nil, nil); code != http.StatusNotImplemented || e.Code != tandem.EUNSUPPORTED {
		t.Errorf("without reviews: %d %+v", code, e)
	}
	withReviews(t, a)
	viewer, ci := a.token(tandem.RoleViewer, "shop"), a.token(tandem.RoleReviewer, "shop")
	qa, secret := personToken(t, a, "qa@corp.example")

	var st ReviewStatus
	if code, _ := a.do("GET", "/v1/previews/pr-1/review", viewer, nil, &st); code != http.StatusOK || st.State != tandem.ReviewInProgress ||
		st.Summary != "in review: checklist 0/1, stage qa open (0/1)" || st.Plan.Source != tandem.ReviewPlanFile {
		t.Fatalf("status: %d %+v", code, st)
	}
	if code, _ := a.do("GET", "/v1/previews/pr-1/review", blog, nil, nil); code != http.StatusForbidden {
		t.Errorf("another repository's admin: %d", code)
	}
	if code, e := a.do("POST", "/v1/previews/pr-1/review/checks", viewer, review.CheckRequest{Item: "smoke", Result: "pass"}, nil); code != http.StatusForbidden || !strings.Contains(e.Error, "needs the role reviewer") {
		t.Errorf("a viewer's check: %d %+v", code, e)
	}
	var res tandem.ChecklistResult
	if code, e := a.do("POST", "/v1/previews/pr-1/review/checks", ci, review.CheckRequest{Item: "smoke", Result: "pass", Note: "CI"}, &res); code != http.StatusCreated || res.Generation != 1 || res.By != "token reviewer-of-shop ("+strings.Split(res.By, "(")[1] {
		t.Fatalf("CI's check: %d %+v %+v", code, e, res)
	}

	t.Run("evidence is a body of its own type", func(t *testing.T) {
		c := &Client{base: a.url, http: &http.Client{}, Token: ci}
		res, err := c.ReviewEvidence(context.Background(), "pr-1", review.EvidenceRequest{Item: "smoke", Filename: "report.html"}, strings.NewReader("<html><body>all green</body></html>"))
		if err != nil || len(res.Evidence) != 1 || res.Evidence[0].MediaType != "text/plain; charset=utf-8" || res.Evidence[0].Size != 35 {
			t.Errorf("upload: %+v %v", res, err)
		}
		req, _ := http.NewRequest("POST", a.url+"/v1/previews/pr-1/review/evidence?item=smoke&filename=x", bytes.NewReader([]byte("x")))
		req.Header.Set("Authorization", "Bearer "+ci)
		req.Header.Set("Content-Type", "multipart/form-data; boundary=x")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("a form's upload: %d", resp.StatusCode)
		}
	})

	t.Run("only a person signs, with a fresh code", func(t *testing.T) {
		if code, e := a.do("POST", "/v1/previews/pr-1/review/signatures", a.admin, review.SignRequest{Stage: "qa", Code: "123456"}, nil); code != http.StatusForbidden || !strings.Contains(e.Error, "a person's") {
			t.Errorf("a token's signature: %d %+v", code, e)
		}
		if code, e := a.do("POST", "/v1/previews/pr-1/review/signatures", qa, review.SignRequest{Stage: "qa"}, nil); code != http.StatusUnauthorized || !strings.Contains(e.Error, "prove who you are now") {
			t.Errorf("no code: %d %+v", code, e)
		}
		if code, e := a.do("POST", "/v1/previews/pr-1/review/code", qa, CodeBody{Stage: "qa"}, nil); code != http.StatusNotImplemented || !strings.Contains(e.Error, "sends no mail") {
			t.Errorf("a mailed code without mail: %d %+v", code, e)
		}
		code, _ := totp.GenerateCode(secret, time.Now())
		var sig tandem.Approval
		if status, e := a.do("POST", "/v1/previews/pr-1/review/signatures", qa, review.SignRequest{Stage: "qa", Code: code}, &sig); status != http.StatusCreated ||
			sig.Signature.PrintedName != "Quinn Analyst" || sig.Signature.Reauth != "totp" || sig.Signature.Meaning != tandem.MeaningApproved {
			t.Fatalf("signature: %d %+v %+v", status, e, sig)
		}
		if code, _ := a.do("GET", "/v1/previews/pr-1/review", viewer, nil, &st); code != http.StatusOK || st.State != tandem.ReviewApproved {
			t.Errorf("after: %+v", st)
		}
	})
}

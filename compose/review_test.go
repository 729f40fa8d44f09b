package compose

import (
	"reflect"
	"strings"
	"testing"

	"github.com/tandem-dev/tandem"
)

const reviewPlanFile = `checklist:
  - id: home
    text: The home page lists the articles
    page: /?from=review
    viewport: 1024x700
    requires_evidence: true
  - id: login
    text: Signing in works
stages:
  - name: qa
    meaning: reviewed
  - name: compliance
    signers: 2
    role: admin
    groups: [compliance]
    people: [Carol@Corp.Example]
separation:
  one_stage_per_person: false
`

func TestLoadReviewPlanFile(t *testing.T) {
	plan, err := LoadReviewPlan(".tandem/review.yaml", []byte(reviewPlanFile))
	if err != nil {
		t.Fatal(err)
	}
	want := &tandem.ReviewPlan{
		Source: ".tandem/review.yaml",
		Checklist: []tandem.ChecklistItem{
			{ID: "home", Text: "The home page lists the articles", Page: "/?from=review", Viewport: tandem.Viewport{Width: 1024, Height: 700}, RequiresEvidence: true},
			{ID: "login", Text: "Signing in works"},
		},
		Stages: []tandem.ReviewStage{
			{Name: "qa", Meaning: tandem.MeaningReviewed, Signers: 1, Role: tandem.RoleApprover},
			{Name: "compliance", Meaning: tandem.MeaningApproved, Signers: 2, Role: tandem.RoleAdmin, Groups: []string{"compliance"}, People: []string{"carol@corp.example"}},
		},
	}
	if !reflect.DeepEqual(plan, want) {
		t.Errorf("plan:\n got %+v\nwant %+v", plan, want)
	}
	// The digest is of the plan, not of how it was written.
	again, _ := LoadReviewPlan(".tandem/review.yaml", []byte(strings.ReplaceAll(reviewPlanFile, "[compliance]", "\n      - compliance")))
	if again.Digest() != plan.Digest() || !strings.HasPrefix(plan.Digest(), "sha256:") {
		t.Errorf("digests %s and %s", again.Digest(), plan.Digest())
	}
}

func TestLoadReviewPlanErrors(t *testing.T) {
	for _, tc := range []struct{ name, file, want string }{
		{"unknown key", "checklist: []\nstage: []\n", `review.yaml:2: unknown key "stage" in the review plan; did you mean "stages"?`},
		{"item without text", "checklist:\n  - id: home\n", `review.yaml:2: checklist item "home" has no text: what the reviewer confirms`},
		{"duplicate item", "checklist:\n  - {id: a, text: x}\n  - id: a\n    text: y\n", `review.yaml:3: checklist item "a" is listed twice`},
		{"bad id", "checklist:\n  - id: Home Page\n    text: x\n", `review.yaml:2: checklist item id "Home Page": lower-case letters, digits, dots, dashes and underscores, at most 64`},
		{"absolute page", "checklist:\n  - id: a\n    text: x\n    page: https://evil.example/\n", `review.yaml:4: checklist item page "https://evil.example/" must be a path on the preview's host, starting with one "/"`},
		{"scheme-relative page", "checklist:\n  - id: a\n    text: x\n    page: //evil.example/\n", `review.yaml:4: checklist item page "//evil.example/" must be a path on the preview's host, starting with one "/"`},
		{"bad viewport", "checklist:\n  - id: a\n    text: x\n    page: /\n    viewport: 10x10\n", `review.yaml:5: checklist item viewport "10x10" must be from 200x200 to 3840x4320`},
		{"reviewer may not sign", "stages:\n  - name: qa\n    role: reviewer\n", `review.yaml:3: stage "qa": role reviewer may not sign: a stage's signers are approvers or admins`},
		{"no signers", "stages:\n  - name: qa\n    signers: 0\n", `review.yaml:3: stage "qa": signers must be a number from 1 to 20, not a number`},
		{"bad meaning", "stages:\n  - name: qa\n    meaning: authored\n", `review.yaml:3: stage "qa": meaning must be approved or reviewed, not "authored"`},
		{"duplicate stage", "stages:\n  - name: qa\n  - name: qa\n", `review.yaml:3: stage "qa" is listed twice`},
		{"bad person", "stages:\n  - name: qa\n    people: [Bob <bob@x.example>]\n", `review.yaml:3: stage "qa": "Bob <bob@x.example>" is not an email address`},
		{"syntax", "checklist: [\n", `review.yaml:1: `},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadReviewPlan("review.yaml", []byte(tc.file))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) || tandem.ErrorCode(err) != tandem.EINVALID {
				t.Errorf("error:\n got %v\nwant %q", err, tc.want)
			}
		})
	}
}

// TestLoadXTandemReview: the same plan in the stack file, with its
// problems at their lines there.
func TestLoadXTandemReview(t *testing.T) {
	indented := "  review:\n    " + strings.ReplaceAll(strings.TrimSpace(reviewPlanFile), "\n", "\n    ")
	stackDir(t, map[string]string{"compose.yml": withXTandem(strings.Split(indented, "\n")...)})
	st := mustLoad(t, Options{})
	plan, _ := LoadReviewPlan(".tandem/review.yaml", []byte(reviewPlanFile))
	if st.Review == nil || st.Review.Source != "x-tandem.review" || st.Review.Digest() == "" {
		t.Fatalf("review: %+v", st.Review)
	}
	st.Review.Source = plan.Source
	if st.Review.Digest() != plan.Digest() {
		t.Errorf("x-tandem.review reads otherwise than the file:\n%+v\n%+v", st.Review, plan)
	}

	stackDir(t, map[string]string{"compose.yml": withXTandem("  review:", "    stages:", "      - name: qa", "        signers: many")})
	_, err := load(t, Options{})
	wantError(t, err, `compose.yml:5: stage "qa": signers must be a number from 1 to 20, not "many"`)
}

// FuzzLoadReviewPlan: a plan file either loads into a plan that keeps the
// rules a pull request cannot lift — pages on the preview's own host,
// signers who are approvers, ids of the safe alphabet — or fails with a
// message that starts with the file's name.
func FuzzLoadReviewPlan(f *testing.F) {
	f.Add([]byte(reviewPlanFile))
	f.Add([]byte("checklist:\n  - {id: a, text: b, page: //x}\n"))
	f.Add([]byte("stages: [{name: qa, role: viewer, signers: 0}]\n"))
	f.Add([]byte("checklist: &a [*a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		plan, err := LoadReviewPlan("review.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "review.yaml") || tandem.ErrorCode(err) != tandem.EINVALID {
				t.Fatalf("error %q (%s)", err, tandem.ErrorCode(err))
			}
			return
		}
		for _, it := range plan.Checklist {
			if !reviewID.MatchString(it.ID) || it.Text == "" || (it.Page != "" && checkPagePath(it.Page) != nil) {
				t.Fatalf("item %+v", it)
			}
		}
		for _, s := range plan.Stages {
			if !reviewID.MatchString(s.Name) || s.Signers < 1 || s.Signers > maxSigners || !s.Role.Includes(tandem.RoleApprover) {
				t.Fatalf("stage %+v", s)
			}
		}
	})
}

package tandem

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// ReviewPlanFile is where a repository keeps its review plan, from the
// root of its work tree. The stack file's x-tandem.review may hold it
// instead; a repository that has both is refused (see docs/review.md).
const ReviewPlanFile = ".tandem/review.yaml"

// ReviewPlan is what a review of a preview must cover: a checklist, and an
// approval pipeline of ordered stages. It comes from the pull request
// itself, so it can only ask for more than the server's grants allow,
// never less: every signer needs the role approver in the repository, and
// the pull request's author signs no stage whatever the plan says.
type ReviewPlan struct {
	// Source says where the plan was read: ".tandem/review.yaml",
	// "docker-compose.yml x-tandem.review", or "" for DefaultReviewPlan.
	Source    string          `json:"source"`
	Checklist []ChecklistItem `json:"checklist"`
	Stages    []ReviewStage   `json:"stages"`
	// OneStagePerPerson: nobody signs two stages of one generation.
	// True unless the plan says separation.one_stage_per_person: false.
	OneStagePerPerson bool `json:"one_stage_per_person"`
}

// ChecklistItem is one thing a reviewer confirms.
type ChecklistItem struct {
	ID   string `json:"id"` // "home": [a-z0-9][a-z0-9._-]*
	Text string `json:"text"`
	// Page is a path on the preview's host that tandem captures as this
	// item's evidence ("/articles/one"), at Viewport (default 1280x800).
	Page     string   `json:"page,omitempty"`
	Viewport Viewport `json:"viewport,omitzero"`
	// RequiresEvidence: the item cannot pass without evidence (a capture
	// or an upload) for the generation under review.
	RequiresEvidence bool `json:"requires_evidence,omitempty"`
}

// Viewport is a browser window's size in CSS pixels.
type Viewport struct {
	Width  int `json:"width"`
	Height int `json:"height"`
}

// DefaultViewport is a capture's window when the plan names none.
var DefaultViewport = Viewport{Width: 1280, Height: 800}

// ReviewStage is one step of the approval pipeline: Signers distinct
// people, each with Role in the repository and, when Groups or People are
// given, in one of those groups or among those people.
type ReviewStage struct {
	Name    string           `json:"name"`
	Meaning SignatureMeaning `json:"meaning"` // what signing it says: approved (default) or reviewed
	Signers int              `json:"signers"` // at least 1
	Role    Role             `json:"role"`    // approver (default) or admin
	Groups  []string         `json:"groups,omitempty"`
	People  []string         `json:"people,omitempty"` // email addresses, lower-case
}

// DefaultReviewPlan is the plan of a repository that declares none: no
// checklist, and one stage, "approval", that one approver signs.
func DefaultReviewPlan() *ReviewPlan {
	return &ReviewPlan{Checklist: []ChecklistItem{}, OneStagePerPerson: true,
		Stages: []ReviewStage{{Name: "approval", Meaning: MeaningApproved, Signers: 1, Role: RoleApprover}}}
}

// Item returns the checklist item called id, or nil.
func (p *ReviewPlan) Item(id string) *ChecklistItem {
	for i := range p.Checklist {
		if p.Checklist[i].ID == id {
			return &p.Checklist[i]
		}
	}
	return nil
}

// Stage returns the index of the stage called name, or -1.
func (p *ReviewPlan) Stage(name string) int {
	return slices.IndexFunc(p.Stages, func(s ReviewStage) bool { return s.Name == name })
}

// Canonical is the plan as its digest hashes it, and as it is kept as
// evidence: compact JSON, fields in a fixed order.
func (p *ReviewPlan) Canonical() []byte {
	b, _ := json.Marshal(p) // plain data: it cannot fail
	return b
}

// Digest is the plan's "sha256:<hex>", which the binding of a generation
// reviewed against it records (Binding.ReviewPlan).
func (p *ReviewPlan) Digest() string {
	h := sha256.Sum256(p.Canonical())
	return "sha256:" + hex.EncodeToString(h[:])
}

// Admits reports whether pr may sign stage s of a preview of repo, as far
// as roles, groups and people go (separation of duties is the pipeline's).
func (s ReviewStage) Admits(pr *Principal, repo string) bool {
	if pr == nil || pr.Person == nil || !pr.Can(repo, s.Role) {
		return false
	}
	if len(s.Groups) == 0 && len(s.People) == 0 {
		return true
	}
	if slices.ContainsFunc(s.People, func(e string) bool { return strings.EqualFold(e, pr.Person.Email) }) {
		return true
	}
	return slices.ContainsFunc(s.Groups, func(g string) bool { return slices.Contains(pr.Person.Groups, g) })
}

// Checklist results.
const (
	ResultPass = "pass"
	ResultFail = "fail"
	ResultNA   = "n/a"
)

// ChecklistResult is what a reviewer recorded about a checklist item of
// one generation: a result, or (Result "") evidence alone.
type ChecklistResult struct {
	Preview    string     `json:"preview"`
	Generation int        `json:"generation"`
	Commit     string     `json:"commit"`
	Item       string     `json:"item"`
	Result     string     `json:"result,omitempty"` // pass, fail, n/a; "" for evidence alone
	Note       string     `json:"note,omitempty"`
	By         string     `json:"by"` // the reviewer's email address
	Time       time.Time  `json:"time"`
	Evidence   []Evidence `json:"evidence,omitempty"`
	Entry      int64      `json:"entry"` // its entry in the audit log
}

// Approval is a signature given to a stage of one generation's pipeline
// (or, with meaning authored, by the author, to no stage).
type Approval struct {
	Preview    string    `json:"preview"`
	Generation int       `json:"generation"`
	Commit     string    `json:"commit"`
	Email      string    `json:"email"` // the signer's, for separation of duties
	Signature  Signature `json:"signature"`
	Entry      int64     `json:"entry"` // its entry in the audit log
}

// ReviewPlanRecord is the plan a generation was made with, as read from
// its work tree at its commit.
type ReviewPlanRecord struct {
	Preview    string     `json:"preview"`
	Generation int        `json:"generation"`
	Digest     string     `json:"digest"`
	Plan       ReviewPlan `json:"plan"`
	Time       time.Time  `json:"time"`
}

// Review states, of a stage and of a whole review.
const (
	StageWaiting  = "waiting"  // an earlier stage is not complete
	StageOpen     = "open"     // may be signed now
	StageApproved = "approved" // complete
	StageRejected = "rejected"

	ReviewNoBuild    = "no build"    // no generation serves: nothing to review
	ReviewInProgress = "in review"   // stages remain
	ReviewApproved   = "approved"    // every stage is complete
	ReviewRejected   = "rejected"    // a signer rejected this generation
	ReviewNoPlan     = "plan failed" // the plan of the serving generation is not known
)

// ReviewState is a preview's review as it stands: the serving
// generation's plan, checklist and pipeline, and what was given to earlier
// generations and no longer counts.
type ReviewState struct {
	Preview    string       `json:"preview"`
	Repo       string       `json:"repo"`
	URL        string       `json:"url"`
	Author     string       `json:"author,omitempty"`
	Generation int          `json:"generation"` // the one serving; 0: none
	Binding    Binding      `json:"binding"`
	State      string       `json:"state"` // ReviewApproved, ReviewInProgress...
	Plan       *ReviewPlan  `json:"plan,omitempty"`
	PlanDigest string       `json:"plan_digest,omitempty"`
	Checklist  []ItemState  `json:"checklist"`
	Stages     []StageState `json:"stages"`
	// Authored are the author's own signatures (meaning authored).
	Authored []Approval `json:"authored,omitempty"`
	// Superseded are signatures given to earlier generations: "approved at
	// abc123, superseded".
	Superseded []Approval `json:"superseded,omitempty"`
}

// ItemState is a checklist item of the serving generation.
type ItemState struct {
	Item     ChecklistItem    `json:"item"`
	Result   *ChecklistResult `json:"result,omitempty"` // the latest result; nil: none yet
	Evidence []Evidence       `json:"evidence"`         // all of this generation's
	// Done: passed or not applicable, with evidence where it is required.
	Done bool `json:"done"`
}

// StageState is a stage of the serving generation's pipeline.
type StageState struct {
	Stage      ReviewStage `json:"stage"`
	State      string      `json:"state"` // StageWaiting, StageOpen, StageApproved, StageRejected
	Signatures []Approval  `json:"signatures"`
}

// ReviewStore keeps review plans and what reviewers did: SQLite in the
// data directory by default. The audit log holds the record; this is what
// answers "where does the review stand" without reading the whole log.
// Records are never changed; a new generation makes new ones.
type ReviewStore interface {
	// PutReviewPlan keeps the plan of a generation, replacing one kept for
	// the same preview and generation (of a preview since destroyed).
	PutReviewPlan(ctx context.Context, rec ReviewPlanRecord) error
	// ReviewPlan returns it; ENOTFOUND if none is kept.
	ReviewPlan(ctx context.Context, preview string, generation int) (*ReviewPlanRecord, error)
	// AddChecklistResult and AddApproval keep what a reviewer did, once
	// its entry is in the audit log.
	AddChecklistResult(ctx context.Context, r *ChecklistResult) error
	AddApproval(ctx context.Context, a *Approval) error
	// ChecklistResults and Approvals return a preview's records made at or
	// after since (its creation: a name reused after a destroy starts
	// afresh), oldest first.
	ChecklistResults(ctx context.Context, preview string, since time.Time) ([]*ChecklistResult, error)
	Approvals(ctx context.Context, preview string, since time.Time) ([]*Approval, error)
}

// Package review runs the review of previews: each generation's review
// plan (read from its work tree at its commit), checklist results with
// evidence (captures of pages in headless Chromium through the gateway as
// the reviewer, uploaded files), and the approval pipeline's electronic
// signatures, given with re-authentication as 21 CFR Part 11 asks. Every
// step is an entry of the audit log first, then a record of the
// tandem.ReviewStore. A newer generation supersedes what was given to the
// one before: its pipeline starts again.
//
// The CLI and the API (package httpapi), the dashboard and the forges' pull
// request comments all go through a Service: Status, Check, AddEvidence,
// Capture, Sign, SendCode, and Summary for a comment. See docs/review.md.
package review

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/audit"
	"github.com/tandem-dev/tandem/capture"
)

// Previews finds a preview: the preview manager, or the store, does.
type Previews interface {
	Get(ctx context.Context, name string) (*tandem.Preview, error)
}

// Access is what reviews need of package access: a reviewer's session for
// the capture browser, and re-authentication when signing.
type Access interface {
	ReviewerSession(ctx context.Context, person *tandem.Person, preview string) (*http.Cookie, func(), error)
	SendReauthCode(ctx context.Context, person *tandem.Person, what string) error
	Reauthenticate(ctx context.Context, person *tandem.Person, code string) (method string, at time.Time, err error)
}

// Browser captures a page (package capture).
type Browser interface {
	Capture(ctx context.Context, p capture.Page) (*capture.Result, error)
}

var _ Browser = (*capture.Browser)(nil)

// Config configures a Service.
type Config struct {
	Store    tandem.ReviewStore
	Previews Previews
	Log      tandem.AuditLog
	Evidence audit.EvidenceDir
	// Access and Browser are needed for captures, Access for signing with
	// a code; nil: this server does neither.
	Access  Access
	Browser Browser
	// Gateway is where the capture browser reaches previews' hosts
	// ("127.0.0.1:8080"); empty: as DNS says.
	Gateway string
	// ReauthMaxAge is how long a browser's sign-in counts as the
	// re-authentication a signature needs. Default DefaultReauthMaxAge.
	ReauthMaxAge time.Duration
	// MaxUpload bounds an uploaded evidence file. Default DefaultMaxUpload.
	MaxUpload int64
	Now       func() time.Time
}

// maxCaptures is how many pages are captured at once; more wait.
const maxCaptures = 2

// Defaults of Config.
const (
	DefaultReauthMaxAge = 5 * time.Minute
	DefaultMaxUpload    = 100 << 20
)

// Service runs reviews.
type Service struct {
	cfg Config

	mu    sync.Mutex
	locks map[string]*sync.Mutex
	// captures bounds the browsers running at once: each is a Chromium.
	captures chan struct{}
}

// New returns the Service cfg describes.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Previews == nil || cfg.Log == nil || cfg.Evidence == "" {
		return nil, tandem.Errorf(tandem.EINVALID, "review: a store, previews, the audit log and an evidence directory are needed")
	}
	if cfg.ReauthMaxAge <= 0 {
		cfg.ReauthMaxAge = DefaultReauthMaxAge
	}
	if cfg.MaxUpload <= 0 {
		cfg.MaxUpload = DefaultMaxUpload
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{cfg: cfg, locks: map[string]*sync.Mutex{}, captures: make(chan struct{}, maxCaptures)}, nil
}

// lock serialises what is recorded about one preview, so that what a
// step checks (the stage is open, nobody signed twice) still holds when
// it is recorded.
func (s *Service) lock(name string) func() {
	s.mu.Lock()
	l := s.locks[name]
	if l == nil {
		l = &sync.Mutex{}
		s.locks[name] = l
	}
	s.mu.Unlock()
	l.Lock()
	return l.Unlock
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC() }

// Status returns where the review of the preview called name stands.
func (s *Service) Status(ctx context.Context, name string) (*tandem.ReviewState, error) {
	st, _, err := s.state(ctx, name)
	return st, err
}

// current is a preview's serving generation with its plan and records.
type current struct {
	st      *tandem.ReviewState
	p       *tandem.Preview
	plan    *tandem.ReviewPlan
	results []*tandem.ChecklistResult // of every generation
}

// state computes the review of a preview as it stands.
func (s *Service) state(ctx context.Context, name string) (*tandem.ReviewState, *current, error) {
	p, err := s.cfg.Previews.Get(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	st := &tandem.ReviewState{Preview: p.Name, Repo: p.Repo, URL: p.URL, Author: p.Author, Generation: p.Serving,
		Binding: p.Binding, Checklist: []tandem.ItemState{}, Stages: []tandem.StageState{}}
	cur := &current{st: st, p: p}
	approvals, err := s.cfg.Store.Approvals(ctx, name, p.CreatedAt)
	if err != nil {
		return nil, nil, err
	}
	if cur.results, err = s.cfg.Store.ChecklistResults(ctx, name, p.CreatedAt); err != nil {
		return nil, nil, err
	}
	for _, a := range approvals {
		if a.Generation < p.Serving || p.Serving == 0 {
			st.Superseded = append(st.Superseded, *a)
		}
	}
	if p.Serving == 0 {
		st.State = tandem.ReviewNoBuild
		return st, cur, nil
	}
	if cur.plan, err = s.plan(ctx, p); err != nil {
		return nil, nil, err
	}
	if cur.plan == nil {
		st.State = tandem.ReviewNoPlan
		return st, cur, nil
	}
	st.Plan, st.PlanDigest = cur.plan, cur.plan.Digest()
	st.Checklist = items(cur.plan, cur.results, p.Serving)
	st.Stages, st.Authored = stages(cur.plan, approvals, p.Serving)
	st.State = overall(st)
	return st, cur, nil
}

// plan is the plan of p's serving generation: the one kept when it was
// made, nil if that is lost, or the default plan for a generation made
// before tandem read plans.
func (s *Service) plan(ctx context.Context, p *tandem.Preview) (*tandem.ReviewPlan, error) {
	rec, err := s.cfg.Store.ReviewPlan(ctx, p.Name, p.Serving)
	switch {
	case err == nil && !rec.Time.Before(p.CreatedAt) && rec.Digest == p.Binding.ReviewPlan:
		return &rec.Plan, nil
	case err != nil && tandem.ErrorCode(err) != tandem.ENOTFOUND:
		return nil, err
	case p.Binding.ReviewPlan == "":
		return tandem.DefaultReviewPlan(), nil
	}
	return nil, nil
}

// items are the checklist of generation gen.
func items(plan *tandem.ReviewPlan, results []*tandem.ChecklistResult, gen int) []tandem.ItemState {
	out := make([]tandem.ItemState, 0, len(plan.Checklist))
	for _, it := range plan.Checklist {
		is := tandem.ItemState{Item: it, Evidence: []tandem.Evidence{}}
		for _, r := range results {
			if r.Generation != gen || r.Item != it.ID {
				continue
			}
			if r.Result != "" {
				is.Result = r
			}
			is.Evidence = append(is.Evidence, r.Evidence...)
		}
		if is.Result != nil {
			switch is.Result.Result {
			case tandem.ResultPass:
				is.Done = !it.RequiresEvidence || len(is.Evidence) > 0
			case tandem.ResultNA:
				is.Done = true
			}
		}
		out = append(out, is)
	}
	return out
}

// stages are the pipeline of generation gen, in order: a stage is open
// once every stage before it is approved.
func stages(plan *tandem.ReviewPlan, approvals []*tandem.Approval, gen int) ([]tandem.StageState, []tandem.Approval) {
	out := make([]tandem.StageState, 0, len(plan.Stages))
	var authored []tandem.Approval
	for _, a := range approvals {
		if a.Generation == gen && a.Signature.Meaning == tandem.MeaningAuthored {
			authored = append(authored, *a)
		}
	}
	earlierDone := true
	for _, stage := range plan.Stages {
		ss := tandem.StageState{Stage: stage, Signatures: []tandem.Approval{}}
		signers, rejected := map[string]bool{}, false
		for _, a := range approvals {
			if a.Generation != gen || a.Signature.Stage != stage.Name {
				continue
			}
			ss.Signatures = append(ss.Signatures, *a)
			if a.Signature.Meaning == tandem.MeaningRejected {
				rejected = true
			} else {
				signers[a.Email] = true
			}
		}
		switch {
		case rejected:
			ss.State = tandem.StageRejected
		case len(signers) >= stage.Signers:
			ss.State = tandem.StageApproved
		case earlierDone:
			ss.State = tandem.StageOpen
		default:
			ss.State = tandem.StageWaiting
		}
		earlierDone = earlierDone && ss.State == tandem.StageApproved
		out = append(out, ss)
	}
	return out, authored
}

// overall is the review's state: rejected by any stage, approved once the
// checklist is done and every stage approved.
func overall(st *tandem.ReviewState) string {
	for _, ss := range st.Stages {
		if ss.State == tandem.StageRejected {
			return tandem.ReviewRejected
		}
	}
	for _, ss := range st.Stages {
		if ss.State != tandem.StageApproved {
			return tandem.ReviewInProgress
		}
	}
	for _, is := range st.Checklist {
		if !is.Done {
			return tandem.ReviewInProgress
		}
	}
	return tandem.ReviewApproved
}

// short is a commit as people read it.
func short(commit string) string { return commit[:min(len(commit), 7)] }

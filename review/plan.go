package review

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/compose"
)

// LoadPlan reads the review plan of a work tree: tandem.ReviewPlanFile,
// or the stack's x-tandem.review (st may be nil), or, with neither, the
// default plan. Having both is an error: which one governs the review
// must not be a matter of precedence rules. The file is read inside the
// work tree only, and only if it is a regular file of a sane size: it is
// a pull request's.
func LoadPlan(workTree string, st *tandem.Stack) (*tandem.ReviewPlan, error) {
	content, err := readPlanFile(workTree)
	if err != nil {
		return nil, err
	}
	inStack := st != nil && st.Review != nil
	switch {
	case content != nil && inStack:
		return nil, tandem.Errorf(tandem.EINVALID, "%s: the review plan is also in %s x-tandem.review: keep one of them",
			tandem.ReviewPlanFile, stackName(workTree, st))
	case content != nil:
		return compose.LoadReviewPlan(tandem.ReviewPlanFile, content)
	case inStack:
		plan := *st.Review
		plan.Source = stackName(workTree, st) + " x-tandem.review"
		return &plan, nil
	}
	return tandem.DefaultReviewPlan(), nil
}

// readPlanFile returns the plan file's content, or nil if there is none.
func readPlanFile(workTree string) ([]byte, error) {
	root, err := os.OpenRoot(workTree)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := root.Open(tandem.ReviewPlanFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "%s: %v", tandem.ReviewPlanFile, pathless(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	switch {
	case err != nil:
		return nil, err
	case !fi.Mode().IsRegular():
		return nil, tandem.Errorf(tandem.EINVALID, "%s is not a regular file", tandem.ReviewPlanFile)
	case fi.Size() > compose.MaxReviewPlanSize:
		return nil, tandem.Errorf(tandem.EINVALID, "%s is larger than %d bytes", tandem.ReviewPlanFile, compose.MaxReviewPlanSize)
	}
	var b bytes.Buffer
	if _, err := io.Copy(&b, io.LimitReader(f, compose.MaxReviewPlanSize+1)); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func pathless(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}

// stackName is the stack file as the repository names it.
func stackName(workTree string, st *tandem.Stack) string {
	if len(st.Files) == 0 {
		return "the stack file"
	}
	if rel, err := filepath.Rel(workTree, st.Files[0]); err == nil && filepath.IsLocal(rel) {
		return filepath.ToSlash(rel)
	}
	return filepath.Base(st.Files[0])
}

// PlanOf reads and keeps the review plan of generation gen of p from its
// work tree at its commit, and returns its digest for the generation's
// binding: preview.Options.ReviewPlan. The plan is also kept as evidence,
// by its digest, so that a bundle of the review holds it.
func (s *Service) PlanOf(ctx context.Context, p *tandem.Preview, gen int, workTree string, st *tandem.Stack) (string, error) {
	plan, err := LoadPlan(workTree, st)
	if err != nil {
		return "", err
	}
	if _, err := s.planEvidence(plan); err != nil {
		return "", err
	}
	digest := plan.Digest()
	rec := tandem.ReviewPlanRecord{Preview: p.Name, Generation: gen, Digest: digest, Plan: *plan, Time: s.now()}
	if err := s.cfg.Store.PutReviewPlan(ctx, rec); err != nil {
		return "", err
	}
	return digest, nil
}

// planEvidence keeps a plan as an evidence file: its canonical JSON,
// whose SHA-256 is its digest.
func (s *Service) planEvidence(plan *tandem.ReviewPlan) (tandem.Evidence, error) {
	source := plan.Source
	if source == "" {
		source = "tandem's default"
	}
	return s.cfg.Evidence.Put(bytes.NewReader(plan.Canonical()), "review plan ("+source+")", "application/json", 0)
}

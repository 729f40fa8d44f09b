package review

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tandem-dev/tandem"
)

// SignRequest is an electronic signature about to be given.
type SignRequest struct {
	// Stage is the pipeline's stage signed for; none for meaning authored.
	Stage string `json:"stage,omitempty"`
	// Meaning is what the signer means: the stage's own (approved or
	// reviewed, its default), rejected, or authored (the author's
	// signature, no stage's).
	Meaning tandem.SignatureMeaning `json:"meaning,omitempty"`
	Comment string                  `json:"comment,omitempty"`
	// Code re-authenticates the signer now: their authenticator app's
	// current code, or the one SendCode mailed. Without it, only a browser
	// session whose sign-in is younger than Config.ReauthMaxAge signs.
	Code string `json:"code,omitempty"`
	// Generation is the one the signer reviewed; 0: the one serving.
	Generation int `json:"generation,omitempty"`
}

// Sign gives an electronic signature (21 CFR Part 11) to a stage of the
// generation serving: re-authentication now (11.200), the printed name,
// the UTC time and the meaning (11.50), and what is signed — the
// generation, its binding, the review plan's digest (the plan itself as
// evidence) and the checklist as it stands — in one signed entry of the
// audit log, so that it cannot be moved to another record (11.70).
//
// It refuses, with the rule that refuses it: API tokens (only a person
// signs), the change's author, who the stage does not admit, a stage
// before the earlier ones are complete, one person's second stage (unless
// the plan allows it) or second signature of a stage, an approval while
// the checklist is not done, and a signer who did not re-authenticate.
func (s *Service) Sign(ctx context.Context, by *tandem.Principal, name string, req SignRequest) (*tandem.Approval, error) {
	if by == nil || by.Kind != tandem.PrincipalPerson || by.Person == nil {
		return nil, tandem.Errorf(tandem.EFORBIDDEN, "%s cannot sign: an electronic signature is a person's, with their own sign-in (tandem login) and a fresh code", by)
	}
	if len(req.Comment) > maxNote {
		return nil, tandem.Errorf(tandem.EINVALID, "the comment is longer than %d bytes", maxNote)
	}
	unlock := s.lock(name)
	defer unlock()
	cur, _, err := s.reviewable(ctx, by, name, "", req.Generation, tandem.RoleViewer, "sign reviews")
	if err != nil {
		return nil, err
	}
	st := cur.st
	if err := s.mayAct(st, cur, by, &req); err != nil {
		return nil, err
	}
	// Re-authentication last: a code is not used up by a signature that
	// would be refused anyway.
	method, at, err := s.reauthenticate(ctx, by, req.Code)
	if err != nil {
		return nil, err
	}
	sig := tandem.Signature{
		PrintedName: printedName(by.Person), Identity: identity(by.Person), Meaning: req.Meaning, Time: s.now(),
		Stage: req.Stage, Reauth: method, ReauthAt: at.UTC(), Comment: req.Comment, Checklist: signedItems(st),
	}
	plan, err := s.planEvidence(cur.plan)
	if err != nil {
		return nil, err
	}
	p := cur.p
	what := string(req.Meaning)
	if req.Stage != "" {
		what += " stage " + req.Stage
	}
	entry, err := s.cfg.Log.Append(ctx, tandem.AuditEvent{
		Kind: tandem.AuditSigned, Repo: p.Repo, Preview: p.Name, Generation: p.Serving, Binding: p.Binding,
		Actor: by.Person.Email, Detail: fmt.Sprintf("%s of %s at %s", what, p.Name, short(p.Binding.Commit)),
		Signature: &sig, Evidence: []tandem.Evidence{plan},
	})
	if err != nil {
		return nil, err
	}
	a := &tandem.Approval{Preview: p.Name, Generation: p.Serving, Commit: p.Binding.Commit, Email: by.Person.Email, Signature: sig, Entry: entry.Index}
	return a, s.cfg.Store.AddApproval(ctx, a)
}

// mayAct applies the pipeline's rules to a signature about to be given,
// and sets req.Meaning to what it will say.
func (s *Service) mayAct(st *tandem.ReviewState, cur *current, by *tandem.Principal, req *SignRequest) error {
	email := by.Person.Email
	author := isAuthor(cur.p.Author, by.Person)
	if req.Meaning == tandem.MeaningAuthored {
		if !author || req.Stage != "" {
			return tandem.Errorf(tandem.EFORBIDDEN, "only the change's author (%s) signs as authored, and for no stage", nonEmpty(cur.p.Author, "not recorded"))
		}
		return nil
	}
	if author {
		return tandem.Errorf(tandem.EFORBIDDEN, "%s wrote this change (the author of %s) and may not sign its review: separation of duties", email, cur.p.Name)
	}
	i := cur.plan.Stage(req.Stage)
	if i < 0 {
		names := make([]string, len(cur.plan.Stages))
		for j, stage := range cur.plan.Stages {
			names[j] = stage.Name
		}
		return tandem.Errorf(tandem.ENOTFOUND, "no stage %q in the review plan of %s (stages, in order: %s)", req.Stage, cur.p.Name, strings.Join(names, ", "))
	}
	ss := st.Stages[i]
	stage := ss.Stage
	switch req.Meaning {
	case "":
		req.Meaning = stage.Meaning
	case tandem.MeaningRejected, stage.Meaning:
	default:
		return tandem.Errorf(tandem.EINVALID, "stage %s is signed as %s (or rejected), not %s", stage.Name, stage.Meaning, req.Meaning)
	}
	if !stage.Admits(by, cur.p.Repo) {
		return tandem.Errorf(tandem.EFORBIDDEN, "%s may not sign stage %s: it takes %s", email, stage.Name, who(stage, cur.p.Repo))
	}
	if err := stageOpen(st, i, req.Meaning); err != nil {
		return err
	}
	for _, other := range st.Stages {
		for _, a := range other.Signatures {
			switch {
			case a.Email != email:
			case other.Stage.Name == stage.Name:
				return tandem.Errorf(tandem.ECONFLICT, "%s signed stage %s of this generation already (%s at %s)", email, stage.Name, a.Signature.Meaning, a.Signature.Time.Format(time.RFC3339))
			case cur.plan.OneStagePerPerson:
				return tandem.Errorf(tandem.EFORBIDDEN, "%s signed stage %s of this generation: one person signs one stage (separation of duties)", email, other.Stage.Name)
			}
		}
	}
	if req.Meaning != tandem.MeaningRejected {
		return checklistDone(st)
	}
	return nil
}

// stageOpen refuses a signature for stage i in the state it is: an
// approval waits for the stages before it; nothing is added to a stage
// that is complete or rejected. A rejection need not wait.
func stageOpen(st *tandem.ReviewState, i int, meaning tandem.SignatureMeaning) error {
	ss := st.Stages[i]
	switch ss.State {
	case tandem.StageApproved:
		return tandem.Errorf(tandem.ECONFLICT, "stage %s is complete: %d of %d signers", ss.Stage.Name, len(ss.Signatures), ss.Stage.Signers)
	case tandem.StageRejected:
		return tandem.Errorf(tandem.ECONFLICT, "stage %s was rejected: a new commit starts the review again", ss.Stage.Name)
	case tandem.StageWaiting:
		if meaning == tandem.MeaningRejected {
			return nil
		}
		for _, before := range st.Stages[:i] {
			if before.State != tandem.StageApproved {
				return tandem.Errorf(tandem.ECONFLICT, "stage %s waits for stage %s (%s): stages are signed in order", ss.Stage.Name, before.Stage.Name, before.State)
			}
		}
	}
	return nil
}

// checklistDone refuses an approval while an item has no result, failed,
// or lacks the evidence it requires.
func checklistDone(st *tandem.ReviewState) error {
	var open []string
	for _, is := range st.Checklist {
		switch {
		case is.Done:
		case is.Result == nil:
			open = append(open, is.Item.ID+" has no result")
		case is.Result.Result == tandem.ResultFail:
			open = append(open, is.Item.ID+" failed")
		default:
			open = append(open, is.Item.ID+" has no evidence")
		}
	}
	if len(open) > 0 {
		return tandem.Errorf(tandem.ECONFLICT, "the checklist is not done (%s): record its results first, or reject", strings.Join(open, "; "))
	}
	return nil
}

// reauthenticate checks that the signer proved who they are just now: a
// code given with the request, or a browser session whose sign-in (with
// single sign-on, an emailed code or TOTP; not a token, not a capture) is
// younger than ReauthMaxAge.
func (s *Service) reauthenticate(ctx context.Context, by *tandem.Principal, code string) (string, time.Time, error) {
	if code != "" {
		if s.cfg.Access == nil {
			return "", time.Time{}, tandem.Errorf(tandem.EUNSUPPORTED, "this server checks no codes: sign in again in the browser to sign")
		}
		return s.cfg.Access.Reauthenticate(ctx, by.Person, code)
	}
	now := s.now()
	age := now.Sub(by.AuthTime)
	switch {
	case by.Token != nil || !slices.Contains([]string{"oidc", "email-code", "totp"}, by.Method) || by.AuthTime.IsZero():
		return "", time.Time{}, tandem.Errorf(tandem.EUNAUTHORIZED,
			"signing needs you to prove who you are now: give your authenticator app's current code, or a code from `tandem review code` (--code)")
	case age > s.cfg.ReauthMaxAge || age < -time.Minute:
		return "", time.Time{}, tandem.Errorf(tandem.EUNAUTHORIZED,
			"signing needs you to prove who you are now: you signed in %s ago, more than %s: sign in again, or give a code",
			age.Round(time.Second), s.cfg.ReauthMaxAge)
	}
	return by.Method, by.AuthTime, nil
}

// SendCode mails by a one-time code to sign a stage of the preview with:
// for people without an authenticator app, from the CLI or the API.
func (s *Service) SendCode(ctx context.Context, by *tandem.Principal, name, stage string) error {
	if by == nil || by.Kind != tandem.PrincipalPerson || by.Person == nil {
		return tandem.Errorf(tandem.EFORBIDDEN, "%s cannot sign: codes are for people", by)
	}
	if s.cfg.Access == nil {
		return tandem.Errorf(tandem.EUNSUPPORTED, "this server sends no codes")
	}
	cur, _, err := s.reviewable(ctx, by, name, "", 0, tandem.RoleApprover, "sign reviews")
	if err != nil {
		return err
	}
	what := fmt.Sprintf("the review of %s at %s", name, short(cur.p.Binding.Commit))
	if stage != "" {
		what = "stage " + stage + " of " + what
	}
	return s.cfg.Access.SendReauthCode(ctx, by.Person, what)
}

// isAuthor reports whether person wrote the change: the preview's Author
// is their email address (a forge login matches no one).
func isAuthor(author string, person *tandem.Person) bool {
	return author != "" && strings.EqualFold(strings.TrimSpace(author), person.Email)
}

func printedName(p *tandem.Person) string {
	if strings.TrimSpace(p.Name) != "" {
		return p.Name
	}
	return p.Email
}

// identity is the signer's account: the email address, and the single
// sign-on account it was proved with.
func identity(p *tandem.Person) string {
	if p.Subject != "" {
		return p.Email + " (" + p.Issuer + " " + p.Subject + ")"
	}
	return p.Email
}

// signedItems is the checklist a signer sees.
func signedItems(st *tandem.ReviewState) []tandem.SignedItem {
	out := make([]tandem.SignedItem, 0, len(st.Checklist))
	for _, is := range st.Checklist {
		si := tandem.SignedItem{Item: is.Item.ID, Entry: -1}
		if is.Result != nil {
			si.Result, si.Entry = is.Result.Result, is.Result.Entry
		}
		out = append(out, si)
	}
	return out
}

// who says whom a stage admits.
func who(stage tandem.ReviewStage, repo string) string {
	w := fmt.Sprintf("the role %s in %s", stage.Role, repo)
	var among []string
	if len(stage.Groups) > 0 {
		among = append(among, "the group "+strings.Join(stage.Groups, " or "))
	}
	if len(stage.People) > 0 {
		among = append(among, strings.Join(stage.People, ", "))
	}
	if len(among) > 0 {
		w += ", and " + strings.Join(among, " or ")
	}
	return w
}

func nonEmpty(s, otherwise string) string {
	if s == "" {
		return otherwise
	}
	return s
}

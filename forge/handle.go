package forge

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/preview"
)

// AllowCommand is the comment by which someone with write access allows a
// fork's pull request to be built.
const AllowCommand = "/tandem allow"

// handle acts on one event. It is safe to run again for the same event
// (after a restart, or a retry): a preview already at the head commit is
// left as it is.
func (s *Service) handle(ctx context.Context, forge string, ev *Event) error {
	repo := s.repo(forge, ev.Project)
	if repo == nil {
		s.log.Info("forge: event for a repository not registered", "forge", forge, "project", ev.Project)
		return nil
	}
	switch ev.Action {
	case Opened, Pushed, Labeled:
		return s.sync(ctx, repo, ev)
	case Commented:
		return s.allowByComment(ctx, repo, ev)
	case Closed:
		return s.close(ctx, repo, ev)
	}
	return nil
}

// record returns what tandem keeps of the event's pull request, brought up
// to date with the event.
func (s *Service) record(ctx context.Context, repo *Repo, ev *Event) (*tandem.ForgePR, error) {
	pr, err := s.opts.Store.ForgePR(ctx, repo.Forge, ev.Project, ev.Number)
	switch {
	case tandem.ErrorCode(err) == tandem.ENOTFOUND:
		pr = &tandem.ForgePR{Forge: repo.Forge, Project: ev.Project, Number: ev.Number, Repo: repo.Name,
			Preview: PreviewName(repo.Name, ev.Number), Author: ev.Author}
	case err != nil:
		return nil, err
	}
	if ev.Head != "" && ev.Head != pr.Head {
		pr.Head, pr.Deployment, pr.Reported = ev.Head, 0, ""
	}
	if ev.Author != "" {
		pr.Author = ev.Author
	}
	pr.Fork = pr.Fork || ev.Fork
	return pr, nil
}

// sync brings a pull request's preview to its head commit, if its rules
// say it gets one, and a fork's only once a maintainer allowed it.
func (s *Service) sync(ctx context.Context, repo *Repo, ev *Event) error {
	pr, err := s.record(ctx, repo, ev)
	if err != nil {
		return err
	}
	pr.Closed = false
	if ev.Action == Pushed || ev.Action == Opened {
		if err := s.updateDependents(ctx, repo, ev); err != nil {
			return err
		}
	}
	if !repo.Previews {
		return s.opts.Store.PutForgePR(ctx, pr)
	}
	if ok, err := s.wanted(ctx, repo, ev); err != nil || !ok {
		if err == nil {
			err = s.opts.Store.PutForgePR(ctx, pr)
		}
		return err
	}
	if pr.Fork && pr.AllowedHead != pr.Head {
		if repo.AllowLabel != "" && hasLabel(ev.Labels, repo.AllowLabel) {
			pr.AllowedHead, pr.AllowedBy = pr.Head, "label "+repo.AllowLabel
			s.accessEvent(ctx, tandem.AccessEvent{Kind: "forge.fork_allowed", Actor: repo.Forge + ":" + ev.Sender, Repo: repo.Name,
				Preview: pr.Preview, Subject: fmt.Sprintf("%s#%d", ev.Project, ev.Number), Detail: "by the label " + repo.AllowLabel + " at " + short(pr.Head)})
		} else {
			pr.Held = true
			if err := s.opts.Store.PutForgePR(ctx, pr); err != nil {
				return err
			}
			s.markDirty(pr.Preview)
			return nil
		}
	}
	return s.build(ctx, pr, ev.Sender, fmt.Sprintf("%s pull request #%d (%s)", verbOf(ev), ev.Number, ev.Project))
}

// build asks for the pull request's preview at its head, unless it is
// there already.
func (s *Service) build(ctx context.Context, pr *tandem.ForgePR, sender, reason string) error {
	pr.Held = false
	if p, err := s.opts.Previews.Get(ctx, pr.Preview); err == nil && p.Ref == pr.Head && p.State != tandem.PreviewFailed && p.State != tandem.PreviewDestroying {
		return s.opts.Store.PutForgePR(ctx, pr)
	}
	// Recorded first: the reporter looks the pull request up by preview.
	if err := s.opts.Store.PutForgePR(ctx, pr); err != nil {
		return err
	}
	_, err := s.opts.Previews.Create(ctx, preview.CreateRequest{
		Name: pr.Preview, Repo: pr.Repo, Ref: pr.Head, PR: pr.Number,
		By: pr.Forge + ":" + sender, Reason: reason, Untrusted: pr.Fork,
	})
	return err
}

// wanted applies a repository's label gate and path filters.
func (s *Service) wanted(ctx context.Context, repo *Repo, ev *Event) (bool, error) {
	if len(repo.Labels) > 0 {
		found := false
		for _, l := range repo.Labels {
			found = found || hasLabel(ev.Labels, l)
		}
		if !found {
			return false, nil
		}
	}
	if len(repo.Paths) == 0 {
		return true, nil
	}
	files, err := s.opts.Forges[repo.Forge].ChangedFiles(ctx, ev.Project, ev.Number)
	if err != nil {
		return false, err
	}
	for _, f := range files {
		if MatchPath(repo.Paths, f) {
			return true, nil
		}
	}
	return false, nil
}

// MatchPath reports whether file matches one of patterns: path.Match
// patterns, where a trailing "/**" matches everything under a directory.
func MatchPath(patterns []string, file string) bool {
	for _, p := range patterns {
		if dir, ok := strings.CutSuffix(p, "/**"); ok {
			if strings.HasPrefix(file, dir+"/") {
				return true
			}
			continue
		}
		if ok, _ := path.Match(p, file); ok {
			return true
		}
	}
	return false
}

// allowByComment allows a held fork's pull request at its current head,
// when someone with write access comments "/tandem allow".
func (s *Service) allowByComment(ctx context.Context, repo *Repo, ev *Event) error {
	// tandem's own comment (its token may be a maintainer's) allows nothing.
	if !ev.IsPR || !isAllow(ev.Body) || !repo.Previews || strings.Contains(ev.Body, "<!-- tandem:preview ") {
		return nil
	}
	pr, err := s.opts.Store.ForgePR(ctx, repo.Forge, ev.Project, ev.Number)
	if tandem.ErrorCode(err) == tandem.ENOTFOUND {
		return nil // a pull request tandem never saw opened: nothing to allow
	}
	if err != nil {
		return err
	}
	who := repo.Forge + ":" + ev.Sender
	subject := fmt.Sprintf("%s#%d", ev.Project, ev.Number)
	ok, err := s.opts.Forges[repo.Forge].CanWrite(ctx, ev.Project, ev.Sender)
	if err != nil {
		return err
	}
	if !ok {
		s.accessEvent(ctx, tandem.AccessEvent{Kind: "forge.fork_allow_refused", Actor: who, Repo: repo.Name, Preview: pr.Preview,
			Subject: subject, Detail: ev.Sender + " has no write access"})
		return nil
	}
	if pr.Closed || !pr.Fork || pr.AllowedHead == pr.Head {
		return nil
	}
	pr.AllowedHead, pr.AllowedBy = pr.Head, ev.Sender
	s.accessEvent(ctx, tandem.AccessEvent{Kind: "forge.fork_allowed", Actor: who, Repo: repo.Name, Preview: pr.Preview,
		Subject: subject, Detail: "by comment at " + short(pr.Head)})
	return s.build(ctx, pr, ev.Sender, fmt.Sprintf("allowed fork pull request #%d (%s) at %s", ev.Number, ev.Project, short(pr.Head)))
}

func isAllow(body string) bool {
	for _, line := range strings.Split(body, "\n") {
		if strings.TrimSpace(line) == AllowCommand {
			return true
		}
	}
	return false
}

// close destroys a closed or merged pull request's preview.
func (s *Service) close(ctx context.Context, repo *Repo, ev *Event) error {
	pr, err := s.record(ctx, repo, ev)
	if err != nil {
		return err
	}
	pr.Closed, pr.Held = true, false
	if err := s.opts.Store.PutForgePR(ctx, pr); err != nil {
		return err
	}
	if !repo.Previews {
		return nil
	}
	if err := s.opts.Previews.Destroy(ctx, pr.Preview); err != nil && tandem.ErrorCode(err) != tandem.ENOTFOUND {
		return err
	}
	s.markDirty(pr.Preview)
	return nil
}

// updateDependents updates every preview that builds a service from the
// event's pull request (preview-overrides.yaml), to its new head.
func (s *Service) updateDependents(ctx context.Context, repo *Repo, ev *Event) error {
	c := s.opts.Forges[repo.Forge]
	ref := fmt.Sprintf(PRRef(c.Kind()), ev.Number)
	previews, err := s.opts.Previews.List(ctx)
	if err != nil {
		return err
	}
	for _, p := range previews {
		if p.State == tandem.PreviewDestroying || !preview.DependsOn(p, repo.Name, ref) {
			continue
		}
		if p.Binding.Sources != nil && sourceAt(p, repo.Name, ev.Head) && p.State == tandem.PreviewReady {
			continue // already built with this commit
		}
		_, err := s.opts.Previews.Create(ctx, preview.CreateRequest{
			Name: p.Name, Repo: p.Repo, Ref: p.Ref, PR: p.PR, TTL: p.TTL, Untrusted: p.Untrusted,
			By: repo.Forge + ":" + ev.Sender, Reason: fmt.Sprintf("%s pull request #%d of %s, which it builds from", verbOf(ev), ev.Number, repo.Name),
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// sourceAt reports whether the preview's binding has repo at commit.
func sourceAt(p *tandem.Preview, repo, commit string) bool {
	for _, v := range p.Binding.Sources {
		if v == repo+"@"+commit {
			return true
		}
	}
	return false
}

func hasLabel(labels []string, want string) bool {
	for _, l := range labels {
		if strings.EqualFold(l, want) {
			return true
		}
	}
	return false
}

func verbOf(ev *Event) string {
	switch {
	case ev.Verb == "reopened" || ev.Verb == "reopen":
		return "reopened"
	case ev.Action == Opened:
		return "opened"
	case ev.Action == Pushed:
		return "pushed to"
	case ev.Action == Labeled:
		return "labeled"
	}
	return string(ev.Action)
}

func short(sha string) string { return sha[:min(len(sha), 12)] }

package forge

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/tandem-dev/tandem"
)

// StatusContext is the commit status tandem owns.
const StatusContext = "tandem/preview"

// markDirty asks the reporter to report a preview's state.
func (s *Service) markDirty(name string) {
	if name == "" {
		return
	}
	s.mu.Lock()
	s.pending[name] = true
	s.mu.Unlock()
	select {
	case s.dirty <- name:
	default:
	}
}

// reportLoop reports the previews marked dirty, each once for however many
// changes came meanwhile; a report that fails is tried again later.
func (s *Service) reportLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.dirty:
		case <-time.After(5 * time.Second):
		}
		s.mu.Lock()
		names := make([]string, 0, len(s.pending))
		for n := range s.pending {
			names = append(names, n)
		}
		s.pending = map[string]bool{}
		s.mu.Unlock()
		for _, n := range names {
			if err := s.report(ctx, n); err != nil && ctx.Err() == nil {
				s.log.Warn("forge: report", "preview", n, "err", err)
				time.AfterFunc(5*time.Second, func() { s.markDirty(n) })
			}
		}
	}
}

// state is what is reported: the preview's, "held" or "destroyed".
type state struct {
	key         string // what Reported remembers: "3:ready"
	status      string // the commit status: pending, success, failure
	deployment  string // the deployment status
	title, desc string
}

func stateOf(pr *tandem.ForgePR, p *tandem.Preview) state {
	switch {
	case pr.Held:
		return state{key: "held:" + pr.Head, status: "pending", title: "⏸️ held",
			desc: "held: a fork's pull request waits for a maintainer to allow it"}
	case p == nil && pr.Closed:
		return state{key: "destroyed", deployment: "inactive", title: "🗑️ destroyed", desc: "destroyed: the pull request was closed"}
	case p == nil:
		return state{}
	}
	key := fmt.Sprintf("%d:%s", p.Generation, p.State)
	switch p.State {
	case tandem.PreviewReady:
		return state{key: key, status: "success", deployment: "success", title: "✅ ready", desc: "ready"}
	case tandem.PreviewFailed:
		return state{key: key, status: "failure", deployment: "failure", title: "❌ failed", desc: limit("failed at "+p.Step+": "+p.Error, 140)}
	case tandem.PreviewDestroying:
		return state{key: key, deployment: "inactive", title: "🗑️ destroyed", desc: "destroyed"}
	case tandem.PreviewQueued:
		return state{key: key, status: "pending", deployment: "queued", title: "⏳ queued", desc: "queued"}
	}
	return state{key: key, status: "pending", deployment: "in_progress", title: "🔨 " + string(p.State), desc: string(p.State)}
}

// report sends a preview's state to its pull request, if it changed since
// the last report: the commit status, the comment, and a deployment where
// the forge has them.
func (s *Service) report(ctx context.Context, name string) error {
	s.records.Lock()
	defer s.records.Unlock()
	pr, err := s.opts.Store.ForgePRByPreview(ctx, name)
	if tandem.ErrorCode(err) == tandem.ENOTFOUND {
		return nil // not made for a pull request
	}
	if err != nil {
		return err
	}
	p, err := s.opts.Previews.Get(ctx, name)
	if err != nil && tandem.ErrorCode(err) != tandem.ENOTFOUND {
		return err
	}
	if err != nil || (p.State == tandem.PreviewDestroying) {
		p = nil
	}
	st := stateOf(pr, p)
	if st.key == "" || st.key == pr.Reported {
		return nil
	}
	c := s.opts.Forges[pr.Forge]
	if c == nil {
		return nil
	}
	url := ""
	if p != nil {
		url = p.URL
	}
	if st.status != "" && pr.Head != "" {
		if err := c.SetStatus(ctx, pr.Project, pr.Head, Status{State: st.status, URL: url, Description: st.desc, Context: StatusContext}); err != nil {
			return fmt.Errorf("commit status: %w", err)
		}
	}
	if err := s.deploy(ctx, c, pr, st, url); err != nil {
		return fmt.Errorf("deployment: %w", err)
	}
	if err := s.comment(ctx, c, pr, s.commentBody(ctx, pr, p, st)); err != nil {
		return fmt.Errorf("comment: %w", err)
	}
	pr.Reported = st.key
	return s.opts.Store.PutForgePR(ctx, pr)
}

// deploy records the state as a deployment status, on forges that have
// deployments: one deployment per head commit, to the preview's
// environment.
func (s *Service) deploy(ctx context.Context, c Client, pr *tandem.ForgePR, st state, url string) error {
	d, ok := c.(Deployer)
	if !ok || st.deployment == "" || pr.Head == "" {
		return nil
	}
	if pr.Deployment == 0 {
		if st.deployment == "inactive" {
			return nil
		}
		id, err := d.Deploy(ctx, pr.Project, pr.Head, pr.Preview)
		if err != nil {
			return err
		}
		pr.Deployment = id
		if err := s.opts.Store.PutForgePR(ctx, pr); err != nil {
			return err
		}
	}
	return d.DeploymentStatus(ctx, pr.Project, pr.Deployment, st.deployment, url, st.desc)
}

// Marker is the hidden line by which tandem finds its comment again.
func Marker(preview string) string { return "<!-- tandem:preview " + preview + " -->" }

// comment creates the pull request's tandem comment, or edits it in place.
func (s *Service) comment(ctx context.Context, c Client, pr *tandem.ForgePR, body string) error {
	if pr.CommentID == 0 {
		id, err := c.FindComment(ctx, pr.Project, pr.Number, Marker(pr.Preview))
		if err != nil {
			return err
		}
		pr.CommentID = id
	}
	if pr.CommentID != 0 {
		err := c.EditComment(ctx, pr.Project, pr.Number, pr.CommentID, body)
		if tandem.ErrorCode(err) != tandem.ENOTFOUND {
			return err
		}
	}
	id, err := c.CreateComment(ctx, pr.Project, pr.Number, body)
	if err != nil {
		return err
	}
	pr.CommentID = id
	return s.opts.Store.PutForgePR(ctx, pr)
}

// commentBody is the comment: state, URL, commit, where other services
// came from, build times and the review's state.
func (s *Service) commentBody(ctx context.Context, pr *tandem.ForgePR, p *tandem.Preview, st state) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n### tandem preview `%s`: %s\n\n", Marker(pr.Preview), pr.Preview, st.title)
	if pr.Held {
		fmt.Fprintf(&b, "This pull request comes from a fork, so its code is not built until a maintainer allows it:\n"+
			"someone with write access comments `%s`", AllowCommand)
		r := s.repo(pr.Forge, pr.Project)
		if r != nil && r.AllowLabel != "" {
			fmt.Fprintf(&b, " or adds the label `%s`", r.AllowLabel)
		}
		if r != nil && r.ForkSecrets {
			b.WriteString(". It then runs with the repository's secrets.\n\n")
		} else {
			b.WriteString(". It then runs without the repository's secrets.\n\n")
		}
	}
	b.WriteString("| | |\n|---|---|\n")
	row := func(k, v string) { fmt.Fprintf(&b, "| %s | %s |\n", k, v) }
	if p != nil {
		row("URL", p.URL)
		if p.Step != "" && p.State != tandem.PreviewReady {
			row("Step", "`"+p.Step+"`")
		}
		if p.State == tandem.PreviewFailed && p.Error != "" {
			row("Error", "`"+strings.ReplaceAll(limit(p.Error, 300), "`", "'")+"`")
		}
	}
	row("Commit", "`"+short(pr.Head)+"`")
	if p != nil {
		if src := sources(p); src != "" {
			row("Services from other repositories", src)
		}
		if bt := s.buildTimes(ctx, p); bt != "" {
			row("Builds", bt)
		}
	}
	review := "no review plan yet"
	if s.opts.ReviewState != nil && p != nil {
		review = s.opts.ReviewState(ctx, p.Name)
	}
	row("Review", review)
	fmt.Fprintf(&b, "\n<sub>Updated %s by tandem.</sub>\n", time.Now().UTC().Format("2006-01-02 15:04:05 UTC"))
	return b.String()
}

func sources(p *tandem.Preview) string {
	var parts []string
	for svc, ref := range p.SourceRefs {
		at := ref
		if c, ok := p.Binding.Sources[svc]; ok && p.State == tandem.PreviewReady {
			_, commit, _ := strings.Cut(c, "@")
			at += " (`" + short(commit) + "`)"
		}
		parts = append(parts, svc+": "+at)
	}
	sort.Strings(parts)
	return strings.Join(parts, "<br>")
}

var builtLine = regexp.MustCompile(`^([A-Za-z0-9._-]+): (built in \S+|build cached)`)

// buildTimes reads the current generation's build lines from its events.
func (s *Service) buildTimes(ctx context.Context, p *tandem.Preview) string {
	events, err := s.opts.Previews.Events(ctx, p.Name, 0)
	if err != nil {
		return ""
	}
	start := 0
	for i, e := range events {
		if e.Kind == "created" || e.Kind == "updated" {
			start = i
		}
	}
	var parts []string
	for _, e := range events[start:] {
		if m := builtLine.FindStringSubmatch(e.Detail); e.Kind == "log" && m != nil {
			parts = append(parts, m[1]+": "+strings.TrimPrefix(m[2], "built in "))
		}
	}
	return strings.Join(parts, ", ")
}

func limit(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

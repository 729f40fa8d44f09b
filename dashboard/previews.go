package dashboard

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tandem-dev/tandem"
)

// filter is what the previews list shows: the query of its form.
type filter struct {
	Q     string // in a name, ref, branch, commit, PR number or who asked
	Repo  string
	State tandem.PreviewState
}

func filterOf(q url.Values) filter {
	return filter{Q: strings.TrimSpace(q.Get("q")), Repo: q.Get("repo"), State: tandem.PreviewState(q.Get("state"))}
}

// query is the filter as a URL query, for the live stream.
func (f filter) query() string {
	v := url.Values{}
	for k, s := range map[string]string{"q": f.Q, "repo": f.Repo, "state": string(f.State)} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v.Encode()
}

func (f filter) match(p *tandem.Preview) bool {
	if f.Repo != "" && p.Repo != f.Repo || f.State != "" && p.State != f.State {
		return false
	}
	if f.Q == "" {
		return true
	}
	q := strings.ToLower(strings.TrimPrefix(f.Q, "#"))
	if n, err := strconv.Atoi(q); err == nil && n == p.PR {
		return true
	}
	for _, s := range []string{p.Name, p.Ref, p.Branch, p.RequestedBy, p.RequestReason} {
		if strings.Contains(strings.ToLower(s), q) {
			return true
		}
	}
	return len(q) >= 4 && strings.HasPrefix(p.Commit, q)
}

// row is a preview as the list shows it.
type row struct {
	P       *tandem.Preview
	Running bool   // its instance runs: it answers without waking
	Review  string // its review's state, "" where there is none
	Now     time.Time
}

// group is a repository's previews in the list.
type group struct {
	Repo string
	Rows []row
}

type previewsData struct {
	Filter   filter
	Groups   []group
	Repos    []string
	States   []tandem.PreviewState
	LiveURL  string
	Shown    int
	Anything bool // the person may view some repository
}

var allStates = []tandem.PreviewState{tandem.PreviewQueued, tandem.PreviewBuilding, tandem.PreviewSeeding,
	tandem.PreviewStarting, tandem.PreviewReady, tandem.PreviewFailed, tandem.PreviewDestroying}

func (s *Server) previewsPage(w http.ResponseWriter, r *http.Request) {
	c, cancel := ctx(r)
	defer cancel()
	who, f := s.who(r), filterOf(r.URL.Query())
	list, err := s.cfg.API.VisiblePreviews(c, who)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := previewsData{Filter: f, States: allStates, LiveURL: "/live/previews?" + f.query()}
	// A section for each repository the person may view, empty or not, so
	// that a preview made meanwhile has its place.
	for _, repo := range s.cfg.Repos {
		if who.Can(repo.Name, tandem.RoleViewer) {
			d.Repos = append(d.Repos, repo.Name)
			if f.Repo == "" || f.Repo == repo.Name {
				d.Groups = append(d.Groups, group{Repo: repo.Name})
			}
		}
	}
	d.Anything = len(d.Repos) > 0
	now := s.cfg.Now()
	for _, p := range list {
		if !f.match(p) {
			continue
		}
		i := slices.IndexFunc(d.Groups, func(g group) bool { return g.Repo == p.Repo })
		if i < 0 { // a share link's preview, or a repository no longer registered
			d.Groups = append(d.Groups, group{Repo: p.Repo})
			i = len(d.Groups) - 1
		}
		d.Groups[i].Rows = append(d.Groups[i].Rows, s.row(c, p, now))
		d.Shown++
	}
	s.render(w, http.StatusOK, "previews", s.newPage(w, r, "Previews", "previews", d))
}

func (s *Server) row(ctx context.Context, p *tandem.Preview, now time.Time) row {
	return row{P: p, Running: s.cfg.Previews.Instance(p.Name) != nil, Review: s.reviewState(ctx, p), Now: now}
}

// rowUpdate is a live update of the list: a row's HTML, or its removal.
type rowUpdate struct {
	Name string `json:"name"`
	Repo string `json:"repo,omitempty"`
	HTML string `json:"html,omitempty"`
}

// livePreviews streams the list's changes: first each row as it is now
// (the page may be older than the stream), then a row each time a preview
// the person may view changes, and its removal when it no longer matches
// or is gone.
func (s *Server) livePreviews(w http.ResponseWriter, r *http.Request) {
	who, f := s.who(r), filterOf(r.URL.Query())
	events, cancel := s.cfg.Previews.Subscribe("")
	defer cancel()
	st := s.stream(w, r)
	if st == nil {
		return
	}
	defer st.close()
	list, err := s.cfg.API.VisiblePreviews(r.Context(), who)
	if err != nil {
		return
	}
	shown := map[string]bool{} // rows this stream has sent: only those are ever removed
	names := []string{}
	for _, p := range list {
		if f.match(p) {
			names = append(names, p.Name)
			s.sendRow(st, r.Context(), who, f, p.Name, shown)
		}
	}
	b, _ := json.Marshal(names)
	st.send("names", "", string(b))
	changed := map[string]bool{}
	flush := time.NewTimer(time.Hour)
	for {
		select {
		case e, ok := <-events:
			if !ok {
				return
			}
			if e.Kind == "log" { // build output changes no row
				continue
			}
			if len(changed) == 0 {
				flush.Reset(150 * time.Millisecond) // what comes at once goes out together
			}
			changed[e.Preview] = true
		case <-flush.C:
			for name := range changed {
				s.sendRow(st, r.Context(), who, f, name, shown)
			}
			clear(changed)
		case <-st.done():
			return
		}
	}
}

// sendRow sends the row of the preview called name if the person may view
// it and it matches, or else its removal if the stream showed it: the
// name of a preview the person may not view is never sent.
func (s *Server) sendRow(st *stream, ctx context.Context, who *tandem.Principal, f filter, name string, shown map[string]bool) {
	p, err := s.cfg.Previews.Get(ctx, name)
	if err != nil || !who.CanView(p.Repo, p.Name) || !f.match(p) {
		if shown[name] {
			delete(shown, name)
			b, _ := json.Marshal(rowUpdate{Name: name})
			st.send("gone", "", string(b))
		}
		return
	}
	html, err := fragment("row", s.row(ctx, p, s.cfg.Now()))
	if err != nil {
		s.log.Error("dashboard: row", "err", err)
		return
	}
	shown[name] = true
	b, _ := json.Marshal(rowUpdate{Name: name, Repo: p.Repo, HTML: html})
	st.send("row", "", string(b))
}

package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/audit"
)

// item is one line of a preview's timeline: an event of the preview (its
// states, steps, errors, build output) or an entry of the audit log about
// it (generations served, visits, checklist results, evidence,
// signatures).
type item struct {
	Time   time.Time
	Kind   string
	Actor  string
	Detail string
	Gen    int
	Audit  int64 // the audit log's index of an entry; -1 for an event
	Output bool  // build output
}

// timelineMax bounds what a page shows of a long history.
const timelineMax = 300

// timeline is a preview's events (build output only if output) and the
// audit log's entries about its repository's preview of that name, in
// time order, and the ID of the last event.
func (s *Server) timeline(ctx context.Context, p *tandem.Preview, output bool) ([]item, int64, error) {
	events, err := s.cfg.Previews.Events(ctx, p.Name, 0)
	if err != nil {
		return nil, 0, err
	}
	var items []item
	var after int64
	for _, e := range events {
		after = e.ID
		if e.Kind != "log" || output {
			items = append(items, eventItem(e))
		}
	}
	entries, err := s.entries(ctx, tandem.AuditFilter{Repo: p.Repo, Preview: p.Name}, timelineMax)
	if err != nil {
		return nil, 0, err
	}
	for _, e := range entries {
		items = append(items, entryItem(e))
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].Time.Before(items[j].Time) })
	if len(items) > timelineMax {
		items = items[len(items)-timelineMax:]
	}
	return items, after, nil
}

// entries are the audit log's, none if the server keeps no log.
func (s *Server) entries(ctx context.Context, f tandem.AuditFilter, n int) ([]*audit.Entry, error) {
	if s.cfg.Audit == nil {
		return nil, nil
	}
	return s.cfg.Audit.Entries(ctx, f, n)
}

func eventItem(e tandem.Event) item {
	return item{Time: e.Time, Kind: e.Kind, Detail: e.Detail, Audit: -1, Output: e.Kind == "log"}
}

func entryItem(e *audit.Entry) item {
	p := e.Predicate
	return item{Time: p.Time, Kind: string(p.Kind), Actor: p.Actor, Detail: describe(p.AuditEvent), Gen: p.Generation, Audit: e.Index}
}

// describe says what an audit entry records, for people.
func describe(e tandem.AuditEvent) string {
	var parts []string
	if e.Detail != "" {
		parts = append(parts, e.Detail)
	}
	if a := e.Access; a != nil {
		parts = append(parts, fmt.Sprintf("%s, via %s", a.Person, a.Via))
	}
	if c := e.Checklist; c != nil {
		s := fmt.Sprintf("%s: %s", c.Text, c.Result)
		if c.Note != "" {
			s += " (" + c.Note + ")"
		}
		parts = append(parts, s)
	}
	for _, ev := range e.Evidence {
		parts = append(parts, fmt.Sprintf("evidence %s (%s)", ev.Name, shortDigest(ev.Digest)))
	}
	if sg := e.Signature; sg != nil {
		s := fmt.Sprintf("%s by %s (%s)", sg.Meaning, sg.PrintedName, sg.Identity)
		if sg.Stage != "" {
			s += " for the stage " + sg.Stage
		}
		s += fmt.Sprintf(", re-authenticated by %s at %s", sg.Reauth, sg.ReauthAt.UTC().Format("2006-01-02 15:04:05 UTC"))
		if sg.Comment != "" {
			s += ": " + sg.Comment
		}
		parts = append(parts, s)
	}
	if e.Binding.Commit != "" {
		parts = append(parts, "at "+short(e.Binding.Commit))
	}
	return strings.Join(parts, "; ")
}

// livePreview streams a preview's page's changes: its events after the
// page's last (or the browser's, when it reconnects) as timeline items,
// its summary when its state changes, and its services when they do.
func (s *Server) livePreview(w http.ResponseWriter, r *http.Request) {
	p, ok := s.viewPreview(w, r, tandem.RoleViewer, "view preview")
	if !ok {
		return
	}
	output := r.URL.Query().Get("output") == "1"
	after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	if id, err := strconv.ParseInt(r.Header.Get("Last-Event-ID"), 10, 64); err == nil {
		after = id
	}
	live, cancel := s.cfg.Previews.Subscribe(p.Name)
	defer cancel()
	st := s.stream(w, r)
	if st == nil {
		return
	}
	defer st.close()
	past, err := s.cfg.Previews.Events(r.Context(), p.Name, after)
	if err != nil {
		return
	}
	send := func(e tandem.Event) {
		if e.ID != 0 && e.ID <= after {
			return
		}
		after = max(after, e.ID)
		if e.Kind != "log" || output {
			if html, err := fragment("item", eventItem(e)); err == nil {
				st.send("item", strconv.FormatInt(e.ID, 10), html)
			}
		}
		if e.Kind != "log" {
			s.sendSummary(st, r.Context(), p.Name)
		}
	}
	for _, e := range past {
		send(e)
	}
	services := ""
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case e, ok := <-live:
			if !ok {
				return
			}
			send(e)
		case <-tick.C:
			// Services change without events (a restart, a healthcheck).
			html, err := fragment("services", s.services(p.Name))
			if err == nil && html != services {
				services = html
				st.send("services", "", html)
			}
		case <-st.done():
			return
		}
	}
}

// sendSummary sends a preview's summary as it is now, or that it is gone.
func (s *Server) sendSummary(st *stream, ctx context.Context, name string) {
	p, err := s.cfg.Previews.Get(ctx, name)
	if err != nil {
		st.send("gone", "", name)
		return
	}
	if html, err := fragment("summary", s.row(ctx, p, s.cfg.Now())); err == nil {
		st.send("summary", "", html)
	}
}

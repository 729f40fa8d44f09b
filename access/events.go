package access

import (
	"fmt"
	"strings"
	"sync"

	"github.com/tandem-dev/tandem"
)

// event records what changed or was used, for the record (the store's
// access events) and the server's log. A failure to record is logged: the
// request it is about has happened.
func (s *Server) event(e tandem.AccessEvent) {
	ctx, cancel := s.ctx()
	defer cancel()
	if _, err := s.store.AddAccessEvent(ctx, e); err != nil {
		s.log.Error("access: record an event", "kind", e.Kind, "err", err)
	}
	s.log.Info("access: "+e.Kind, "actor", e.Actor, "repo", e.Repo, "preview", e.Preview, "subject", e.Subject, "detail", e.Detail)
}

// audit appends an entry about p to the audit log, if there is one: bound
// to the generation that serves, and what it runs.
func (s *Server) audit(p *tandem.Preview, kind tandem.AuditKind, actor string, acc *tandem.AuditAccess) {
	s.auditGen(p, p.Serving, kind, actor, acc)
}

func (s *Server) auditGen(p *tandem.Preview, gen int, kind tandem.AuditKind, actor string, acc *tandem.AuditAccess) {
	if s.cfg.Audit == nil {
		return
	}
	e := tandem.AuditEvent{Kind: kind, Repo: p.Repo, Preview: p.Name, Generation: gen, Actor: actor, Access: acc}
	if gen == p.Serving {
		e.Binding = p.Binding
	}
	ctx, cancel := s.ctx()
	defer cancel()
	if _, err := s.cfg.Audit.Append(ctx, e); err != nil {
		s.log.Error("access: audit log", "kind", kind, "preview", p.Name, "err", err)
	}
}

// visitKind is the event of a principal's first request to a generation.
const visitKind = "preview.visited"

// visits remembers who has been to which generation, so that only a first
// visit is an event. What earlier runs recorded is read once.
type visits struct {
	mu       sync.Mutex
	seen     map[string]bool
	loadOnce sync.Once
	loaded   map[string]bool
	wg       sync.WaitGroup // recordings under way
}

// subjectOf is what names a principal in events: a person's, share
// link's or token's ID.
func subjectOf(pr *tandem.Principal) string {
	switch {
	case pr.Person != nil:
		return pr.Person.ID
	case pr.Share != nil:
		return pr.Share.ID
	case pr.Token != nil:
		return pr.Token.ID
	}
	return string(pr.Kind)
}

func visitKey(preview string, gen int, subject string) string {
	return fmt.Sprintf("%s/%d/%s", preview, gen, subject)
}

// visit records pr's first request to p's generation: an access event and
// an audit entry, written aside so the request does not wait.
func (s *Server) visit(p Preview, pr *tandem.Principal) {
	key := visitKey(p.Name, p.Generation, subjectOf(pr))
	s.visits.mu.Lock()
	seen := s.visits.seen[key]
	s.visits.seen[key] = true
	s.visits.mu.Unlock()
	if seen {
		return
	}
	s.visits.wg.Go(func() { s.recordVisit(p, pr, key) })
}

func (s *Server) recordVisit(p Preview, pr *tandem.Principal, key string) {
	s.visits.loadOnce.Do(s.loadVisits)
	if s.visits.loaded[key] {
		return
	}
	s.event(tandem.AccessEvent{Kind: visitKind, Actor: pr.String(), Repo: p.Repo, Preview: p.Name, Subject: subjectOf(pr),
		Detail: fmt.Sprintf("generation %d", p.Generation)})
	ctx, cancel := s.ctx()
	defer cancel()
	rec, err := s.cfg.Previews.Preview(ctx, p.Name)
	if err != nil {
		return
	}
	var acc *tandem.AuditAccess
	switch {
	case pr.Person != nil:
		acc = &tandem.AuditAccess{Person: pr.Person.Email, Via: pr.Method}
	case pr.Share != nil:
		acc = &tandem.AuditAccess{Person: pr.Share.Email, Via: "share-link", Expires: pr.Share.ExpiresAt}
	}
	s.auditGen(rec, p.Generation, tandem.AuditFirstVisit, pr.String(), acc)
}

// loadVisits reads the first visits earlier runs recorded.
func (s *Server) loadVisits() {
	s.visits.loaded = map[string]bool{}
	ctx, cancel := s.ctx()
	defer cancel()
	events, err := s.store.AccessEvents(ctx, 0, 0)
	if err != nil {
		s.log.Error("access: read earlier visits", "err", err)
		return
	}
	for _, e := range events {
		var gen int
		if e.Kind == visitKind {
			if _, err := fmt.Sscanf(strings.TrimPrefix(e.Detail, "generation "), "%d", &gen); err == nil {
				s.visits.loaded[visitKey(e.Preview, gen, e.Subject)] = true
			}
		}
	}
}

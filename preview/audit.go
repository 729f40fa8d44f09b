package preview

import (
	"context"
	"fmt"

	"github.com/tandem-dev/tandem"
)

// auditServing records in the audit log that p's generation p.Serving now
// serves, with what it runs: the preview's creation if no generation
// served before (served is 0), else its update.
func (m *Manager) auditServing(p *tandem.Preview, served int) {
	kind, detail := tandem.AuditPreviewCreated, p.Repo+" at "+p.Ref
	if served != 0 {
		kind, detail = tandem.AuditPreviewUpdated, fmt.Sprintf("%s, replacing generation %d", detail, served)
	}
	m.audit(kind, p, detail)
}

// audit appends an event about p to the audit log, if there is one. A log
// that cannot be written is reported, and does not stop the preview: the
// review steps that need it refuse to go on without it.
func (m *Manager) audit(kind tandem.AuditKind, p *tandem.Preview, detail string) {
	if m.opts.Audit == nil {
		return
	}
	actor := "tandem"
	if p.RequestedBy != "" && kind != tandem.AuditPreviewDestroyed {
		actor = p.RequestedBy // who asked for this generation: "gitea:alice"
		if p.RequestReason != "" {
			detail += " (" + p.RequestReason + ")"
		}
	}
	_, err := m.opts.Audit.Append(context.Background(), tandem.AuditEvent{
		Kind: kind, Repo: p.Repo, Preview: p.Name, Generation: p.Serving, Binding: p.Binding,
		Actor: actor, Detail: detail,
	})
	if err != nil {
		m.log.Error("audit log", "preview", p.Name, "kind", kind, "err", err)
	}
}

package audit

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/defenseunicorns/go-oscal/src/pkg/uuid"
	oscal "github.com/defenseunicorns/go-oscal/src/types/oscal-1-1-3"

	"github.com/tandem-dev/tandem"
)

// oscalNS qualifies tandem's own OSCAL property names.
const oscalNS = "https://tandem.dev/ns/oscal"

// oscalDoc builds the OSCAL assessment results of a bundle: one result per
// preview, one observation per log entry, each pointing at its signed
// entry, its inclusion proof and its evidence files in the bundle. UUIDs
// are derived from the log and the entries, so the same entry has the
// same observation UUID in every export.
type oscalDoc struct {
	m       *Manifest
	parties []oscal.Party
	byActor map[string]string // actor → party UUID
}

func (d *oscalDoc) id(parts ...string) string {
	return uuid.NewUUIDWithSource("https://" + d.m.Origin + "/" + strings.Join(parts, "/"))
}

// assessmentResults is the bundle's OSCAL document, as JSON.
func assessmentResults(v *reportView) ([]byte, error) {
	d := &oscalDoc{m: v.Manifest, byActor: map[string]string{}}
	planID := d.id("review-plan")
	logParty := d.party("tandem", "organization", "tandem transparency log "+d.m.Origin)
	results := []oscal.Result{}
	for _, p := range v.Previews {
		results = append(results, d.result(p))
	}
	if len(results) == 0 {
		results = append(results, oscal.Result{
			UUID: d.id("result", "none", d.m.Checkpoint.Root), Title: "No entries selected",
			Description: "The export selected no entries of the log.", Start: d.m.Exported,
			ReviewedControls: reviewed(),
		})
	}
	ar := &oscal.AssessmentResults{
		UUID: d.id("bundle", d.m.Checkpoint.Root, d.m.Selection.Preview, d.m.Selection.Repo, d.m.Exported.String()),
		Metadata: oscal.Metadata{
			Title:              title(d.m),
			LastModified:       d.m.Exported,
			Version:            "tree size " + strconv.FormatInt(d.m.Checkpoint.Size, 10),
			OscalVersion:       "1.1.3",
			Parties:            &d.parties,
			ResponsibleParties: &[]oscal.ResponsibleParty{{RoleId: "prepared-by", PartyUuids: []string{logParty}}},
			Roles:              &[]oscal.Role{{ID: "prepared-by", Title: "Prepared By"}},
		},
		ImportAp: oscal.ImportAp{
			Href:    "#" + planID,
			Remarks: "tandem keeps no OSCAL assessment plan: reviews follow each repository's review plan (.tandem/review.yaml), which the entries' predicates name.",
		},
		Results: results,
		BackMatter: &oscal.BackMatter{Resources: &[]oscal.Resource{
			{UUID: planID, Title: "Review plan", Description: "The repository's review plan (.tandem/review.yaml) at each reviewed commit."},
			{UUID: d.id("checkpoint", d.m.Checkpoint.Root), Title: "Signed checkpoint (C2SP tlog-checkpoint)",
				Description: fmt.Sprintf("The log %s at tree size %d: every entry's inclusion proof is against it.", d.m.Origin, d.m.Checkpoint.Size),
				Rlinks:      &[]oscal.ResourceLink{{Href: CheckpointFile, MediaType: "text/plain"}}},
			{UUID: d.id("key"), Title: "The log's public key",
				Rlinks: &[]oscal.ResourceLink{{Href: VerifierFile, MediaType: "text/plain"}, {Href: PEMFile, MediaType: "application/x-pem-file"}}},
		}},
	}
	return json.MarshalIndent(oscal.OscalModels{AssessmentResults: ar}, "", "  ")
}

func title(m *Manifest) string {
	switch {
	case m.Selection.Preview != "":
		return "tandem review record of preview " + m.Selection.Preview
	case m.Selection.Repo != "":
		return "tandem review record of repository " + m.Selection.Repo
	}
	return "tandem review record of " + m.Origin
}

// reviewed says what the results cover: tandem's reviews are not tied to
// a control catalog, so all of the (absent) plan's controls.
func reviewed() oscal.ReviewedControls {
	return oscal.ReviewedControls{ControlSelections: []oscal.AssessedControls{{
		Description: "The review of a running build of a change, as its repository's review plan asks.",
		IncludeAll:  &oscal.IncludeAll{},
	}}}
}

// party returns the party UUID of an actor, adding the party once.
func (d *oscalDoc) party(actor, kind, name string) string {
	if id, ok := d.byActor[actor]; ok {
		return id
	}
	id := d.id("party", actor)
	d.byActor[actor] = id
	d.parties = append(d.parties, oscal.Party{UUID: id, Type: kind, Name: name})
	return id
}

func (d *oscalDoc) result(p *previewView) oscal.Result {
	obs := make([]oscal.Observation, 0, len(p.Entries))
	for _, e := range p.Entries {
		obs = append(obs, d.observation(e))
	}
	last := p.Last
	return oscal.Result{
		UUID:             d.id("result", p.Name, strconv.FormatInt(p.Entries[0].Index, 10)),
		Title:            "Review of preview " + p.Name + " (" + p.Repo + ")",
		Description:      fmt.Sprintf("%d entries of the log about preview %s, with their signed entries and inclusion proofs.", len(p.Entries), p.Name),
		Start:            p.First,
		End:              &last,
		ReviewedControls: reviewed(),
		Observations:     &obs,
	}
}

func (d *oscalDoc) observation(e *Entry) oscal.Observation {
	ev := e.Predicate.AuditEvent
	actor := d.party(ev.Actor, "person", ev.Actor)
	if ev.Actor == "tandem" {
		actor = d.party("tandem", "organization", "")
	}
	props := []oscal.Property{}
	prop := func(name, value string) {
		if value = strings.TrimSpace(value); value != "" {
			props = append(props, oscal.Property{Name: name, Ns: oscalNS, Value: value})
		}
	}
	prop("log-index", strconv.FormatInt(e.Index, 10))
	prop("event-kind", string(ev.Kind))
	prop("preview", ev.Preview)
	if ev.Generation > 0 {
		prop("generation", strconv.Itoa(ev.Generation))
	}
	prop("git-commit", ev.Binding.Commit)
	prop("stack-digest", ev.Binding.StackDigest)
	evidence := []oscal.RelevantEvidence{
		{Href: entryPath(e.Index), Description: "The signed log entry: a DSSE envelope of an in-toto statement."},
		{Href: proofPath(e.Index), Description: "Its inclusion proof (C2SP tlog-proof) against the bundle's checkpoint."},
	}
	for _, f := range ev.Evidence {
		h, _ := digestHex(f.Digest)
		evidence = append(evidence, oscal.RelevantEvidence{Href: evidencePath(h), Description: nonEmpty(f.Name, f.Digest)})
	}
	methods := []string{"EXAMINE"}
	remarks := ""
	if c := ev.Checklist; c != nil {
		methods = []string{"TEST"}
		prop("checklist-result", c.Result)
	}
	if s := ev.Signature; s != nil {
		prop("signature-meaning", string(s.Meaning))
		remarks = fmt.Sprintf("Electronic signature by %s (%s), meaning %q, at %s; re-authenticated by %s at %s.",
			s.PrintedName, s.Identity, s.Meaning, s.Time.UTC().Format("2006-01-02T15:04:05Z"), s.Reauth, s.ReauthAt.UTC().Format("2006-01-02T15:04:05Z"))
	}
	return oscal.Observation{
		UUID:             d.id("entry", strconv.FormatInt(e.Index, 10)),
		Title:            string(ev.Kind) + ": " + ev.Preview,
		Description:      nonEmpty(describe(ev), string(ev.Kind)),
		Methods:          methods,
		Collected:        ev.Time,
		Props:            &props,
		Origins:          &[]oscal.Origin{{Actors: []oscal.OriginActor{{Type: "party", ActorUuid: actor}}}},
		RelevantEvidence: &evidence,
		Remarks:          remarks,
	}
}

// describe says what an event was, for people.
func describe(ev tandem.AuditEvent) string {
	var parts []string
	if ev.Detail != "" {
		parts = append(parts, ev.Detail)
	}
	if c := ev.Checklist; c != nil {
		parts = append(parts, fmt.Sprintf("checklist item %s (%s): %s", c.Item, c.Text, c.Result))
	}
	if a := ev.Access; a != nil {
		parts = append(parts, fmt.Sprintf("%s, via %s", a.Person, a.Via))
	}
	if s := ev.Signature; s != nil {
		parts = append(parts, fmt.Sprintf("%s by %s", s.Meaning, s.PrintedName))
	}
	if ev.Binding.Commit != "" {
		parts = append(parts, fmt.Sprintf("generation %d at commit %s of %s", ev.Generation, ev.Binding.Commit, ev.Repo))
	}
	return strings.Join(parts, "; ")
}

func nonEmpty(s, otherwise string) string {
	if strings.TrimSpace(s) == "" {
		return otherwise
	}
	return s
}

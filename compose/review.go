package compose

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/mail"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/tandem-dev/tandem"
)

// A review plan is read from x-tandem.review or from its own file
// (tandem.ReviewPlanFile) by one decoder, with the same rules and the same
// file:line messages.
var (
	reviewKeys     = []string{"checklist", "separation", "stages"}
	itemKeys       = []string{"id", "page", "requires_evidence", "text", "viewport"}
	stageKeys      = []string{"groups", "meaning", "name", "people", "role", "signers"}
	separationKeys = []string{"one_stage_per_person"}

	reviewID = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	viewport = regexp.MustCompile(`^([0-9]{2,5})x([0-9]{2,5})$`)
)

// Bounds of a plan: it comes from a pull request.
const (
	maxItems      = 200
	maxStages     = 10
	maxSigners    = 20
	maxReviewText = 1000
)

// MaxReviewPlanSize bounds a review plan file.
const MaxReviewPlanSize = 1 << 20

// LoadReviewPlan reads a review plan file (.tandem/review.yaml) named file
// in messages. Every problem is a "file:line: message" line of one
// EINVALID error.
func LoadReviewPlan(file string, content []byte) (*tandem.ReviewPlan, error) {
	if len(content) > MaxReviewPlanSize {
		return nil, invalid(tandem.Pos{File: file}, "the review plan is larger than %d bytes", MaxReviewPlanSize)
	}
	ps := newPositions()
	if err := ps.add(file, content); err != nil {
		return nil, err
	}
	var v any
	dec := yaml.NewDecoder(bytes.NewReader(content))
	if err := dec.Decode(&v); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlError(file, err)
	}
	d := &decoder{ps: ps, files: []string{file}}
	plan := d.review(v, "", "the review plan")
	if err := d.err(); err != nil {
		return nil, err
	}
	plan.Source = file
	return plan, nil
}

// review decodes a review plan at path ("" for a file of its own).
func (d *decoder) review(v any, path, what string) *tandem.ReviewPlan {
	plan := &tandem.ReviewPlan{Checklist: []tandem.ChecklistItem{}, Stages: []tandem.ReviewStage{}, OneStagePerPerson: true}
	m, ok := d.mapping(v, path, what, reviewKeys)
	if !ok {
		return plan
	}
	if list, ok := d.list(m["checklist"], join(path, "checklist"), what+": checklist", maxItems); ok {
		seen := map[string]bool{}
		for i, item := range list {
			at := join(path, fmt.Sprintf("checklist.%d", i))
			it := d.checklistItem(item, at)
			if it.ID != "" && seen[it.ID] {
				d.fail(at+".id", "checklist item %q is listed twice", it.ID)
			}
			seen[it.ID] = true
			plan.Checklist = append(plan.Checklist, it)
		}
	}
	if list, ok := d.list(m["stages"], join(path, "stages"), what+": stages", maxStages); ok {
		seen := map[string]bool{}
		for i, st := range list {
			at := join(path, fmt.Sprintf("stages.%d", i))
			s := d.stage(st, at)
			if s.Name != "" && seen[s.Name] {
				d.fail(at+".name", "stage %q is listed twice", s.Name)
			}
			seen[s.Name] = true
			plan.Stages = append(plan.Stages, s)
		}
	}
	if sep, ok := m["separation"]; ok {
		at := join(path, "separation")
		if sm, ok := d.mapping(sep, at, what+": separation", separationKeys); ok {
			if v, ok := sm["one_stage_per_person"]; ok {
				plan.OneStagePerPerson = d.boolean(v, at+".one_stage_per_person", "separation one_stage_per_person")
			}
		}
	}
	return plan
}

// list decodes an optional list of at most max items.
func (d *decoder) list(v any, path, what string, max int) ([]any, bool) {
	if v == nil {
		return nil, false
	}
	list, ok := v.([]any)
	switch {
	case !ok:
		d.fail(path, "%s must be a list, not %s", what, typeName(v))
	case len(list) > max:
		d.fail(path, "%s has %d items: at most %d", what, len(list), max)
		ok = false
	}
	return list, ok
}

func (d *decoder) checklistItem(v any, path string) tandem.ChecklistItem {
	var it tandem.ChecklistItem
	m, ok := d.mapping(v, path, "checklist item", itemKeys)
	if !ok {
		return it
	}
	it.ID = d.reviewName(m, path, "id", "checklist item")
	if s, ok := m["text"]; !ok {
		d.fail(path, "checklist item %q has no text: what the reviewer confirms", it.ID)
	} else if t, ok := d.str(s, path+".text", "checklist item text"); ok {
		it.Text = strings.TrimSpace(t)
		if it.Text == "" || len(it.Text) > maxReviewText {
			d.fail(path+".text", "checklist item text must have 1 to %d characters", maxReviewText)
		}
	}
	if p, ok := m["page"]; ok {
		if s, ok := d.str(p, path+".page", "checklist item page"); ok {
			if err := checkPagePath(s); err != nil {
				d.fail(path+".page", "checklist item page %q %v", s, err)
			}
			it.Page = s
		}
	}
	if vp, ok := m["viewport"]; ok {
		if s, ok := d.str(vp, path+".viewport", "checklist item viewport"); ok {
			w, h, err := parseViewport(s)
			if err != nil {
				d.fail(path+".viewport", "checklist item viewport %q %v", s, err)
			}
			it.Viewport = tandem.Viewport{Width: w, Height: h}
		}
		if it.Page == "" {
			d.fail(path+".viewport", "checklist item %q has a viewport but no page to capture", it.ID)
		}
	}
	if re, ok := m["requires_evidence"]; ok {
		it.RequiresEvidence = d.boolean(re, path+".requires_evidence", "checklist item requires_evidence")
	}
	return it
}

// checkPagePath accepts a path on the preview's own host, with a query.
func checkPagePath(s string) error {
	switch {
	case !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.HasPrefix(s, `/\`):
		return fmt.Errorf("must be a path on the preview's host, starting with one \"/\"")
	case len(s) > 2000 || strings.ContainsAny(s, " \t\r\n\x00#"):
		return fmt.Errorf("must be a path without spaces or a fragment, at most 2000 characters")
	}
	return nil
}

// parseViewport reads "1280x800".
func parseViewport(s string) (int, int, error) {
	m := viewport.FindStringSubmatch(s)
	if m == nil {
		return 0, 0, fmt.Errorf("must be WIDTHxHEIGHT, like 1280x800")
	}
	w, _ := strconv.Atoi(m[1])
	h, _ := strconv.Atoi(m[2])
	if w < 200 || w > 3840 || h < 200 || h > 4320 {
		return 0, 0, fmt.Errorf("must be from 200x200 to 3840x4320")
	}
	return w, h, nil
}

func (d *decoder) stage(v any, path string) tandem.ReviewStage {
	s := tandem.ReviewStage{Meaning: tandem.MeaningApproved, Signers: 1, Role: tandem.RoleApprover}
	m, ok := d.mapping(v, path, "stage", stageKeys)
	if !ok {
		return s
	}
	s.Name = d.reviewName(m, path, "name", "stage")
	if v, ok := m["signers"]; ok {
		n, ok := count(v)
		if !ok || n < 1 || n > maxSigners {
			d.fail(path+".signers", "stage %q: signers must be a number from 1 to %d, not %s", s.Name, maxSigners, describe(v))
		}
		s.Signers = n
	}
	if v, ok := m["role"]; ok {
		if r, ok := d.str(v, path+".role", "stage role"); ok {
			role, err := tandem.ParseRole(r)
			switch {
			case err != nil:
				d.fail(path+".role", "stage %q: %v", s.Name, err)
			case !role.Includes(tandem.RoleApprover):
				d.fail(path+".role", "stage %q: role %s may not sign: a stage's signers are approvers or admins", s.Name, role)
			}
			s.Role = role
		}
	}
	if v, ok := m["meaning"]; ok {
		if mn, ok := d.str(v, path+".meaning", "stage meaning"); ok {
			switch tandem.SignatureMeaning(mn) {
			case tandem.MeaningApproved, tandem.MeaningReviewed:
				s.Meaning = tandem.SignatureMeaning(mn)
			default:
				d.fail(path+".meaning", "stage %q: meaning must be approved or reviewed, not %q", s.Name, mn)
			}
		}
	}
	one := func(x string) ([]string, error) { return []string{x}, nil }
	if v, ok := m["groups"]; ok {
		s.Groups, _ = d.strings(v, path+".groups", "stage groups", one)
		for i, g := range s.Groups {
			if strings.TrimSpace(g) == "" {
				d.fail(fmt.Sprintf("%s.groups.%d", path, i), "stage %q: a group name is empty", s.Name)
			}
		}
	}
	if v, ok := m["people"]; ok {
		people, _ := d.strings(v, path+".people", "stage people", one)
		for i, p := range people {
			a, err := mail.ParseAddress(p)
			if err != nil || a.Name != "" || a.Address != strings.TrimSpace(p) {
				d.fail(fmt.Sprintf("%s.people.%d", path, i), "stage %q: %q is not an email address", s.Name, p)
				continue
			}
			s.People = append(s.People, strings.ToLower(a.Address))
		}
	}
	return s
}

// reviewName reads an item's id or a stage's name.
func (d *decoder) reviewName(m map[string]any, path, key, what string) string {
	v, ok := m[key]
	if !ok {
		d.fail(path, "%s has no %s", what, key)
		return ""
	}
	s, ok := d.str(v, path+"."+key, what+" "+key)
	if ok && !reviewID.MatchString(s) {
		d.fail(path+"."+key, "%s %s %q: lower-case letters, digits, dots, dashes and underscores, at most 64", what, key, s)
	}
	return s
}

// count reads a whole number, as YAML or interpolation gives it.
func count(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), n == int64(int(n))
	case uint64:
		return int(n), n <= math.MaxInt32
	case float64:
		return int(n), n == math.Trunc(n) && math.Abs(n) <= math.MaxInt32
	case string:
		i, err := strconv.Atoi(n)
		return i, err == nil
	}
	return 0, false
}

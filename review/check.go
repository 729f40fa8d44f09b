package review

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"path"
	"slices"
	"strings"
	"unicode"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/capture"
)

// CheckRequest records a checklist item's result.
type CheckRequest struct {
	Item   string `json:"item"`
	Result string `json:"result"` // pass, fail, n/a
	Note   string `json:"note,omitempty"`
	// Capture takes the item's page first (as the caller, who must be a
	// person), and records the capture as the result's evidence.
	Capture bool `json:"capture,omitempty"`
	// Generation is the one the reviewer looked at; 0: the one serving.
	// Another than the one serving is refused: the preview changed.
	Generation int `json:"generation,omitempty"`
}

// maxNote bounds a note or a comment.
const maxNote = 4000

// Check records the result of a checklist item of the generation serving,
// with a capture of its page first if asked. It takes the role reviewer
// in the preview's repository.
func (s *Service) Check(ctx context.Context, by *tandem.Principal, name string, req CheckRequest) (*tandem.ChecklistResult, error) {
	switch req.Result {
	case tandem.ResultPass, tandem.ResultFail, tandem.ResultNA:
	default:
		return nil, tandem.Errorf(tandem.EINVALID, "result %q: pass, fail or n/a", req.Result)
	}
	if len(req.Note) > maxNote {
		return nil, tandem.Errorf(tandem.EINVALID, "the note is longer than %d bytes", maxNote)
	}
	var evidence []tandem.Evidence
	detail := fmt.Sprintf("checklist item %s: %s", req.Item, req.Result)
	if req.Capture {
		caps, err := s.Capture(ctx, by, name, req.Item, req.Generation)
		if err != nil {
			return nil, err
		}
		evidence = caps.Evidence
		detail += fmt.Sprintf("; captured %s, which answered %d", caps.URL, caps.Status)
		if req.Generation == 0 {
			req.Generation = caps.Generation // what was captured is what the result is about
		}
	}
	unlock := s.lock(name)
	defer unlock()
	cur, item, err := s.reviewable(ctx, by, name, req.Item, req.Generation, tandem.RoleReviewer, "record checklist results")
	if err != nil {
		return nil, err
	}
	if req.Result == tandem.ResultPass && item.RequiresEvidence && len(evidence) == 0 && !hasEvidence(cur, item.ID) {
		return nil, tandem.Errorf(tandem.ECONFLICT, "checklist item %q needs evidence before it passes: capture its page (--capture), or upload a file (tandem review evidence)", item.ID)
	}
	r := &tandem.ChecklistResult{Item: item.ID, Result: req.Result, Note: req.Note, Evidence: evidence}
	e := tandem.AuditEvent{Kind: tandem.AuditChecklistResult, Evidence: evidence,
		Checklist: &tandem.AuditChecklist{Item: item.ID, Text: item.Text, Result: req.Result, Note: req.Note},
		Detail:    detail}
	return r, s.record(ctx, by, cur, e, r)
}

// record appends e to the audit log, then keeps r with its entry.
func (s *Service) record(ctx context.Context, by *tandem.Principal, cur *current, e tandem.AuditEvent, r *tandem.ChecklistResult) error {
	p := cur.p
	e.Repo, e.Preview, e.Generation, e.Binding, e.Actor = p.Repo, p.Name, p.Serving, p.Binding, by.String()
	entry, err := s.cfg.Log.Append(ctx, e)
	if err != nil {
		return err
	}
	r.Preview, r.Generation, r.Commit, r.By, r.Time, r.Entry = p.Name, p.Serving, p.Binding.Commit, by.String(), entry.Time, entry.Index
	return s.cfg.Store.AddChecklistResult(ctx, r)
}

// hasEvidence reports whether the serving generation has evidence for item.
func hasEvidence(cur *current, item string) bool {
	return slices.ContainsFunc(cur.results, func(r *tandem.ChecklistResult) bool {
		return r.Generation == cur.p.Serving && r.Item == item && len(r.Evidence) > 0
	})
}

// reviewable returns the preview's serving generation and its plan's item
// called itemID ("": none wanted), if by may act as need on it and gen
// (0: any) is the generation serving.
func (s *Service) reviewable(ctx context.Context, by *tandem.Principal, name, itemID string, gen int, need tandem.Role, doing string) (*current, *tandem.ChecklistItem, error) {
	st, cur, err := s.state(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	p := cur.p
	if !by.Can(p.Repo, need) {
		return nil, nil, tandem.Errorf(tandem.EFORBIDDEN, "%s may not %s: that needs the role %s in repository %s", by, doing, need, p.Repo)
	}
	switch {
	case p.Serving == 0:
		return nil, nil, tandem.Errorf(tandem.ECONFLICT, "preview %s serves nothing yet: there is nothing to review", name)
	case gen != 0 && gen != p.Serving:
		return nil, nil, tandem.Errorf(tandem.ECONFLICT, "preview %s now serves generation %d (%s), not %d: review what serves now",
			name, p.Serving, short(p.Binding.Commit), gen)
	case cur.plan == nil:
		return nil, nil, tandem.Errorf(tandem.ECONFLICT, "the review plan of preview %s generation %d is not known (%s): update the preview to read it again",
			name, p.Serving, st.State)
	}
	if itemID == "" {
		return cur, nil, nil
	}
	item := cur.plan.Item(itemID)
	if item == nil {
		ids := make([]string, len(cur.plan.Checklist))
		for i, it := range cur.plan.Checklist {
			ids[i] = it.ID
		}
		return nil, nil, tandem.Errorf(tandem.ENOTFOUND, "no checklist item %q in the review plan of %s (items: %s)", itemID, name, strings.Join(ids, ", "))
	}
	return cur, item, nil
}

// Captured is what Capture kept: the screenshot, the HAR and the
// rendered text, as evidence, and what the page answered.
type Captured struct {
	Generation int               `json:"generation"`
	URL        string            `json:"url"`
	Status     int               `json:"status"`
	Evidence   []tandem.Evidence `json:"evidence"`
	// TextDigest is the SHA-256 of the rendered text (its evidence file's
	// digest): "sha256:<hex>".
	TextDigest string   `json:"text_digest"`
	Blocked    []string `json:"blocked,omitempty"` // requests to other origins, refused
}

// Capture loads a checklist item's page of the generation serving in
// headless Chromium, through the gateway, as by: the gate lets tandem's
// browser in with a session of by's own, so that the access log and the
// application see that person. It keeps the full-page PNG, the HAR and
// the rendered text as evidence, and returns them; Check records them.
func (s *Service) Capture(ctx context.Context, by *tandem.Principal, name, itemID string, gen int) (*Captured, error) {
	if s.cfg.Browser == nil || s.cfg.Access == nil {
		return nil, tandem.Errorf(tandem.EUNSUPPORTED, "this server captures no pages: it has no browser (tandem.yaml review.chromium)")
	}
	if by == nil || by.Person == nil {
		return nil, tandem.Errorf(tandem.EFORBIDDEN, "%s cannot capture a page: tandem's browser opens the preview as a person, the one who asks", by)
	}
	cur, item, err := s.reviewable(ctx, by, name, itemID, gen, tandem.RoleReviewer, "capture pages as evidence")
	if err != nil {
		return nil, err
	}
	if item.Page == "" {
		return nil, tandem.Errorf(tandem.EINVALID, "checklist item %q names no page to capture", item.ID)
	}
	p := cur.p
	select {
	case s.captures <- struct{}{}:
		defer func() { <-s.captures }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	cookie, end, err := s.cfg.Access.ReviewerSession(ctx, by.Person, p.Name)
	if err != nil {
		return nil, err
	}
	defer end()
	res, err := s.cfg.Browser.Capture(ctx, capture.Page{URL: p.URL + item.Page, Resolve: s.cfg.Gateway, Cookies: []*http.Cookie{cookie}, Viewport: viewportOf(item)})
	if err != nil {
		return nil, err
	}
	if now, err := s.cfg.Previews.Get(ctx, name); err != nil || now.Serving != p.Serving {
		return nil, tandem.Errorf(tandem.ECONFLICT, "preview %s changed while its page was captured: capture it again", name)
	}
	return s.keepCapture(p, item, res)
}

func viewportOf(item *tandem.ChecklistItem) tandem.Viewport {
	if item.Viewport.Width == 0 {
		return tandem.DefaultViewport
	}
	return item.Viewport
}

// keepCapture keeps a capture's files as evidence.
func (s *Service) keepCapture(p *tandem.Preview, item *tandem.ChecklistItem, res *capture.Result) (*Captured, error) {
	vp := viewportOf(item)
	at := fmt.Sprintf("%s of %s at %s (generation %d)", item.Page, p.Name, short(p.Binding.Commit), p.Serving)
	files := []struct {
		data       []byte
		name, kind string
	}{
		{res.PNG, fmt.Sprintf("screenshot of %s, %dx%d", at, vp.Width, vp.Height), "image/png"},
		{res.HAR, "HTTP exchanges of loading " + at + " (HAR 1.2)", "application/json"},
		{[]byte(res.Text), "rendered text of " + at, "text/plain; charset=utf-8"},
	}
	c := &Captured{Generation: p.Serving, URL: res.URL, Status: res.Status, Blocked: res.Blocked}
	for _, f := range files {
		ev, err := s.cfg.Evidence.Put(bytes.NewReader(f.data), f.name, f.kind, 0)
		if err != nil {
			return nil, err
		}
		c.Evidence = append(c.Evidence, ev)
	}
	c.TextDigest = TextDigest(res.Text)
	return c, nil
}

// TextDigest is the digest of a page's rendered text as a capture keeps
// it: "sha256:<hex>" of its UTF-8 bytes.
func TextDigest(text string) string {
	h := sha256.Sum256([]byte(text))
	return "sha256:" + hex.EncodeToString(h[:])
}

// EvidenceRequest names an uploaded file.
type EvidenceRequest struct {
	Item       string `json:"item"`
	Filename   string `json:"filename"` // as uploaded: "report.xml"
	Generation int    `json:"generation,omitempty"`
}

// AddEvidence keeps a file a reviewer or CI uploads for a checklist item
// of the generation serving, byte for byte, at most Config.MaxUpload. Its
// media type is sniffed from its content, not taken from the uploader,
// and made one no browser runs (SafeMediaType). It takes the role
// reviewer; an API token of that role (CI) may upload.
func (s *Service) AddEvidence(ctx context.Context, by *tandem.Principal, name string, req EvidenceRequest, r io.Reader) (*tandem.ChecklistResult, error) {
	filename := cleanFilename(req.Filename)
	// Checked before the upload is read, and again once it is kept.
	cur, item, err := s.reviewable(ctx, by, name, req.Item, req.Generation, tandem.RoleReviewer, "add evidence")
	if err != nil {
		return nil, err
	}
	gen := cur.p.Serving
	head := make([]byte, 512)
	n, err := io.ReadFull(r, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, err
	}
	head = head[:n]
	if n == 0 {
		return nil, tandem.Errorf(tandem.EINVALID, "the file %q is empty", filename)
	}
	kind := SafeMediaType(http.DetectContentType(head))
	ev, err := s.cfg.Evidence.Put(io.MultiReader(bytes.NewReader(head), r), "uploaded "+filename, kind, s.cfg.MaxUpload)
	if err != nil {
		return nil, err
	}
	unlock := s.lock(name)
	defer unlock()
	if cur, item, err = s.reviewable(ctx, by, name, req.Item, gen, tandem.RoleReviewer, "add evidence"); err != nil {
		return nil, err
	}
	res := &tandem.ChecklistResult{Item: item.ID, Evidence: []tandem.Evidence{ev}, Note: filename}
	e := tandem.AuditEvent{Kind: tandem.AuditEvidenceAdded, Evidence: res.Evidence,
		Checklist: &tandem.AuditChecklist{Item: item.ID, Text: item.Text},
		Detail:    fmt.Sprintf("evidence for checklist item %s: %s", item.ID, filename)}
	return res, s.record(ctx, by, cur, e, res)
}

// cleanFilename keeps what names an upload for people: its base name,
// printable, at most 200 bytes.
func cleanFilename(name string) string {
	name = path.Base(strings.ReplaceAll(name, `\`, "/"))
	name = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return -1
	}, name)
	if len(name) > 200 {
		name = name[:200]
	}
	if name == "" || name == "." || name == "/" {
		return "file"
	}
	return name
}

// safeTypes are media types evidence keeps as sniffed: none of them is
// run by a browser that is told so (with X-Content-Type-Options: nosniff).
var safeTypes = []string{"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "video/mp4", "video/webm",
	"audio/mpeg", "audio/wave", "application/pdf", "application/zip", "application/x-gzip", "application/json", "text/plain"}

// SafeMediaType is the media type evidence is kept and served with: the
// sniffed one if it is inert, "text/plain; charset=utf-8" for other text
// (HTML, XML, SVG and scripts are shown as text, never run), and
// "application/octet-stream" for anything else.
func SafeMediaType(sniffed string) string {
	base, _, _ := strings.Cut(sniffed, ";")
	base = strings.TrimSpace(strings.ToLower(base))
	switch {
	case slices.Contains(safeTypes, base) && base != "text/plain":
		return base
	case strings.HasPrefix(base, "text/") || base == "application/xml" || base == "image/svg+xml" || strings.Contains(base, "javascript"):
		return "text/plain; charset=utf-8"
	}
	return "application/octet-stream"
}

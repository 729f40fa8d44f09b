package dashboard

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/review"
)

// reviewRoutes are the review's pages and forms. Package review decides
// who may record and sign what, as it does for the API; the dashboard
// shows only the buttons it would accept.
func (s *Server) reviewRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /previews/{name}/review", s.reviewPage)
	mux.HandleFunc("GET /previews/{name}/review/evidence/{digest}", s.evidenceFile)
	mux.Handle("POST /previews/{name}/review/checks", s.form(s.check))
	mux.Handle("POST /previews/{name}/review/evidence", s.upload(s.addEvidence))
	mux.HandleFunc("GET /previews/{name}/review/sign", s.signPage)
	mux.Handle("POST /previews/{name}/review/code", s.form(s.sendCode))
	mux.Handle("POST /previews/{name}/review/sign", s.form(s.signWithCode))
	mux.Handle("POST /previews/{name}/review/sign/reauth", s.form(s.signAfterReauth))
	mux.HandleFunc("GET /previews/{name}/review/sign/{id}", s.signPending)
	mux.Handle("POST /previews/{name}/review/sign/{id}", s.form(s.signPendingNow))
}

// reviews runs reviews, or is nil where the server runs none.
func (s *Server) reviews() reviewService {
	if s.cfg.API.Reviews == nil {
		return nil
	}
	return s.cfg.API.Reviews
}

// reviewService is what the dashboard asks of reviews: httpapi.Reviews.
type reviewService interface {
	Status(ctx context.Context, name string) (*tandem.ReviewState, error)
	Check(ctx context.Context, by *tandem.Principal, name string, req review.CheckRequest) (*tandem.ChecklistResult, error)
	AddEvidence(ctx context.Context, by *tandem.Principal, name string, req review.EvidenceRequest, r io.Reader) (*tandem.ChecklistResult, error)
	Sign(ctx context.Context, by *tandem.Principal, name string, req review.SignRequest) (*tandem.Approval, error)
	SendCode(ctx context.Context, by *tandem.Principal, name, stage string) error
}

// reviewState is where a preview's review stands, for the list: "" where
// the server runs no reviews.
func (s *Server) reviewState(ctx context.Context, p *tandem.Preview) string {
	r := s.reviews()
	if r == nil {
		return ""
	}
	st, err := r.Status(ctx, p.Name)
	if err != nil {
		return ""
	}
	return review.Line(st)
}

// reviewData is what a review's page shows.
type reviewData struct {
	P        *tandem.Preview
	St       *tandem.ReviewState
	Line     string // where it stands, in one line
	Detail   string // that line after the state
	Off      bool   // the server runs no reviews
	MayCheck bool   // record results and capture pages
	Items    []itemView
	Stages   []stageView
}

type itemView struct {
	tandem.ItemState
	PageURL string
	Shots   []tandem.Evidence // screenshots, shown as thumbnails
	Files   []tandem.Evidence // other evidence
}

type stageView struct {
	tandem.StageState
	Number  int
	MaySign bool // the person could sign it now, as far as the plan says
}

func (s *Server) reviewPage(w http.ResponseWriter, r *http.Request) {
	p, ok := s.viewPreview(w, r, tandem.RoleViewer, "view preview")
	if !ok {
		return
	}
	who := s.who(r)
	d := reviewData{P: p, Off: s.reviews() == nil, MayCheck: who.Can(p.Repo, tandem.RoleReviewer)}
	if !d.Off {
		c, cancel := ctx(r)
		defer cancel()
		st, err := s.reviews().Status(c, p.Name)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		d.St, d.Line = st, review.Line(st)
		d.Detail = strings.TrimPrefix(strings.TrimPrefix(d.Line, st.State), ": ")
		d.Items, d.Stages = s.itemViews(p, st), stageViews(st, who, p)
	}
	s.render(w, http.StatusOK, "review", s.newPage(w, r, "Review of "+p.Name, "previews", d))
}

func (s *Server) itemViews(p *tandem.Preview, st *tandem.ReviewState) []itemView {
	var out []itemView
	for _, is := range st.Checklist {
		v := itemView{ItemState: is}
		if is.Item.Page != "" {
			v.PageURL = p.URL + is.Item.Page
		}
		for _, ev := range is.Evidence {
			if ev.MediaType == "image/png" || ev.MediaType == "image/jpeg" {
				v.Shots = append(v.Shots, ev)
			} else {
				v.Files = append(v.Files, ev)
			}
		}
		out = append(out, v)
	}
	return out
}

// stageViews are the pipeline's stages, each with whether who could sign
// it: open, admitting them, and not theirs to refuse as the author. The
// review service checks all of it again when they do.
func stageViews(st *tandem.ReviewState, who *tandem.Principal, p *tandem.Preview) []stageView {
	var out []stageView
	author := who.Person != nil && p.Author != "" && strings.EqualFold(p.Author, who.Person.Email)
	for i, ss := range st.Stages {
		v := stageView{StageState: ss, Number: i + 1}
		signed := slices.ContainsFunc(ss.Signatures, func(a tandem.Approval) bool { return who.Person != nil && a.Email == who.Person.Email })
		v.MaySign = !author && !signed && (ss.State == tandem.StageOpen || ss.State == tandem.StageWaiting) && ss.Stage.Admits(who, p.Repo)
		out = append(out, v)
	}
	return out
}

// evidenceFile answers an evidence file of a preview's review: only one
// the review names, to who may view the preview. Images are shown; any
// other file is downloaded, and never runs in the page.
func (s *Server) evidenceFile(w http.ResponseWriter, r *http.Request) {
	p, ok := s.viewPreview(w, r, tandem.RoleViewer, "view preview")
	if !ok {
		return
	}
	if s.reviews() == nil {
		http.NotFound(w, r)
		return
	}
	c, cancel := ctx(r)
	defer cancel()
	st, err := s.reviews().Status(c, p.Name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	digest := r.PathValue("digest")
	var ev *tandem.Evidence
	for _, is := range st.Checklist {
		for i := range is.Evidence {
			if is.Evidence[i].Digest == digest {
				ev = &is.Evidence[i]
			}
		}
	}
	if ev == nil {
		http.NotFound(w, r)
		return
	}
	f, err := s.cfg.Evidence.Open(ev.Digest)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "private, max-age=3600")
	if ev.MediaType == "image/png" || ev.MediaType == "image/jpeg" {
		h.Set("Content-Type", ev.MediaType)
	} else {
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Disposition", `attachment; filename="`+safeName(strings.TrimPrefix(ev.Digest, "sha256:"))[:16]+`"`)
	}
	http.ServeContent(w, r, "", p.CreatedAt, f)
}

// check records a checklist item's result, capturing its page first if
// asked.
func (s *Server) check(w http.ResponseWriter, r *http.Request, who *tandem.Principal) {
	name := r.PathValue("name")
	if !s.reviewing(w, r) {
		return
	}
	gen, _ := strconv.Atoi(r.PostFormValue("generation"))
	req := review.CheckRequest{Item: r.PostFormValue("item"), Result: r.PostFormValue("result"), Note: strings.TrimSpace(r.PostFormValue("note")),
		Capture: r.PostFormValue("capture") == "1", Generation: gen}
	// A capture loads the page in a browser: it may take a while.
	if _, err := s.reviews().Check(r.Context(), who, name, req); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/previews/"+url.PathEscape(name)+"/review?done=recorded#item-"+url.PathEscape(req.Item), http.StatusSeeOther)
}

// reviewing answers the request, and reports false, where the server
// runs no reviews.
func (s *Server) reviewing(w http.ResponseWriter, r *http.Request) bool {
	if s.reviews() == nil {
		s.fail(w, r, tandem.Errorf(tandem.EUNSUPPORTED, "this server runs no reviews"))
		return false
	}
	return true
}

package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/review"
)

// Reviews runs previews' reviews: package review's Service does.
type Reviews interface {
	Status(ctx context.Context, name string) (*tandem.ReviewState, error)
	Check(ctx context.Context, by *tandem.Principal, name string, req review.CheckRequest) (*tandem.ChecklistResult, error)
	AddEvidence(ctx context.Context, by *tandem.Principal, name string, req review.EvidenceRequest, r io.Reader) (*tandem.ChecklistResult, error)
	Sign(ctx context.Context, by *tandem.Principal, name string, req review.SignRequest) (*tandem.Approval, error)
	SendCode(ctx context.Context, by *tandem.Principal, name, stage string) error
}

var _ Reviews = (*review.Service)(nil)

// ReviewStatus is the answer to GET /v1/previews/{name}/review: the state,
// and a line that says it.
type ReviewStatus struct {
	*tandem.ReviewState
	Summary string `json:"summary"`
}

// CodeBody is the body of POST /v1/previews/{name}/review/code.
type CodeBody struct {
	Stage string `json:"stage,omitempty"`
}

// reviewRoutes are the review API (see docs/api.md). Each acts as the
// caller, whose roles the review service checks; a caller who may not
// view the preview learns nothing of it.
//
//	GET  /v1/previews/{name}/review             where the review stands            viewer
//	POST /v1/previews/{name}/review/checks      a checklist result {item, result, note, capture, generation}   reviewer
//	POST /v1/previews/{name}/review/evidence?item=ID&filename=NAME&generation=N   a file, as the body   reviewer
//	POST /v1/previews/{name}/review/code        mail the caller a code to sign with {stage}   approver
//	POST /v1/previews/{name}/review/signatures  sign {stage, meaning, comment, code, generation}   a person the stage admits
func (s *Server) reviewRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/previews/{name}/review", s.reviewStatus)
	mux.HandleFunc("POST /v1/previews/{name}/review/checks", s.reviewCheck)
	mux.HandleFunc("POST /v1/previews/{name}/review/evidence", s.reviewEvidence)
	mux.HandleFunc("POST /v1/previews/{name}/review/code", s.reviewCode)
	mux.HandleFunc("POST /v1/previews/{name}/review/signatures", s.reviewSign)
}

// reviewable answers the request and reports false unless the server
// runs reviews and the caller may view the preview.
func (s *Server) reviewable(w http.ResponseWriter, r *http.Request) bool {
	if s.Reviews == nil {
		writeError(w, tandem.Errorf(tandem.EUNSUPPORTED, "this server runs no reviews"))
		return false
	}
	_, ok := s.preview(w, r, tandem.RoleViewer, "view preview "+r.PathValue("name"))
	return ok
}

func (s *Server) reviewStatus(w http.ResponseWriter, r *http.Request) {
	if !s.reviewable(w, r) {
		return
	}
	st, err := s.Reviews.Status(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ReviewStatus{ReviewState: st, Summary: review.Line(st)})
}

func (s *Server) reviewCheck(w http.ResponseWriter, r *http.Request) {
	var body review.CheckRequest
	if !s.reviewable(w, r) || !decodeBody(w, r, &body) {
		return
	}
	res, err := s.Reviews.Check(r.Context(), PrincipalFrom(r.Context()), r.PathValue("name"), body)
	answer(w, http.StatusCreated, res, err)
}

// reviewEvidence takes the file as the request's body, sent as
// application/octet-stream: a type no other site's form can send without
// the browser asking first, so a session cookie cannot be made to upload.
func (s *Server) reviewEvidence(w http.ResponseWriter, r *http.Request) {
	if !s.reviewable(w, r) {
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/octet-stream" {
		writeError(w, tandem.Errorf(tandem.EINVALID, "send the file as the body, with Content-Type: application/octet-stream"))
		return
	}
	q := r.URL.Query()
	req := review.EvidenceRequest{Item: q.Get("item"), Filename: q.Get("filename")}
	if g := q.Get("generation"); g != "" {
		n, err := strconv.Atoi(g)
		if err != nil {
			writeError(w, tandem.Errorf(tandem.EINVALID, "generation %q is not a number", g))
			return
		}
		req.Generation = n
	}
	res, err := s.Reviews.AddEvidence(r.Context(), PrincipalFrom(r.Context()), r.PathValue("name"), req, r.Body)
	answer(w, http.StatusCreated, res, err)
}

func (s *Server) reviewCode(w http.ResponseWriter, r *http.Request) {
	var body CodeBody
	if !s.reviewable(w, r) || !decodeBody(w, r, &body) {
		return
	}
	err := s.Reviews.SendCode(r.Context(), PrincipalFrom(r.Context()), r.PathValue("name"), body.Stage)
	answer(w, http.StatusAccepted, map[string]string{"sent": "a code is on its way to your email address"}, err)
}

func (s *Server) reviewSign(w http.ResponseWriter, r *http.Request) {
	var body review.SignRequest
	if !s.reviewable(w, r) || !decodeBody(w, r, &body) {
		return
	}
	a, err := s.Reviews.Sign(r.Context(), PrincipalFrom(r.Context()), r.PathValue("name"), body)
	answer(w, http.StatusCreated, a, err)
}

// answer writes v, or err: a signature refused for want of
// re-authentication is a 401 that says how to authenticate.
func answer(w http.ResponseWriter, status int, v any, err error) {
	if err != nil {
		refuse(w, err)
		return
	}
	writeJSON(w, status, v)
}

func reviewPath(name, rest string) string {
	return "/v1/previews/" + url.PathEscape(name) + "/review" + rest
}

// ReviewStatus returns where a preview's review stands.
func (c *Client) ReviewStatus(ctx context.Context, name string) (*ReviewStatus, error) {
	var st ReviewStatus
	return &st, c.call(ctx, http.MethodGet, reviewPath(name, ""), nil, &st)
}

// ReviewCheck records a checklist result (capturing its page first if
// req.Capture).
func (c *Client) ReviewCheck(ctx context.Context, name string, req review.CheckRequest) (*tandem.ChecklistResult, error) {
	var res tandem.ChecklistResult
	return &res, c.call(ctx, http.MethodPost, reviewPath(name, "/checks"), req, &res)
}

// ReviewCode has the server mail the caller a code to sign with.
func (c *Client) ReviewCode(ctx context.Context, name, stage string) error {
	return c.call(ctx, http.MethodPost, reviewPath(name, "/code"), CodeBody{Stage: stage}, nil)
}

// ReviewSign signs.
func (c *Client) ReviewSign(ctx context.Context, name string, req review.SignRequest) (*tandem.Approval, error) {
	var a tandem.Approval
	return &a, c.call(ctx, http.MethodPost, reviewPath(name, "/signatures"), req, &a)
}

// ReviewEvidence uploads what body holds as evidence for a checklist item.
func (c *Client) ReviewEvidence(ctx context.Context, name string, req review.EvidenceRequest, body io.Reader) (*tandem.ChecklistResult, error) {
	q := url.Values{"item": {req.Item}, "filename": {req.Filename}}
	if req.Generation != 0 {
		q.Set("generation", strconv.Itoa(req.Generation))
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+reviewPath(name, "/evidence?"+q.Encode()), body)
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/octet-stream")
	if c.Token != "" {
		hreq.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.http.Do(hreq)
	if err != nil {
		return nil, tandem.Errorf(tandem.EUNAVAILABLE, "tandem serve (%s): %w", c.where(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return nil, decodeError(resp)
	}
	var res tandem.ChecklistResult
	return &res, json.NewDecoder(resp.Body).Decode(&res)
}

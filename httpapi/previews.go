package httpapi

import (
	"context"
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/preview"
	"github.com/tandem-dev/tandem/supervisor"
)

// Previews is what the preview API controls: tandem serve's manager.
type Previews interface {
	Create(ctx context.Context, req preview.CreateRequest) (*tandem.Preview, error)
	Get(ctx context.Context, name string) (*tandem.Preview, error)
	List(ctx context.Context) ([]*tandem.Preview, error)
	Destroy(ctx context.Context, name string) error
	Logs(ctx context.Context, name, service string, n int) ([]string, error)
	Follow(name, service string) (<-chan supervisor.Line, func(), error)
	Events(ctx context.Context, name string, after int64) ([]tandem.Event, error)
	Subscribe(name string) (<-chan tandem.Event, func())
}

var _ Previews = (*preview.Manager)(nil)

// View is a preview as the API shows it: the record, with its TTL written
// as a duration ("72h0m0s"). Secrets are not part of it, and never were.
type View struct {
	*tandem.Preview
	TTL string `json:"ttl,omitempty"`
}

func view(p *tandem.Preview) View {
	v := View{Preview: p}
	if p.TTL > 0 {
		v.TTL = p.TTL.String()
	}
	return v
}

// CreateBody is the body of POST /v1/previews.
type CreateBody struct {
	Name string `json:"name"`
	Repo string `json:"repo"`
	Ref  string `json:"ref,omitempty"`
	PR   int    `json:"pr,omitempty"`
	TTL  string `json:"ttl,omitempty"` // a duration: "72h", "30m"
	// Author is who wrote the change (see preview.CreateRequest.Author).
	Author string `json:"author,omitempty"`
}

// ChangeRole is what creating, updating (redeploying) and destroying a
// preview takes: what CI does. Viewing one takes tandem.RoleViewer.
const ChangeRole = tandem.RoleReviewer

// previewRoutes are the preview API (see docs/api.md):
//
//	POST   /v1/previews                          create, or update to a new commit   reviewer
//	GET    /v1/previews                          list, of what the caller may view
//	GET    /v1/previews/{name}                   one                                 viewer
//	DELETE /v1/previews/{name}                   destroy                             reviewer
//	GET    /v1/previews/{name}/events?after=N&follow=1   JSON lines                viewer
//	GET    /v1/previews/{name}/logs/{service}?tail=N&follow=1                       viewer
func (s *Server) previewRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/previews", s.createPreview)
	mux.HandleFunc("GET /v1/previews", s.listPreviews)
	mux.HandleFunc("GET /v1/previews/{name}", func(w http.ResponseWriter, r *http.Request) {
		if pv, ok := s.preview(w, r, tandem.RoleViewer, "view preview "+r.PathValue("name")); ok {
			writeJSON(w, http.StatusOK, view(pv))
		}
	})
	mux.HandleFunc("DELETE /v1/previews/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if err := s.DestroyPreview(r.Context(), PrincipalFrom(r.Context()), name); err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"destroyed": name})
	})
	mux.HandleFunc("GET /v1/previews/{name}/events", s.previewEvents)
	mux.HandleFunc("GET /v1/previews/{name}/logs/{service}", s.previewLogs)
}

// Preview returns the preview called name if who may act as need in its
// repository: ENOTFOUND if there is none, EFORBIDDEN if who may not.
func (s *Server) Preview(ctx context.Context, who *tandem.Principal, name string, need tandem.Role, doing string) (*tandem.Preview, error) {
	pv, err := s.Previews.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	if err := Allowed(who, pv.Repo, need, doing); err != nil {
		return nil, err
	}
	return pv, nil
}

// preview returns the preview the request's path names, if the caller may
// act as need in its repository; it answers the request otherwise.
func (s *Server) preview(w http.ResponseWriter, r *http.Request, need tandem.Role, doing string) (*tandem.Preview, bool) {
	pv, err := s.Preview(r.Context(), PrincipalFrom(r.Context()), r.PathValue("name"), need, doing)
	if err != nil {
		writeError(w, err)
		return nil, false
	}
	return pv, true
}

// VisiblePreviews returns the previews who may view, by name.
func (s *Server) VisiblePreviews(ctx context.Context, who *tandem.Principal) ([]*tandem.Preview, error) {
	list, err := s.Previews.List(ctx)
	if err != nil {
		return nil, err
	}
	visible := make([]*tandem.Preview, 0, len(list))
	for _, pv := range list {
		if who.CanView(pv.Repo, pv.Name) {
			visible = append(visible, pv)
		}
	}
	return visible, nil
}

// CreatePreview asks, as who, for a preview, or for an update of the one of
// that name to the commit req.Ref names now (a redeploy).
func (s *Server) CreatePreview(ctx context.Context, who *tandem.Principal, req preview.CreateRequest) (*tandem.Preview, error) {
	if err := Allowed(who, req.Repo, ChangeRole, "create previews"); err != nil {
		return nil, err
	}
	// An update acts on the preview there: of the same repository, or the
	// manager refuses it, but say nothing of another's to who cannot see it.
	if old, err := s.Previews.Get(ctx, req.Name); err == nil {
		if err := Allowed(who, old.Repo, ChangeRole, "update preview "+req.Name); err != nil {
			return nil, err
		}
	}
	return s.Previews.Create(ctx, req)
}

// DestroyPreview destroys, as who, the preview called name.
func (s *Server) DestroyPreview(ctx context.Context, who *tandem.Principal, name string) error {
	if _, err := s.Preview(ctx, who, name, ChangeRole, "destroy preview "+name); err != nil {
		return err
	}
	return s.Previews.Destroy(ctx, name)
}

// MayReadEvents reports (nil, or why not) whether who may read the events
// of the preview called name: a viewer of its repository's may. Events
// outlive their preview: those of one that is gone are for who may view
// every repository's.
func (s *Server) MayReadEvents(ctx context.Context, who *tandem.Principal, name string) error {
	pv, err := s.Previews.Get(ctx, name)
	switch {
	case err == nil:
		return Allowed(who, pv.Repo, tandem.RoleViewer, "view preview "+name)
	case tandem.ErrorCode(err) == tandem.ENOTFOUND && who.Can(tandem.AllRepos, tandem.RoleViewer):
		return nil
	}
	return err
}

func (s *Server) createPreview(w http.ResponseWriter, r *http.Request) {
	var body CreateBody
	if !decodeBody(w, r, &body) {
		return
	}
	req := preview.CreateRequest{Name: body.Name, Repo: body.Repo, Ref: body.Ref, PR: body.PR, Author: body.Author}
	if body.TTL != "" {
		ttl, err := time.ParseDuration(body.TTL)
		if err != nil {
			writeError(w, tandem.Errorf(tandem.EINVALID, "ttl %q is not a duration (like 72h or 30m)", body.TTL))
			return
		}
		req.TTL = ttl
	}
	pv, err := s.CreatePreview(r.Context(), PrincipalFrom(r.Context()), req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, view(pv))
}

func (s *Server) listPreviews(w http.ResponseWriter, r *http.Request) {
	list, err := s.VisiblePreviews(r.Context(), PrincipalFrom(r.Context()))
	if err != nil {
		writeError(w, err)
		return
	}
	views := make([]View, 0, len(list))
	for _, pv := range list {
		views = append(views, view(pv))
	}
	writeJSON(w, http.StatusOK, views)
}

func (s *Server) previewEvents(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := s.MayReadEvents(r.Context(), PrincipalFrom(r.Context()), name); err != nil {
		writeError(w, err)
		return
	}
	after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	follow := r.URL.Query().Get("follow") != ""
	// Subscribe first, then read what is stored: nothing falls between.
	var live <-chan tandem.Event
	if follow {
		ch, cancel := s.Previews.Subscribe(name)
		defer cancel()
		live = ch
	}
	past, err := s.Previews.Events(r.Context(), name, after)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	enc := json.NewEncoder(w)
	for _, e := range past {
		enc.Encode(e)
		after = e.ID
	}
	if live == nil {
		return
	}
	flush(w)
	for {
		select {
		case e, ok := <-live:
			if !ok {
				return
			}
			if e.ID != 0 && e.ID <= after {
				continue
			}
			enc.Encode(e)
			flush(w)
		case <-r.Context().Done():
			return
		}
	}
}

func (s *Server) previewLogs(w http.ResponseWriter, r *http.Request) {
	name, service := r.PathValue("name"), r.PathValue("service")
	if _, ok := s.preview(w, r, tandem.RoleViewer, "view preview "+name); !ok {
		return
	}
	n, err := strconv.Atoi(r.URL.Query().Get("tail"))
	if err != nil || n <= 0 {
		n = 100
	}
	var lines <-chan supervisor.Line
	if r.URL.Query().Get("follow") != "" {
		ch, cancel, err := s.Previews.Follow(name, service)
		if err != nil {
			writeError(w, err)
			return
		}
		defer cancel()
		lines = ch
	}
	tail, err := s.Previews.Logs(r.Context(), name, service, n)
	if err != nil {
		writeError(w, err)
		return
	}
	streamLines(w, r, tail, lines)
}

// decodeBody reads a JSON request body of at most 64 KiB into v, refusing
// unknown fields; it answers the request if it cannot. The body must say it
// is JSON: a form of another site can send text, never that, without the
// browser asking first (a session cookie must not make a request forgeable).
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeError(w, tandem.Errorf(tandem.EINVALID, "the request body must be JSON, sent with Content-Type: application/json"))
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, tandem.Errorf(tandem.EINVALID, "request body: %v", err))
		return false
	}
	return true
}

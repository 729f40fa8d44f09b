package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
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
}

// PreviewHandler serves the preview API (see docs/api.md):
//
//	POST   /v1/previews                          create, or update to a new commit
//	GET    /v1/previews                          list
//	GET    /v1/previews/{name}                   one
//	DELETE /v1/previews/{name}                   destroy
//	GET    /v1/previews/{name}/events?after=N&follow=1   JSON lines
//	GET    /v1/previews/{name}/logs/{service}?tail=N&follow=1
func PreviewHandler(p Previews) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("POST /v1/previews", func(w http.ResponseWriter, r *http.Request) {
		var body CreateBody
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			writeError(w, tandem.Errorf(tandem.EINVALID, "request body: %v", err))
			return
		}
		req := preview.CreateRequest{Name: body.Name, Repo: body.Repo, Ref: body.Ref, PR: body.PR}
		if body.TTL != "" {
			ttl, err := time.ParseDuration(body.TTL)
			if err != nil {
				writeError(w, tandem.Errorf(tandem.EINVALID, "ttl %q is not a duration (like 72h or 30m)", body.TTL))
				return
			}
			req.TTL = ttl
		}
		pv, err := p.Create(r.Context(), req)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusAccepted, view(pv))
	})
	mux.HandleFunc("GET /v1/previews", func(w http.ResponseWriter, r *http.Request) {
		list, err := p.List(r.Context())
		if err != nil {
			writeError(w, err)
			return
		}
		views := make([]View, 0, len(list))
		for _, pv := range list {
			views = append(views, view(pv))
		}
		writeJSON(w, http.StatusOK, views)
	})
	mux.HandleFunc("GET /v1/previews/{name}", func(w http.ResponseWriter, r *http.Request) {
		pv, err := p.Get(r.Context(), r.PathValue("name"))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, view(pv))
	})
	mux.HandleFunc("DELETE /v1/previews/{name}", func(w http.ResponseWriter, r *http.Request) {
		if err := p.Destroy(r.Context(), r.PathValue("name")); err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"destroyed": r.PathValue("name")})
	})
	mux.HandleFunc("GET /v1/previews/{name}/events", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
		follow := r.URL.Query().Get("follow") != ""
		// Subscribe first, then read what is stored: nothing falls between.
		var live <-chan tandem.Event
		if follow {
			ch, cancel := p.Subscribe(name)
			defer cancel()
			live = ch
		}
		past, err := p.Events(r.Context(), name, after)
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
	})
	mux.HandleFunc("GET /v1/previews/{name}/logs/{service}", func(w http.ResponseWriter, r *http.Request) {
		name, service := r.PathValue("name"), r.PathValue("service")
		n, err := strconv.Atoi(r.URL.Query().Get("tail"))
		if err != nil || n <= 0 {
			n = 100
		}
		var lines <-chan supervisor.Line
		if r.URL.Query().Get("follow") != "" {
			ch, cancel, err := p.Follow(name, service)
			if err != nil {
				writeError(w, err)
				return
			}
			defer cancel()
			lines = ch
		}
		tail, err := p.Logs(r.Context(), name, service, n)
		if err != nil {
			writeError(w, err)
			return
		}
		streamLines(w, r, tail, lines)
	})
	return mux
}

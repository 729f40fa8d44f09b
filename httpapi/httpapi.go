// Package httpapi is tandem's control API: JSON over HTTP, on a unix socket
// in the data directory under `tandem up`. The CLI's ps, logs, stop, start
// and restart are its clients. See docs/api.md.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/supervisor"
)

// Instance is what the API controls: one running stack instance.
type Instance interface {
	Status() []supervisor.Status
	Start(ctx context.Context, service string) error
	Stop(ctx context.Context, service string) error
	Restart(ctx context.Context, service string) error
	Logs(service string, n int) ([]string, error)
	Follow(service string) (<-chan supervisor.Line, func())
}

var _ Instance = (*supervisor.Supervisor)(nil)

// Handler serves the API for inst.
//
//	GET  /v1/services                       every service's status
//	POST /v1/services/{name}/{start|stop|restart}
//	GET  /v1/services/{name}/logs?tail=N&follow=1   text, one line each
func Handler(inst Instance) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/services", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, inst.Status())
	})
	actions := map[string]func(context.Context, string) error{
		"start": inst.Start, "stop": inst.Stop, "restart": inst.Restart,
	}
	mux.HandleFunc("POST /v1/services/{name}/{action}", func(w http.ResponseWriter, r *http.Request) {
		do, ok := actions[r.PathValue("action")]
		if !ok {
			writeError(w, tandem.Errorf(tandem.ENOTFOUND, "no action %q: use start, stop or restart", r.PathValue("action")))
			return
		}
		if err := do(r.Context(), r.PathValue("name")); err != nil {
			writeError(w, err)
			return
		}
		for _, st := range inst.Status() {
			if st.Service == r.PathValue("name") {
				writeJSON(w, http.StatusOK, st)
				return
			}
		}
	})
	mux.HandleFunc("GET /v1/services/{name}/logs", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		n, err := strconv.Atoi(r.URL.Query().Get("tail"))
		if err != nil || n <= 0 {
			n = 100
		}
		// Subscribe before reading the tail, so no line falls between.
		var lines <-chan supervisor.Line
		if r.URL.Query().Get("follow") != "" {
			ch, cancel := inst.Follow(name)
			defer cancel()
			lines = ch
		}
		tail, err := inst.Logs(name, n)
		if err != nil {
			writeError(w, err)
			return
		}
		streamLines(w, r, tail, lines)
	})
	return mux
}

// streamLines writes tail, then, if lines is not nil, each new line as it
// comes, until lines closes or the client goes.
func streamLines(w http.ResponseWriter, r *http.Request, tail []string, lines <-chan supervisor.Line) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	for _, l := range tail {
		fmt.Fprintln(w, l)
	}
	if lines == nil {
		return
	}
	flush(w)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return
			}
			fmt.Fprintln(w, l.Text)
			flush(w)
		case <-r.Context().Done():
			return
		}
	}
}

func flush(w http.ResponseWriter) {
	http.NewResponseController(w).Flush()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// errorBody is every error response: a code for programs, a message for people.
type errorBody struct {
	Code  string `json:"code"`
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, err error) {
	code := tandem.ErrorCode(err)
	writeJSON(w, tandem.HTTPStatus(code), errorBody{Code: code, Error: err.Error()})
}

// decodeError turns an error response back into a *tandem.Error.
func decodeError(resp *http.Response) error {
	var body errorBody
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Error == "" {
		return fmt.Errorf("control API: %s", resp.Status)
	}
	return &tandem.Error{Code: body.Code, Message: body.Error}
}

// errNotRunning says there is nothing to talk to.
var errNotRunning = errors.New("no tandem up is running for this stack")

// timeout bounds calls that should answer at once.
const timeout = 30 * time.Second

package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/tandem-dev/tandem"
)

// Server is tandem serve's API: previews, and who may use them (see
// docs/api.md and docs/access.md).
type Server struct {
	Previews Previews
	Access   tandem.AccessStore
	// Repos are the registered repositories: tokens and grants name one of
	// them, or tandem.AllRepos.
	Repos []string
	// Authenticators find a request's principal when it carries no API
	// token: the dashboard's session cookie (package access).
	Authenticators []Authenticator
	// Shares makes, lists and revokes share links (package access; see
	// shares.go). nil: the server makes none.
	Shares Shares
	// Reviews runs previews' reviews (package review; see review.go).
	// nil: the server runs none.
	Reviews Reviews
	// VerificationURL is where `tandem login` sends people to approve a
	// login: the auth host's tandem.DeviceVerificationPath.
	VerificationURL string
	// LoginInterval is how long `tandem login` waits between polls; 0: 5s.
	LoginInterval time.Duration
	Logger        *slog.Logger // the API's requests, by principal; nil: none
	Now           func() time.Time
}

// TCPHandler serves the API to callers who say who they are: an API token,
// or what one of Authenticators knows. Health and the first steps of
// `tandem login` need no credentials.
func (s *Server) TCPHandler() http.Handler {
	api := s.routes()
	authns := append([]Authenticator{BearerToken(s.Access, s.now)}, s.Authenticators...)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", health)
	mux.HandleFunc("POST /v1/login/device", s.startLogin)
	mux.HandleFunc("POST /v1/login/token", s.finishLogin)
	mux.Handle("/", authenticate(authns, api))
	return s.logged(mux)
}

// SocketHandler serves the API on DATA/api.sock: every caller is root, as
// only root can connect.
func (s *Server) SocketHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", health)
	mux.Handle("/", asRoot(s.routes()))
	return s.logged(mux)
}

// routes are the endpoints that act for a principal.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	s.previewRoutes(mux)
	s.accessRoutes(mux)
	s.shareRoutes(mux)
	s.reviewRoutes(mux)
	return mux
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// knownRepo checks that repo is registered, or AllRepos.
func (s *Server) knownRepo(repo string) error {
	if repo == tandem.AllRepos || s.Repos == nil || slices.Contains(s.Repos, repo) {
		return nil
	}
	return tandem.Errorf(tandem.ENOTFOUND, "no repository %q (registered: %v, or %q for all)", repo, s.Repos, tandem.AllRepos)
}

// logged logs each request once it is answered: method, path (never a
// query or a body, where a secret could be), status and principal.
func (s *Server) logged(next http.Handler) http.Handler {
	if s.Logger == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		info := &requestInfo{}
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info)))
		s.Logger.Info("api", "method", r.Method, "path", r.URL.Path, "status", rec.status, "principal", info.principal.String())
	})
}

// requestInfo is what a request's log line learns from the handlers.
type requestInfo struct{ principal *tandem.Principal }

type requestInfoKey struct{}

// withPrincipal is r with p as its principal, for the handlers and the log.
func withPrincipal(r *http.Request, p *tandem.Principal) *http.Request {
	if info, ok := r.Context().Value(requestInfoKey{}).(*requestInfo); ok {
		info.principal = p
	}
	return r.WithContext(WithPrincipal(r.Context(), p))
}

// statusRecorder keeps the status a handler wrote; Unwrap keeps Flush.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func health(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) }

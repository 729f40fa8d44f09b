// Package dashboard is tandem serve's web dashboard: server-rendered pages
// where people find previews, follow them, review them, read the audit log
// and, as admins, manage who may do what.
//
// It acts through the functions the API uses (httpapi.Server's decisions
// of who may see and do what, the preview manager, the audit log), never
// through HTTP to itself, and sits behind the sign-in (access.Server.Site),
// on a host of its own. Pages are html/template; every page reads without
// JavaScript, and a small script of the dashboard's own makes lists, logs
// and timelines live (server-sent events) and shows times in the viewer's
// time zone. No page shows a secret: a token's secret and a share link's
// URL are shown once, in the answer to the form that made them, and a
// preview's generated secrets never. See docs/dashboard.md.
package dashboard

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/access"
	"github.com/tandem-dev/tandem/audit"
	"github.com/tandem-dev/tandem/httpapi"
	"github.com/tandem-dev/tandem/preview"
	"github.com/tandem-dev/tandem/supervisor"
)

// Previews is what the dashboard reads of previews: tandem serve's manager.
// What it changes goes through httpapi.Server, which decides who may.
type Previews interface {
	Get(ctx context.Context, name string) (*tandem.Preview, error)
	List(ctx context.Context) ([]*tandem.Preview, error)
	Logs(ctx context.Context, name, service string, n int) ([]string, error)
	Follow(name, service string) (<-chan supervisor.Line, func(), error)
	Events(ctx context.Context, name string, after int64) ([]tandem.Event, error)
	Subscribe(name string) (<-chan tandem.Event, func())
	// Instance is the instance serving a preview, or nil.
	Instance(name string) *preview.Instance
}

var _ Previews = (*preview.Manager)(nil)

// Auth is the sign-in the dashboard sits behind: package access.
type Auth interface {
	// CSRF returns the browser's anti-forgery token, which every form
	// carries; CheckCSRF checks a form posted with it.
	CSRF(w http.ResponseWriter, r *http.Request) string
	CheckCSRF(r *http.Request) bool
	// ReauthURL is where a person proves again who they are (before a
	// signature), to come back to returnURL.
	ReauthURL(returnURL string) string
}

var _ Auth = (*access.Server)(nil)

// Repo is a registered repository, as settings show it.
type Repo struct {
	Name          string
	URL           string // where its code comes from; shown to admins only
	Compose       string
	DefaultBranch string
	Access        tandem.PreviewAccess // "" is private
}

// Config configures a Server.
type Config struct {
	// URL is the dashboard's origin as browsers reach it:
	// "https://tandem.previews.example.com".
	URL string
	// AuthURL is the sign-in host's origin: forms that re-authenticate or
	// sign out lead there.
	AuthURL string

	API      *httpapi.Server // who may see and do what, and the actions
	Previews Previews
	Auth     Auth
	Audit    *audit.Log        // nil: no audit page
	Evidence audit.EvidenceDir // where evidence files are kept
	Repos    []Repo
	Logger   *slog.Logger
	Now      func() time.Time

	// Principal returns who the sign-in let in: access.PrincipalFrom of
	// the request's context when nil.
	Principal func(*http.Request) *tandem.Principal

	// StreamLimit ends each live stream after this long, so that a
	// browser's session is checked again when it reconnects (default 10m).
	StreamLimit time.Duration
}

// Server is the dashboard.
type Server struct {
	cfg     Config
	log     *slog.Logger
	mux     *http.ServeMux
	pending pendings // signatures waiting for their signers' re-authentication (sign.go)
}

// New returns the dashboard cfg describes.
func New(cfg Config) (*Server, error) {
	if cfg.API == nil || cfg.Previews == nil || cfg.Auth == nil || cfg.URL == "" {
		return nil, tandem.Errorf(tandem.EINVALID, "dashboard: the API's decisions, previews, the sign-in and a URL are needed")
	}
	cfg.URL = strings.TrimSuffix(cfg.URL, "/")
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Principal == nil {
		cfg.Principal = func(r *http.Request) *tandem.Principal { return access.PrincipalFrom(r.Context()) }
	}
	if cfg.StreamLimit <= 0 {
		cfg.StreamLimit = 10 * time.Minute
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	s.mux = s.routes()
	return s, nil
}

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /static/", staticHandler())
	mux.HandleFunc("GET /{$}", s.previewsPage)
	mux.HandleFunc("GET /live/previews", s.livePreviews)
	mux.HandleFunc("GET /previews/{name}", s.previewPage)
	mux.HandleFunc("GET /previews/{name}/live", s.livePreview)
	mux.HandleFunc("GET /previews/{name}/logs/{service}", s.logsPage)
	mux.HandleFunc("GET /previews/{name}/logs/{service}/live", s.liveLogs)
	mux.HandleFunc("GET /previews/{name}/logs/{service}/download", s.downloadLogs)
	mux.HandleFunc("GET /previews/{name}/{action}", s.confirmPage)
	mux.Handle("POST /previews/{name}/redeploy", s.form(s.redeploy))
	mux.Handle("POST /previews/{name}/destroy", s.form(s.destroy))
	mux.Handle("POST /previews/{name}/shares", s.form(s.createShare))
	mux.Handle("POST /previews/{name}/shares/{id}/revoke", s.form(s.revokeShare))
	s.reviewRoutes(mux)
	mux.HandleFunc("GET /audit", s.auditPage)
	mux.HandleFunc("GET /audit/export", s.auditExport)
	mux.HandleFunc("GET /settings", s.settingsPage)
	mux.Handle("POST /settings/grants", s.form(s.addGrant))
	mux.Handle("POST /settings/grants/{id}/remove", s.form(s.removeGrant))
	mux.Handle("POST /settings/tokens", s.form(s.createToken))
	mux.Handle("POST /settings/tokens/{id}/revoke", s.form(s.revokeToken))
	return mux
}

// ServeHTTP answers a request the sign-in let through.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// Scripts, styles and images are the dashboard's own; forms post to it,
	// or to the sign-in host (signing out, re-authenticating).
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "+
		"form-action 'self' "+s.cfg.AuthURL+"; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	if !strings.HasPrefix(r.URL.Path, "/static/") {
		h.Set("Cache-Control", "no-store")
		if s.who(r) == nil {
			http.Error(w, "not signed in", http.StatusUnauthorized)
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

// who is the person the request is from.
func (s *Server) who(r *http.Request) *tandem.Principal { return s.cfg.Principal(r) }

// form is a handler of a posted form: its anti-forgery token is checked
// first, and a form that fails it changes nothing.
func (s *Server) form(h func(http.ResponseWriter, *http.Request, *tandem.Principal)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if !s.cfg.Auth.CheckCSRF(r) {
			s.fail(w, r, tandem.Errorf(tandem.EFORBIDDEN, "this form was not sent from a page of the dashboard, or is too old: go back, reload the page and try again"))
			return
		}
		h(w, r, s.who(r))
	})
}

// canAdmin reports whether p administers any repository: who sees settings.
func canAdmin(p *tandem.Principal, repos []Repo) bool {
	if p.Can(tandem.AllRepos, tandem.RoleAdmin) {
		return true
	}
	for _, r := range repos {
		if p.Can(r.Name, tandem.RoleAdmin) {
			return true
		}
	}
	return false
}

// ctx bounds what one page asks of the stores.
func ctx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 30*time.Second)
}

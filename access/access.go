// Package access decides who may open a private preview in a browser, and
// serves the pages where people prove who they are.
//
// A gate (a gateway.Gate) stands in front of each private preview: it lets
// in a browser with a session for that preview's host, and automation that
// sends an API token in X-Tandem-Bypass; it sends any other browser to the
// sign-in host and answers anything else 401. The sign-in host
// (auth.DOMAIN) signs people in with single sign-on (OpenID Connect) or an
// emailed one-time code or an authenticator app (TOTP), opens share links,
// approves `tandem login`, and relays OAuth callbacks to previews. A
// session on the sign-in host becomes a session on a preview's host through
// a one-time ticket, as oauth2-proxy does: sessions never span hosts, and
// tandem's cookie never reaches the application. See docs/access.md.
package access

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tandem-dev/tandem"
)

// Mailer sends a plain-text mail (package mail).
type Mailer interface {
	Send(ctx context.Context, to, subject, text string) error
}

// Previews finds a preview by name: tandem.PreviewStore does.
type Previews interface {
	Preview(ctx context.Context, name string) (*tandem.Preview, error)
}

// Config configures a Server.
type Config struct {
	Store    tandem.AccessStore
	Previews Previews

	// Domain is where previews answer (NAME.Domain). AuthHost is the
	// sign-in host, auth.Domain when empty. Scheme ("http" or "https")
	// and Port ("" for the scheme's own) are how browsers reach both.
	Domain   string
	AuthHost string
	Scheme   string
	Port     string

	OIDC   *OIDCConfig     // nil: no single sign-on
	Mail   Mailer          // nil: no emailed codes (share links need them, unless TOTP)
	OAuth  []OAuthRelay    // providers whose callbacks are relayed to previews
	Audit  tandem.AuditLog // nil: none
	Logger *slog.Logger    // nil: none

	// Extra serves what else tandem answers under /__tandem/ on a
	// preview's host, to those the gate lets in (PrincipalFrom says who).
	Extra http.Handler

	SessionTTL time.Duration // default 12h
	CodeTTL    time.Duration // how long an emailed code lives; default 10m
	// MaxTries is how many wrong codes a one-time code or a share link
	// takes before it is gone, or locked. Default 5.
	MaxTries int

	Now func() time.Time
}

// Defaults of Config.
const (
	DefaultSessionTTL = 12 * time.Hour
	DefaultCodeTTL    = 10 * time.Minute
	DefaultMaxTries   = 5
)

// Server is the gates of a preview server's private previews and its
// sign-in host.
type Server struct {
	cfg    Config
	store  tandem.AccessStore
	log    *slog.Logger
	now    func() time.Time
	cookie string // tandem's session cookie's name

	sessions sessionCache
	tickets  tickets
	flows    flows   // OpenID Connect sign-ins in progress
	relays   relays  // OAuth flows of applications in progress
	pending  pending // TOTP enrollments in progress
	limits   limiter
	visits   visits
	oidc     oidcClient
	sites    siteSet // hosts of tandem's own behind the sign-in (site.go)
}

// New returns the Server cfg describes.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Previews == nil || cfg.Domain == "" {
		return nil, tandem.Errorf(tandem.EINVALID, "access: a store, previews and a domain are needed")
	}
	cfg.Domain = strings.ToLower(cfg.Domain)
	if cfg.AuthHost == "" {
		cfg.AuthHost = "auth." + cfg.Domain
	}
	cfg.AuthHost = strings.ToLower(cfg.AuthHost)
	if cfg.Scheme == "" {
		cfg.Scheme = "https"
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.CodeTTL <= 0 {
		cfg.CodeTTL = DefaultCodeTTL
	}
	if cfg.MaxTries <= 0 {
		cfg.MaxTries = DefaultMaxTries
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.OAuth = slices.Clone(cfg.OAuth)
	for i := range cfg.OAuth {
		if err := cfg.OAuth[i].Check(); err != nil {
			return nil, err
		}
	}
	if cfg.OIDC != nil {
		o := *cfg.OIDC
		cfg.OIDC = &o
		if err := cfg.OIDC.check(); err != nil {
			return nil, err
		}
	}
	s := &Server{cfg: cfg, store: cfg.Store, log: cfg.Logger, now: cfg.Now, cookie: CookieName(cfg.Scheme == "https")}
	s.oidc.cfg = cfg.OIDC
	s.visits.seen = map[string]bool{}
	return s, nil
}

// CookieName is tandem's session cookie: "__Host-tandem_session" over TLS,
// where the prefix makes the browser refuse one set by anyone but the host
// itself, for that host only, on every path; "tandem_session" over plain
// HTTP (local use, tests), where browsers refuse the prefix.
func CookieName(tls bool) string {
	if tls {
		return "__Host-tandem_session"
	}
	return "tandem_session"
}

// secure reports whether browsers reach tandem over TLS.
func (s *Server) secure() bool { return s.cfg.Scheme == "https" }

// hostPort is host as browsers write it, with the public port.
func (s *Server) hostPort(host string) string {
	if s.cfg.Port == "" {
		return host
	}
	return host + ":" + s.cfg.Port
}

// authURL is an address on the sign-in host.
func (s *Server) authURL(pathQuery string) string {
	return s.cfg.Scheme + "://" + s.hostPort(s.cfg.AuthHost) + pathQuery
}

// previewHost is where the preview called name answers, without a port.
func (s *Server) previewHost(name string) string { return name + "." + s.cfg.Domain }

// previewURL is an address on a preview's host.
func (s *Server) previewURL(name, pathQuery string) string {
	return s.cfg.Scheme + "://" + s.hostPort(s.previewHost(name)) + pathQuery
}

// AuthHost is the sign-in host's name.
func (s *Server) AuthHost() string { return s.cfg.AuthHost }

// ctx bounds what one request asks of the store.
func (s *Server) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 10*time.Second)
}

// limiter counts attempts per key in a sliding window: codes sent to an
// address, codes tried from an address, sign-ins from one client.
type limiter struct {
	mu   sync.Mutex
	hits map[string][]time.Time
}

// allow records an attempt for key and reports whether it is within n per
// window.
func (l *limiter) allow(key string, n int, window time.Duration, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.hits == nil {
		l.hits = map[string][]time.Time{}
	}
	if len(l.hits) > 100_000 { // bound the memory a flood of keys takes
		for k, ts := range l.hits {
			if len(ts) == 0 || now.Sub(ts[len(ts)-1]) > time.Hour {
				delete(l.hits, k)
			}
		}
	}
	recent := l.hits[key][:0]
	for _, t := range l.hits[key] {
		if now.Sub(t) < window {
			recent = append(recent, t)
		}
	}
	if len(recent) >= n {
		l.hits[key] = recent
		return false
	}
	l.hits[key] = append(recent, now)
	return true
}

// errf is a tandem.Error with a message fit for a person.
func errf(code, format string, args ...any) error {
	return tandem.Errorf(code, format, args...)
}

// plural is "n things".
func plural(n int, thing string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", thing)
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

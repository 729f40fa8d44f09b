package access

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/gateway"
)

// BypassHeader carries an API token with which automation (end-to-end
// tests in CI) opens a private preview without a browser session, as
// Vercel's x-vercel-protection-bypass does. The gateway removes it, as
// every X-Tandem-* header, before the application sees the request.
const BypassHeader = "X-Tandem-Bypass"

// tandemPrefix is where, on a private preview's host, tandem answers
// itself: the application never sees these paths.
const tandemPrefix = "/__tandem/"

// sessionPath is where a preview's host turns a ticket into a session.
const sessionPath = tandemPrefix + "session"

// Preview is the instance of a private preview a gate stands in front of.
type Preview struct {
	Name       string
	Repo       string
	Generation int
}

type principalKey struct{}

// PrincipalFrom returns who the gate let in, in the context of a request
// to Config.Extra.
func PrincipalFrom(ctx context.Context) *tandem.Principal {
	p, _ := ctx.Value(principalKey{}).(*tandem.Principal)
	return p
}

// Gate returns the gate of a private preview's instance: see the package
// comment.
func (s *Server) Gate(p Preview) gateway.Gate {
	host := s.previewHost(p.Name)
	return func(r *gateway.GateRequest) gateway.GateDecision {
		if r.Path == sessionPath {
			return gateway.GateDecision{Handler: s.exchange(host, s.previewURL(p.Name, "/"))}
		}
		pr, deny := s.admit(p, host, r)
		if deny != nil {
			return gateway.GateDecision{Handler: deny}
		}
		if strings.HasPrefix(r.Path, tandemPrefix) {
			return gateway.GateDecision{Handler: s.previewPages(p, pr)}
		}
		s.visit(p, pr)
		return gateway.GateDecision{Principal: pr.String(), Generation: p.Generation, Cookie: s.cookie}
	}
}

// admit returns who r comes from if they may open p, or the answer that
// refuses them.
func (s *Server) admit(p Preview, host string, r *gateway.GateRequest) (*tandem.Principal, http.Handler) {
	ctx, cancel := s.ctx()
	defer cancel()
	if token := r.Header(BypassHeader); token != "" {
		pr, err := tandem.TokenPrincipal(ctx, s.store, strings.TrimSpace(token), s.now())
		switch {
		case err != nil && tandem.ErrorCode(err) == tandem.EUNAUTHORIZED:
			return nil, jsonError(http.StatusUnauthorized, BypassHeader+": "+err.Error())
		case err != nil:
			s.log.Error("access: bypass token", "preview", p.Name, "err", err)
			return nil, jsonError(http.StatusServiceUnavailable, "tandem cannot check the token now")
		case !pr.CanView(p.Repo, p.Name):
			return nil, jsonError(http.StatusForbidden, pr.String()+" may not open previews of "+p.Repo)
		}
		return pr, nil
	}
	if secret, ok := r.Cookie(s.cookie); ok && secret != "" {
		pr, _, err := s.sessionPrincipal(ctx, host, secret)
		switch {
		case err != nil:
			s.log.Error("access: session", "preview", p.Name, "err", err)
			return nil, jsonError(http.StatusServiceUnavailable, "tandem cannot check the session now")
		case pr != nil && pr.CanView(p.Repo, p.Name):
			return pr, nil
		case pr != nil:
			return nil, s.forbidden(p, pr, wantsPage(r), s.previewURL(p.Name, pathQuery(r)))
		}
	}
	if !wantsPage(r) {
		return nil, jsonError(http.StatusUnauthorized, "this preview is private: sign in at "+s.authURL("/signin")+
			" in a browser, or send an API token in the "+BypassHeader+" header")
	}
	to := s.authURL("/signin?rd=" + url.QueryEscape(s.previewURL(p.Name, pathQuery(r))))
	return nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		noStore(w)
		http.Redirect(w, r, to, http.StatusFound)
	})
}

// wantsPage: a browser navigating (GET or HEAD, HTML accepted) is sent to
// sign in; an API client or a script's fetch gets a 401 it can read.
func wantsPage(r *gateway.GateRequest) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) && strings.Contains(r.Header("Accept"), "text/html")
}

func pathQuery(r *gateway.GateRequest) string {
	if r.Query == "" {
		return r.Path
	}
	return r.Path + "?" + r.Query
}

// forbidden answers someone signed in who may not open p.
func (s *Server) forbidden(p Preview, pr *tandem.Principal, page bool, back string) http.Handler {
	msg := pr.String() + " may not open previews of " + p.Repo
	if !page {
		return jsonError(http.StatusForbidden, msg)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.render(w, http.StatusForbidden, "message", view{
			Title: "No access to " + p.Name, Message: msg + ". Ask an admin of tandem for a role in " + p.Repo + ", or sign in as someone else.",
			Link: s.authURL("/signin?switch=1&rd=" + url.QueryEscape(back)), LinkText: "Sign in as someone else",
		})
	})
}

// jsonError is the gateway's JSON error envelope.
func jsonError(status int, msg string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		noStore(w)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]any{"status": "error", "data": nil, "error": msg})
	})
}

// exchange turns a ticket from the sign-in host into a session on host (a
// preview's, or a site's), in place of any the browser had there, then
// sends the browser where it was going. home is where to sign in again for.
func (s *Server) exchange(host, home string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		who, ok := s.tickets.redeem(host, q.Get("ticket"), s.now())
		if !ok {
			s.render(w, http.StatusBadRequest, "message", view{Title: "Sign-in link expired",
				Message: "This sign-in link was used already, or is older than a minute.",
				Link:    s.authURL("/signin?rd=" + url.QueryEscape(home)), LinkText: "Sign in again"})
			return
		}
		ctx, cancel := s.ctx()
		defer cancel()
		if old, err := r.Cookie(s.cookie); err == nil && old.Value != "" {
			// A new sign-in (a re-authentication) replaces the session.
			if err := s.endSession(ctx, host, old.Value); err != nil {
				s.log.Error("access: end the replaced session", "host", host, "err", err)
			}
		}
		c, err := s.openSession(ctx, host, who)
		if err != nil {
			s.log.Error("access: open a session", "host", host, "err", err)
			s.render(w, http.StatusServiceUnavailable, "message", view{Title: "Try again", Message: "tandem could not open a session now."})
			return
		}
		http.SetCookie(w, c)
		noStore(w)
		w.Header().Set("Referrer-Policy", "no-referrer")
		http.Redirect(w, r, localPath(q.Get("rd")), http.StatusSeeOther)
	})
}

// localPath is rd if it is a path on the same host, else "/".
func localPath(rd string) string {
	u, err := url.Parse(rd)
	if err != nil || rd == "" || rd[0] != '/' || strings.HasPrefix(rd, "//") || strings.HasPrefix(rd, `/\`) ||
		u.Scheme != "" || u.Host != "" || strings.ContainsAny(rd, "\r\n\t\x00") {
		return "/"
	}
	return rd
}

// previewPages are what tandem answers under /__tandem/ on a preview's
// host, for someone the gate let in.
func (s *Server) previewPages(p Preview, pr *tandem.Principal) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /__tandem/signout", s.signoutOf(s.previewHost(p.Name), s.previewURL(p.Name, "")))
	// How and when the browser signed in, not who: the application's own
	// scripts can read this page, and must not learn who reviews them.
	mux.HandleFunc("GET /__tandem/whoami", func(w http.ResponseWriter, r *http.Request) {
		noStore(w)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"kind": pr.Kind, "method": pr.Method,
			"auth_time": pr.AuthTime, "preview": p.Name, "generation": p.Generation})
	})
	mux.HandleFunc("GET /__tandem/oauth/{provider}/authorize", func(w http.ResponseWriter, r *http.Request) {
		s.relayAuthorize(w, r, p)
	})
	if s.cfg.Extra != nil {
		mux.Handle(tandemPrefix, s.cfg.Extra)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, pr)))
	})
}

// signoutOf ends a browser's session on host, whose pages are at origin,
// then sends it to sign out of the sign-in host too.
func (s *Server) signoutOf(host, origin string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o := r.Header.Get("Origin"); o != "" && o != origin {
			http.Error(w, "cross-origin sign-out refused", http.StatusForbidden)
			return
		}
		if c, err := r.Cookie(s.cookie); err == nil {
			ctx, cancel := s.ctx()
			defer cancel()
			if err := s.endSession(ctx, host, c.Value); err != nil {
				s.log.Error("access: sign out", "host", host, "err", err)
			}
		}
		http.SetCookie(w, s.sessionCookie("", time.Time{}))
		noStore(w)
		http.Redirect(w, r, s.authURL("/signout"), http.StatusSeeOther)
	})
}

func noStore(w http.ResponseWriter) { w.Header().Set("Cache-Control", "no-store") }

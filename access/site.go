package access

import (
	"context"
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/tandem-dev/tandem"
)

// A site is a host of tandem's own behind the sign-in, such as the
// dashboard. A browser signs in on the sign-in host, as for a private
// preview, and carries the sign-in to the site's host with a one-time
// ticket: the site has sessions of its own, on its own host's cookie.

// siteSet is the sites' host names, which the sign-in host returns to.
type siteSet struct {
	mu sync.RWMutex
	m  map[string]bool
}

func (ss *siteSet) add(host string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.m == nil {
		ss.m = map[string]bool{}
	}
	ss.m[host] = true
}

func (ss *siteSet) has(host string) bool {
	ss.mu.RLock()
	defer ss.mu.RUnlock()
	return ss.m[host]
}

type siteKey struct{}

// Site returns h behind the sign-in, as the handler of host, a host of
// tandem's own: a browser with a session on host reaches h with its
// principal in the request's context (PrincipalFrom); any other browser
// navigating to a page is sent to sign in, and any other request gets 401.
// Only people sign in to a site: a share link opens its one preview. On
// host, tandem also answers
//
//	GET  /__tandem/session   a ticket from the sign-in host becomes a session
//	POST /__tandem/signout   ends the session, then the sign-in host's
//
// h's forms are checked with CSRF and CheckCSRF.
func (s *Server) Site(host string, h http.Handler) http.Handler {
	host = strings.ToLower(host)
	s.sites.add(host)
	mux := http.NewServeMux()
	mux.Handle("GET "+sessionPath, s.exchange(host, s.siteURL(host, "/")))
	mux.Handle("POST "+tandemPrefix+"signout", s.signoutOf(host, s.siteURL(host, "")))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := s.ctx()
		pr, err := s.sitePrincipal(ctx, host, r)
		cancel()
		switch {
		case err != nil:
			s.log.Error("access: session", "site", host, "err", err)
			jsonError(http.StatusServiceUnavailable, "tandem cannot check the session now").ServeHTTP(w, r)
		case pr == nil && (r.Method == http.MethodGet || r.Method == http.MethodHead) && strings.Contains(r.Header.Get("Accept"), "text/html"):
			noStore(w)
			http.Redirect(w, r, s.authURL("/signin?rd="+url.QueryEscape(s.siteURL(host, localPath(r.URL.RequestURI())))), http.StatusFound)
		case pr == nil:
			jsonError(http.StatusUnauthorized, "sign in at "+s.authURL("/signin")+" in a browser first").ServeHTTP(w, r)
		default:
			ctx := context.WithValue(context.WithValue(r.Context(), principalKey{}, pr), siteKey{}, host)
			h.ServeHTTP(w, r.WithContext(ctx))
		}
	})
	return mux
}

// sitePrincipal is the person r's session on host is for, or nil.
func (s *Server) sitePrincipal(ctx context.Context, host string, r *http.Request) (*tandem.Principal, error) {
	c, err := r.Cookie(s.cookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	pr, _, err := s.sessionPrincipal(ctx, host, c.Value)
	if err != nil || pr == nil || pr.Kind != tandem.PrincipalPerson {
		return nil, err
	}
	return pr, nil
}

// siteURL is an address on a site's host.
func (s *Server) siteURL(host, pathQuery string) string {
	return s.cfg.Scheme + "://" + s.hostPort(host) + pathQuery
}

// CSRF returns the browser's anti-forgery token on the host r was sent to
// (a site's, or the sign-in host's), setting its cookie the first time: a
// form carries it back in a field called csrf.
func (s *Server) CSRF(w http.ResponseWriter, r *http.Request) string { return s.csrf(w, r) }

// CheckCSRF reports whether a form posted to a site carries the browser's
// anti-forgery token in its csrf field and, if the browser says where it
// was sent from, was sent from the site itself.
func (s *Server) CheckCSRF(r *http.Request) bool {
	host, _ := r.Context().Value(siteKey{}).(string)
	return host != "" && s.validCSRF(r, s.siteURL(host, ""))
}

// validCSRF is the one check of a form's anti-forgery token: the form's
// csrf field is the cookie's value, and the browser's Origin, if sent, is
// origin.
func (s *Server) validCSRF(r *http.Request, origin string) bool {
	c, err := r.Cookie(s.named("csrf"))
	o := r.Header.Get("Origin")
	return err == nil && len(c.Value) > 20 && subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf"))) == 1 &&
		(o == "" || o == origin)
}

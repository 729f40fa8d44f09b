package access

import (
	"context"
	"embed"
	"html/template"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/gateway"
)

// AuthSite is the sign-in host as a gateway site: tandem answers all of
// it itself.
func (s *Server) AuthSite() *gateway.Site {
	mux := s.authMux()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; base-uri 'none'")
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		// No Referer leaves the sign-in host (a share link's secret is in
		// its query); "no-referrer" would also make the browser send
		// "Origin: null" with the host's own forms.
		w.Header().Set("Referrer-Policy", "same-origin")
		noStore(w)
		mux.ServeHTTP(w, r)
	})
	return &gateway.Site{Name: s.cfg.AuthHost, Gate: func(*gateway.GateRequest) gateway.GateDecision {
		return gateway.GateDecision{Handler: h}
	}}
}

func (s *Server) authMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.account)
	mux.HandleFunc("GET /signin", s.signinPage)
	mux.HandleFunc("POST /signin/email", s.sendSigninCode)
	mux.HandleFunc("POST /signin/code", s.checkSigninCode)
	mux.HandleFunc("POST /signin/totp", s.checkSigninTOTP)
	mux.HandleFunc("GET /oidc/start", s.oidcStart)
	mux.HandleFunc("GET /oidc/callback", s.oidcCallback)
	mux.HandleFunc("GET /signout", s.signoutPage)
	mux.HandleFunc("POST /signout", s.signout)
	mux.HandleFunc("GET /totp", s.totpPage)
	mux.HandleFunc("POST /totp", s.totpEnroll)
	mux.HandleFunc("GET /share", s.sharePage)
	mux.HandleFunc("POST /share/send", s.shareSend)
	mux.HandleFunc("POST /share/verify", s.shareVerify)
	mux.HandleFunc("GET "+tandem.DeviceVerificationPath, s.devicePage)
	mux.HandleFunc("POST "+tandem.DeviceVerificationPath, s.deviceAnswer)
	mux.HandleFunc("GET /oauth/{provider}/callback", s.relayCallback)
	return mux
}

//go:embed pages.html
var pageFiles embed.FS

var pages = template.Must(template.ParseFS(pageFiles, "pages.html"))

// view is what a page shows; each page uses some of it.
type view struct {
	Title, Message, Error, Notice string
	Link, LinkText                string // where to go next
	CSRF, RD                      string
	Reauth, Switch                bool
	OIDCName                      string // single sign-on's button, if any
	Mail                          bool   // codes can be emailed
	Email, Masked                 string
	Person                        *tandem.Person
	Roles                         map[string]tandem.Role
	Share                         *tandem.ShareLink
	ShareKey                      string // the link's secret, posted back
	TOTP                          bool   // the person enrolled an authenticator
	QR                            template.URL
	Secret, URI                   string
	Device                        *tandem.DeviceAuth
	Code                          string
}

// render writes a page.
func (s *Server) render(w http.ResponseWriter, status int, name string, v view) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	noStore(w)
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, name, v); err != nil {
		s.log.Error("access: page", "page", name, "err", err)
	}
}

// cookie names on the sign-in host besides the session's.
func (s *Server) named(name string) string {
	if s.secure() {
		return "__Host-tandem_" + name
	}
	return "tandem_" + name
}

func (s *Server) setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	c := &http.Cookie{Name: s.named(name), Value: value, Path: "/", HttpOnly: true, Secure: s.secure(), SameSite: http.SameSiteLaxMode}
	if value == "" {
		c.MaxAge = -1
	} else {
		c.MaxAge = int(maxAge / time.Second)
	}
	http.SetCookie(w, c)
}

// csrf returns the browser's anti-forgery token, set in a cookie the first
// time: forms carry it back, and a POST without it is refused.
func (s *Server) csrf(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(s.named("csrf")); err == nil && len(c.Value) > 20 {
		return c.Value
	}
	v := tandem.NewSecret("")
	s.setCookie(w, "csrf", v, 24*time.Hour)
	return v
}

// checkCSRF refuses a form posted from anywhere but the sign-in host.
func (s *Server) checkCSRF(w http.ResponseWriter, r *http.Request) bool {
	if s.validCSRF(r, s.authURL("")) {
		return true
	}
	s.render(w, http.StatusForbidden, "message", view{Title: "Form expired",
		Message: "This form was not sent from this page, or is too old. Go back, reload the page and try again.",
		Link:    s.authURL("/signin"), LinkText: "Start again"})
	return false
}

// client is the address a request comes from, for rate limits.
func client(r *http.Request) string {
	if a := gateway.ClientAddr(r); a.IsValid() {
		return a.String()
	}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().String()
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	return host
}

// current is the person signed in on the sign-in host, or nil.
func (s *Server) current(ctx context.Context, r *http.Request) (*tandem.Principal, string) {
	c, err := r.Cookie(s.cookie)
	if err != nil || c.Value == "" {
		return nil, ""
	}
	p, id, err := s.sessionPrincipal(ctx, s.cfg.AuthHost, c.Value)
	if err != nil {
		s.log.Error("access: session", "err", err)
	}
	if p == nil || p.Kind != tandem.PrincipalPerson {
		return nil, ""
	}
	return p, id
}

// Principal is the person a request to the sign-in host is signed in as
// (nil, nil for nobody): an httpapi.Authenticator for pages tandem serves
// there.
func (s *Server) Principal(r *http.Request) (*tandem.Principal, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	p, _ := s.current(ctx, r)
	return p, nil
}

// target is where a sign-in was going: a page of a preview, of a site, or
// of the sign-in host.
type target struct {
	preview   *tandem.Preview // nil for a site or the sign-in host
	site      string          // a site's host, or ""
	pathQuery string
}

// checkReturn reads a return URL: only pages of previews this server has,
// of its sites, or of the sign-in host, are returned to; anything else is
// "/".
func (s *Server) checkReturn(ctx context.Context, rd string) target {
	home := target{pathQuery: "/"}
	u, err := url.Parse(rd)
	if err != nil || u.Scheme != s.cfg.Scheme || u.User != nil || u.Opaque != "" || strings.ContainsAny(rd, "\r\n\t\x00\\") {
		return home
	}
	host, port := u.Hostname(), u.Port()
	if port != s.cfg.Port && !(port == "" && s.cfg.Port == "") {
		return home
	}
	pq := localPath(u.RequestURI())
	if strings.EqualFold(host, s.cfg.AuthHost) {
		return target{pathQuery: pq}
	}
	if site := strings.ToLower(host); s.sites.has(site) {
		return target{site: site, pathQuery: pq}
	}
	name, ok := strings.CutSuffix(strings.ToLower(host), "."+s.cfg.Domain)
	if !ok || tandem.ValidPreviewName(name) != nil {
		return home
	}
	p, err := s.cfg.Previews.Preview(ctx, name)
	if err != nil {
		return home
	}
	return target{preview: p, pathQuery: pq}
}

// continueTo sends a browser signed in as pr where rd says: a preview or
// a site (through a ticket for its host), or a page of the sign-in host.
func (s *Server) continueTo(w http.ResponseWriter, r *http.Request, pr *tandem.Principal, who who, rd string) {
	ctx, cancel := s.ctx()
	defer cancel()
	t := s.checkReturn(ctx, rd)
	if t.site != "" {
		ticket := s.tickets.issue(t.site, who, s.now())
		http.Redirect(w, r, s.siteURL(t.site, sessionPath+"?ticket="+url.QueryEscape(ticket)+"&rd="+url.QueryEscape(t.pathQuery)), http.StatusSeeOther)
		return
	}
	if t.preview == nil {
		http.Redirect(w, r, s.authURL(t.pathQuery), http.StatusSeeOther)
		return
	}
	p := Preview{Name: t.preview.Name, Repo: t.preview.Repo}
	if !pr.CanView(p.Repo, p.Name) {
		s.forbidden(p, pr, true, s.previewURL(p.Name, t.pathQuery)).ServeHTTP(w, r)
		return
	}
	ticket := s.tickets.issue(s.previewHost(p.Name), who, s.now())
	http.Redirect(w, r, s.previewURL(p.Name, sessionPath+"?ticket="+url.QueryEscape(ticket)+"&rd="+url.QueryEscape(t.pathQuery)), http.StatusSeeOther)
}

// signedIn opens a session on the sign-in host for a person who just
// proved who they are, records it, and continues to rd.
func (s *Server) signedIn(w http.ResponseWriter, r *http.Request, person *tandem.Person, method string, authTime time.Time, rd string) {
	ctx, cancel := s.ctx()
	defer cancel()
	person.LastSeen = s.now().UTC()
	if err := s.store.PutPerson(ctx, person); err != nil {
		s.fail(w, "record the sign-in", err)
		return
	}
	who := who{personID: person.ID, method: method, authTime: authTime}
	c, err := s.openSession(ctx, s.cfg.AuthHost, who)
	if err != nil {
		s.fail(w, "open a session", err)
		return
	}
	http.SetCookie(w, c)
	e := tandem.AccessEvent{Kind: "person.signed_in", Actor: person.Email, Subject: person.ID, Detail: "with " + methodName(method)}
	if t := s.checkReturn(ctx, rd); t.preview != nil {
		e.Repo, e.Preview = t.preview.Repo, t.preview.Name
	}
	s.event(e)
	grants, err := s.store.Grants(ctx)
	if err != nil {
		s.fail(w, "read the grants", err)
		return
	}
	pr := &tandem.Principal{Kind: tandem.PrincipalPerson, Person: person, Roles: tandem.ResolveRoles(grants, person), AuthTime: authTime, Method: method}
	s.continueTo(w, r, pr, who, rd)
}

func methodName(m string) string {
	switch m {
	case "oidc":
		return "single sign-on"
	case "email-code":
		return "a code sent by email"
	case "totp":
		return "an authenticator app"
	}
	return m
}

// fail answers a request tandem could not complete, and logs why.
func (s *Server) fail(w http.ResponseWriter, doing string, err error) {
	s.log.Error("access: "+doing, "err", err)
	s.render(w, http.StatusServiceUnavailable, "message", view{Title: "Something went wrong",
		Message: "tandem could not " + doing + " now. Try again in a moment.", Link: s.authURL("/signin"), LinkText: "Start again"})
}

// signinPage offers the ways to sign in. A browser signed in already goes
// on at once, unless it asked to sign in again (reauth) or as someone else.
func (s *Server) signinPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.ctx()
	defer cancel()
	q := r.URL.Query()
	rd, reauth, switching := q.Get("rd"), q.Get("reauth") == "1", q.Get("switch") == "1"
	if pr, _ := s.current(ctx, r); pr != nil && !reauth && !switching {
		s.continueTo(w, r, pr, who{personID: pr.Person.ID, method: pr.Method, authTime: pr.AuthTime}, rd)
		return
	}
	s.render(w, http.StatusOK, "signin", s.signinView(w, r, rd, reauth))
}

func (s *Server) signinView(w http.ResponseWriter, r *http.Request, rd string, reauth bool) view {
	v := view{Title: "Sign in", CSRF: s.csrf(w, r), RD: rd, Reauth: reauth, Mail: s.cfg.Mail != nil}
	if s.cfg.OIDC != nil {
		v.OIDCName = s.cfg.OIDC.Name
	}
	if reauth {
		v.Title = "Confirm it is you"
	}
	return v
}

// account shows who is signed in here.
func (s *Server) account(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.ctx()
	defer cancel()
	pr, _ := s.current(ctx, r)
	if pr == nil {
		http.Redirect(w, r, s.authURL("/signin"), http.StatusSeeOther)
		return
	}
	s.render(w, http.StatusOK, "account", view{Title: "Signed in", CSRF: s.csrf(w, r), Person: pr.Person, Roles: pr.Roles, TOTP: pr.Person.TOTP})
}

func (s *Server) signoutPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "signout", view{Title: "Sign out", CSRF: s.csrf(w, r)})
}

// signout ends the browser's session on the sign-in host (sessions it
// opened on previews' hosts end with their cookies, or their time).
func (s *Server) signout(w http.ResponseWriter, r *http.Request) {
	if !s.checkCSRF(w, r) {
		return
	}
	ctx, cancel := s.ctx()
	defer cancel()
	if pr, _ := s.current(ctx, r); pr != nil {
		s.event(tandem.AccessEvent{Kind: "person.signed_out", Actor: pr.String(), Subject: pr.Person.ID})
	}
	if c, err := r.Cookie(s.cookie); err == nil {
		if err := s.endSession(ctx, s.cfg.AuthHost, c.Value); err != nil {
			s.log.Error("access: sign out", "err", err)
		}
	}
	http.SetCookie(w, s.sessionCookie("", time.Time{}))
	s.render(w, http.StatusOK, "message", view{Title: "Signed out", Message: "You are signed out.", Link: s.authURL("/signin"), LinkText: "Sign in"})
}

package access

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/tandem-dev/tandem"
)

// OIDCConfig is single sign-on with an OpenID Provider.
type OIDCConfig struct {
	Issuer       string
	ClientID     string
	ClientSecret string   // never logged
	Name         string   // on the sign-in button: "Corp SSO"
	Scopes       []string // default openid, email, profile
	// GroupsClaim names the ID token's claim that lists the person's
	// groups, which grants by group match. Default "groups"; "-": none.
	GroupsClaim string
}

func (c *OIDCConfig) check() error {
	u, err := url.Parse(c.Issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return errf(tandem.EINVALID, "oidc: issuer %q is not an http(s) URL", c.Issuer)
	}
	if c.ClientID == "" {
		return errf(tandem.EINVALID, "oidc: no client_id")
	}
	if c.Name == "" {
		c.Name = "single sign-on"
	}
	if len(c.Scopes) == 0 {
		c.Scopes = []string{oidc.ScopeOpenID, "email", "profile"}
	}
	if c.GroupsClaim == "" {
		c.GroupsClaim = "groups"
	}
	return nil
}

// oidcClient is the provider, discovered on first use (and again after a
// failure: a provider down when tandem starts must not need a restart).
type oidcClient struct {
	cfg      *OIDCConfig
	mu       sync.Mutex
	provider *oidc.Provider
}

// flowTTL bounds a sign-in at the identity provider.
const flowTTL = 10 * time.Minute

// flow is a sign-in in progress at the identity provider.
type flow struct {
	nonce, verifier, rd string
	reauth              bool
	started             time.Time
}

type flows struct {
	mu sync.Mutex
	m  map[string]flow // by state
}

func (f *flows) put(state string, fl flow) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string]flow{}
	}
	for k, v := range f.m {
		if time.Since(v.started) > flowTTL {
			delete(f.m, k)
		}
	}
	f.m[state] = fl
}

func (f *flows) take(state string) (flow, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fl, ok := f.m[state]
	delete(f.m, state)
	return fl, ok && time.Since(fl.started) <= flowTTL
}

// oauth returns the client's OAuth 2.0 configuration and the verifier of
// its ID tokens.
func (s *Server) oauth() (*oauth2.Config, *oidc.IDTokenVerifier, error) {
	c := &s.oidc
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.provider == nil {
		// Keys are fetched later with this context: it must not end.
		ctx := oidc.ClientContext(context.Background(), &http.Client{Timeout: 30 * time.Second})
		p, err := oidc.NewProvider(ctx, c.cfg.Issuer)
		if err != nil {
			return nil, nil, errf(tandem.EUNAVAILABLE, "the identity provider at %s: %w", c.cfg.Issuer, err)
		}
		c.provider = p
	}
	conf := &oauth2.Config{
		ClientID: c.cfg.ClientID, ClientSecret: c.cfg.ClientSecret, Endpoint: c.provider.Endpoint(),
		RedirectURL: s.authURL("/oidc/callback"), Scopes: c.cfg.Scopes,
	}
	return conf, c.provider.Verifier(&oidc.Config{ClientID: c.cfg.ClientID}), nil
}

// oidcStart sends the browser to the identity provider, with PKCE, a
// state bound to this browser by a cookie, and a nonce. With reauth=1 it
// asks the provider to have the person sign in again, whatever session
// they have there (prompt=login, max_age=0).
func (s *Server) oidcStart(w http.ResponseWriter, r *http.Request) {
	if s.cfg.OIDC == nil {
		http.NotFound(w, r)
		return
	}
	conf, _, err := s.oauth()
	if err != nil {
		s.fail(w, "reach the identity provider", err)
		return
	}
	q := r.URL.Query()
	state, fl := tandem.NewSecret(""), flow{nonce: tandem.NewSecret(""), verifier: oauth2.GenerateVerifier(),
		rd: q.Get("rd"), reauth: q.Get("reauth") == "1", started: s.now()}
	s.flows.put(state, fl)
	s.setCookie(w, "oidc", state, flowTTL)
	opts := []oauth2.AuthCodeOption{oidc.Nonce(fl.nonce), oauth2.S256ChallengeOption(fl.verifier)}
	if fl.reauth {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "login"), oauth2.SetAuthURLParam("max_age", "0"))
	}
	http.Redirect(w, r, conf.AuthCodeURL(state, opts...), http.StatusFound)
}

// idClaims are what tandem reads of an ID token.
type idClaims struct {
	Email         string `json:"email"`
	EmailVerified *bool  `json:"email_verified"`
	Name          string `json:"name"`
	AuthTime      int64  `json:"auth_time"`
}

// oidcCallback completes a sign-in at the identity provider.
func (s *Server) oidcCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := q.Get("state")
	c, err := r.Cookie(s.named("oidc"))
	s.setCookie(w, "oidc", "", 0)
	fl, ok := s.flows.take(state)
	if err != nil || state == "" || c.Value != state || !ok {
		s.render(w, http.StatusBadRequest, "message", view{Title: "Sign-in expired",
			Message: "This sign-in was started in another browser, or took longer than ten minutes.",
			Link:    s.authURL("/signin"), LinkText: "Start again"})
		return
	}
	if e := q.Get("error"); e != "" {
		s.render(w, http.StatusForbidden, "message", view{Title: "Not signed in",
			Message: "The identity provider said: " + e + " " + q.Get("error_description"),
			Link:    s.authURL("/signin?rd=" + url.QueryEscape(fl.rd)), LinkText: "Try again"})
		return
	}
	person, authTime, err := s.oidcPerson(r.Context(), q.Get("code"), fl)
	if err != nil {
		if tandem.ErrorCode(err) == tandem.EUNAVAILABLE || tandem.ErrorCode(err) == tandem.EINTERNAL {
			s.fail(w, "complete the sign-in", err)
			return
		}
		s.render(w, http.StatusForbidden, "message", view{Title: "Not signed in", Message: err.Error(),
			Link: s.authURL("/signin?rd=" + url.QueryEscape(fl.rd)), LinkText: "Try again"})
		return
	}
	s.signedIn(w, r, person, "oidc", authTime, fl.rd)
}

// oidcPerson redeems the code and returns the person its ID token names,
// created or updated, and when they signed in.
func (s *Server) oidcPerson(ctx context.Context, code string, fl flow) (*tandem.Person, time.Time, error) {
	conf, verifier, err := s.oauth()
	if err != nil {
		return nil, time.Time{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(fl.verifier))
	if err != nil {
		return nil, time.Time{}, errf(tandem.EUNAUTHORIZED, "the identity provider refused the sign-in: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	id, err := verifier.Verify(ctx, raw)
	if err != nil {
		return nil, time.Time{}, errf(tandem.EUNAUTHORIZED, "the identity provider's ID token is not valid: %v", err)
	}
	if id.Nonce != fl.nonce {
		return nil, time.Time{}, errf(tandem.EUNAUTHORIZED, "the ID token is not this sign-in's (nonce)")
	}
	var cl idClaims
	var all map[string]any
	if err := id.Claims(&cl); err != nil || id.Claims(&all) != nil {
		return nil, time.Time{}, errf(tandem.EUNAUTHORIZED, "the ID token's claims: %v", err)
	}
	authTime := s.now()
	if cl.AuthTime > 0 {
		authTime = time.Unix(cl.AuthTime, 0)
	}
	switch {
	case cl.Email == "":
		return nil, time.Time{}, errf(tandem.EUNAUTHORIZED, "the identity provider gave no email address: tandem needs the email scope")
	case cl.EmailVerified != nil && !*cl.EmailVerified:
		return nil, time.Time{}, errf(tandem.EUNAUTHORIZED, "the identity provider has not verified %s", cl.Email)
	case fl.reauth && (cl.AuthTime == 0 || authTime.Before(fl.started.Add(-time.Minute))):
		return nil, time.Time{}, errf(tandem.EUNAUTHORIZED, "the identity provider did not have you sign in again")
	}
	person, err := s.ssoPerson(ctx, id.Issuer, id.Subject, cl, groupsOf(all[s.cfg.OIDC.GroupsClaim]))
	return person, authTime, err
}

// ssoPerson finds or makes the person of an SSO account: by issuer and
// subject, else by email (a person known by email alone is linked to the
// account), else new.
func (s *Server) ssoPerson(ctx context.Context, iss, sub string, cl idClaims, groups []string) (*tandem.Person, error) {
	email := strings.ToLower(cl.Email)
	p, err := s.store.PersonBySubject(ctx, iss, sub)
	if tandem.ErrorCode(err) == tandem.ENOTFOUND {
		p, err = s.store.PersonByEmail(ctx, email)
		switch {
		case tandem.ErrorCode(err) == tandem.ENOTFOUND:
			p, err = &tandem.Person{ID: tandem.NewID("p_"), Email: email, CreatedAt: s.now().UTC()}, nil
		case err == nil && p.Subject != "" && (p.Issuer != iss || p.Subject != sub):
			return nil, errf(tandem.ECONFLICT, "%s belongs to another single sign-on account", email)
		}
	}
	if err != nil {
		return nil, err
	}
	p.Issuer, p.Subject, p.Email, p.Groups = iss, sub, email, groups
	if cl.Name != "" {
		p.Name = cl.Name
	}
	if p.Name == "" {
		p.Name = email
	}
	return p, nil
}

// groupsOf reads a groups claim: a list of strings, or one string.
func groupsOf(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, g := range v {
			if s, ok := g.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// ReauthURL is where to send a browser that must prove again who it is
// (before a signature): the sign-in host asks for a fresh sign-in (with
// single sign-on, prompt=login and max_age=0; by email or TOTP, a new
// code), then returns to returnURL with a new session whose AuthTime is
// that sign-in's, which PrincipalFrom reports.
func (s *Server) ReauthURL(returnURL string) string {
	return s.authURL("/signin?reauth=1&rd=" + url.QueryEscape(returnURL))
}

// Package testoidc starts a real OpenID Provider for tests: zitadel/oidc's
// op package (OpenID-certified) over an in-memory op.Storage, on a
// loopback port, with a login page that takes a user name. A browser that
// signed in keeps a session at the provider, so a later authorization
// request skips the form unless it asks for prompt=login or a max_age its
// session is past: what re-authentication is tested against.
package testoidc

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// User is an account at the provider.
type User struct {
	Subject    string
	Email      string
	Unverified bool // email_verified is false
	Name       string
	Groups     []string
}

// Provider is a running OpenID Provider.
type Provider struct {
	Issuer string // http://127.0.0.1:PORT

	srv *httptest.Server
	op  *op.Provider
	key *rsa.PrivateKey

	mu       sync.Mutex
	users    map[string]User // by subject
	clients  map[string]*client
	requests map[string]*authRequest
	codes    map[string]string // code → request ID
	tokens   map[string]token
	sessions map[string]session // by the provider's own cookie
	logins   int                // times the login form was filled in
}

type session struct {
	subject  string
	authTime time.Time
}

type token struct {
	subject, clientID string
	scopes            []string
	expires           time.Time
}

// Start runs a provider with users until the test ends.
func Start(t testing.TB, users ...User) *Provider {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &Provider{
		Issuer: "http://" + ln.Addr().String(), key: key,
		users: map[string]User{}, clients: map[string]*client{}, requests: map[string]*authRequest{},
		codes: map[string]string{}, tokens: map[string]token{}, sessions: map[string]session{},
	}
	for _, u := range users {
		p.users[u.Subject] = u
	}
	var cryptoKey [32]byte
	rand.Read(cryptoKey[:])
	p.op, err = op.NewProvider(&op.Config{CryptoKey: cryptoKey, CodeMethodS256: true, AuthMethodPost: true},
		p, op.StaticIssuer(p.Issuer), op.WithAllowInsecure())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	intercept := op.NewIssuerInterceptor(p.op.IssuerFromRequest)
	mux.Handle("/login", intercept.HandlerFunc(p.login))
	mux.Handle("/", p.op)
	p.srv = httptest.NewUnstartedServer(mux)
	p.srv.Listener.Close()
	p.srv.Listener = ln
	p.srv.Start()
	t.Cleanup(p.srv.Close)
	return p
}

// AddClient registers an OAuth client (confidential, code flow, PKCE
// allowed) that may be sent back to redirectURIs.
func (p *Provider) AddClient(id, secret string, redirectURIs ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clients[id] = &client{id: id, secret: secret, redirects: redirectURIs}
}

// Logins counts the times the login form was filled in.
func (p *Provider) Logins() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logins
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<title>Test provider: sign in</title>
<h1>Test provider</h1>
{{if .Error}}<p id=error>{{.Error}}</p>{{end}}
<form method=post action=/login>
<input type=hidden name=id value="{{.ID}}">
<label>User <input name=username id=username autofocus></label>
<button type=submit id=signin>Sign in</button>
</form>
`))

// login is the provider's own sign-in page: a user's subject or email is
// enough. A browser with a fresh enough session is sent on at once.
func (p *Provider) login(w http.ResponseWriter, r *http.Request) {
	id := r.FormValue("id")
	if id == "" {
		id = r.FormValue("authRequestID")
	}
	p.mu.Lock()
	req, ok := p.requests[id]
	p.mu.Unlock()
	if !ok {
		http.Error(w, "unknown auth request", http.StatusBadRequest)
		return
	}
	if r.Method == http.MethodGet {
		if s, ok := p.session(r); ok && !req.forcesLogin(s.authTime) {
			p.complete(req, s.subject, s.authTime)
			http.Redirect(w, r, op.AuthCallbackURL(p.op)(r.Context(), id), http.StatusFound)
			return
		}
		loginPage.Execute(w, map[string]string{"ID": id})
		return
	}
	name := r.FormValue("username")
	u, ok := p.user(name)
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		loginPage.Execute(w, map[string]string{"ID": id, "Error": "no user " + name})
		return
	}
	now := time.Now().Truncate(time.Second)
	sid := rand.Text()
	p.mu.Lock()
	p.sessions[sid] = session{subject: u.Subject, authTime: now}
	p.logins++
	p.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: "op_session", Value: sid, Path: "/", HttpOnly: true})
	p.complete(req, u.Subject, now)
	http.Redirect(w, r, op.AuthCallbackURL(p.op)(r.Context(), id), http.StatusFound)
}

func (p *Provider) session(r *http.Request) (session, bool) {
	c, err := r.Cookie("op_session")
	if err != nil {
		return session{}, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.sessions[c.Value]
	return s, ok
}

func (p *Provider) user(name string) (User, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, u := range p.users {
		if u.Subject == name || u.Email == name {
			return u, true
		}
	}
	return User{}, false
}

func (p *Provider) complete(req *authRequest, subject string, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	req.subject, req.authTime, req.done = subject, at, true
}

// authRequest is an authorization request being served.
type authRequest struct {
	id, clientID, redirect, state, nonce string
	scopes                               []string
	responseType                         oidc.ResponseType
	responseMode                         oidc.ResponseMode
	challenge                            *oidc.CodeChallenge
	prompt                               []string
	maxAge                               *uint

	subject  string
	authTime time.Time
	done     bool
}

// forcesLogin: prompt=login, or a max_age the session is older than.
func (a *authRequest) forcesLogin(authTime time.Time) bool {
	return slices.Contains(a.prompt, oidc.PromptLogin) || a.maxAge != nil && time.Since(authTime) > time.Duration(*a.maxAge)*time.Second
}

func (a *authRequest) GetID() string                         { return a.id }
func (a *authRequest) GetACR() string                        { return "" }
func (a *authRequest) GetAMR() []string                      { return []string{"pwd"} }
func (a *authRequest) GetAudience() []string                 { return []string{a.clientID} }
func (a *authRequest) GetAuthTime() time.Time                { return a.authTime }
func (a *authRequest) GetClientID() string                   { return a.clientID }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge { return a.challenge }
func (a *authRequest) GetNonce() string                      { return a.nonce }
func (a *authRequest) GetRedirectURI() string                { return a.redirect }
func (a *authRequest) GetResponseType() oidc.ResponseType    { return a.responseType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode    { return a.responseMode }
func (a *authRequest) GetScopes() []string                   { return a.scopes }
func (a *authRequest) GetState() string                      { return a.state }
func (a *authRequest) GetSubject() string                    { return a.subject }
func (a *authRequest) Done() bool                            { return a.done }

// op.Storage, in memory.

var errNotFound = errors.New("not found")

func (p *Provider) CreateAuthRequest(_ context.Context, r *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	if slices.Contains(r.Prompt, oidc.PromptNone) {
		return nil, oidc.ErrLoginRequired()
	}
	a := &authRequest{
		id: rand.Text(), clientID: r.ClientID, redirect: r.RedirectURI, state: r.State, nonce: r.Nonce,
		scopes: r.Scopes, responseType: r.ResponseType, responseMode: r.ResponseMode, prompt: r.Prompt, maxAge: r.MaxAge,
	}
	if r.CodeChallenge != "" {
		a.challenge = &oidc.CodeChallenge{Challenge: r.CodeChallenge, Method: r.CodeChallengeMethod}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests[a.id] = a
	return a, nil
}

func (p *Provider) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a, ok := p.requests[id]; ok {
		return a, nil
	}
	return nil, errNotFound
}

func (p *Provider) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	p.mu.Lock()
	id, ok := p.codes[code]
	p.mu.Unlock()
	if !ok {
		return nil, errNotFound
	}
	return p.AuthRequestByID(ctx, id)
}

func (p *Provider) SaveAuthCode(_ context.Context, id, code string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.codes[code] = id
	return nil
}

func (p *Provider) DeleteAuthRequest(_ context.Context, id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.requests, id)
	for code, rid := range p.codes {
		if rid == id {
			delete(p.codes, code)
		}
	}
	return nil
}

func (p *Provider) CreateAccessToken(_ context.Context, r op.TokenRequest) (string, time.Time, error) {
	id, expires := rand.Text(), time.Now().Add(5*time.Minute)
	clientID := ""
	if a, ok := r.(*authRequest); ok {
		clientID = a.clientID
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tokens[id] = token{subject: r.GetSubject(), clientID: clientID, scopes: r.GetScopes(), expires: expires}
	return id, expires, nil
}

func (p *Provider) CreateAccessAndRefreshTokens(ctx context.Context, r op.TokenRequest, _ string) (string, string, time.Time, error) {
	id, expires, err := p.CreateAccessToken(ctx, r)
	return id, "", expires, err
}

func (p *Provider) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, op.ErrInvalidRefreshToken
}

func (p *Provider) TerminateSession(context.Context, string, string) error { return nil }

func (p *Provider) RevokeToken(_ context.Context, id, _, _ string) *oidc.Error {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.tokens, id)
	return nil
}

func (p *Provider) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}

type signingKey struct{ k *rsa.PrivateKey }

func (s signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (s signingKey) Key() any                                    { return s.k }
func (s signingKey) ID() string                                  { return "test-key" }

type publicKey struct{ k *rsa.PrivateKey }

func (s publicKey) ID() string                         { return "test-key" }
func (s publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (s publicKey) Use() string                        { return "sig" }
func (s publicKey) Key() any                           { return &s.k.PublicKey }

func (p *Provider) SigningKey(context.Context) (op.SigningKey, error) { return signingKey{p.key}, nil }
func (p *Provider) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}
func (p *Provider) KeySet(context.Context) ([]op.Key, error) { return []op.Key{publicKey{p.key}}, nil }

func (p *Provider) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.clients[id]; ok {
		return c, nil
	}
	return nil, errNotFound
}

func (p *Provider) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.clients[id]; ok && c.secret == secret {
		return nil
	}
	return errors.New("wrong client credentials")
}

// SetUserinfoFromScopes fills the ID token's and userinfo's claims.
func (p *Provider) SetUserinfoFromScopes(_ context.Context, info *oidc.UserInfo, subject, _ string, scopes []string) error {
	p.mu.Lock()
	u, ok := p.users[subject]
	p.mu.Unlock()
	if !ok {
		return fmt.Errorf("no user %q", subject)
	}
	info.Subject = u.Subject
	if slices.Contains(scopes, oidc.ScopeEmail) {
		info.Email, info.EmailVerified = u.Email, oidc.Bool(!u.Unverified)
		if u.Unverified {
			info.AppendClaims("email_verified", false) // the field's false is left out
		}
	}
	if slices.Contains(scopes, oidc.ScopeProfile) {
		info.Name = u.Name
	}
	if slices.Contains(scopes, "groups") && len(u.Groups) > 0 {
		info.AppendClaims("groups", u.Groups)
	}
	return nil
}

func (p *Provider) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, _, _ string) error {
	p.mu.Lock()
	t, ok := p.tokens[tokenID]
	p.mu.Unlock()
	if !ok || time.Now().After(t.expires) {
		return errors.New("token is not valid")
	}
	return p.SetUserinfoFromScopes(ctx, info, t.subject, t.clientID, t.scopes)
}

func (p *Provider) SetIntrospectionFromToken(context.Context, *oidc.IntrospectionResponse, string, string, string) error {
	return errors.New("introspection is not supported")
}

func (p *Provider) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

func (p *Provider) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errNotFound
}

func (p *Provider) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("JWT profile is not supported")
}

func (p *Provider) Health(context.Context) error { return nil }

// client is a registered OAuth client.
type client struct {
	id, secret string
	redirects  []string
}

func (c *client) GetID() string                       { return c.id }
func (c *client) RedirectURIs() []string              { return c.redirects }
func (c *client) PostLogoutRedirectURIs() []string    { return nil }
func (c *client) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c *client) AuthMethod() oidc.AuthMethod         { return oidc.AuthMethodBasic }
func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *client) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeCode}
}
func (c *client) LoginURL(id string) string            { return "/login?authRequestID=" + id }
func (c *client) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeBearer }
func (c *client) IDTokenLifetime() time.Duration       { return time.Hour }
func (c *client) DevMode() bool                        { return true } // http:// redirects, as tests use
func (c *client) IsScopeAllowed(scope string) bool     { return scope == "groups" }
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *client) ClockSkew() time.Duration             { return 0 }
func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

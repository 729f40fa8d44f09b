package access

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// oauthRoutes make the application an OAuth client of the test provider,
// as NextAuth or django-allauth would be: its authorization request goes
// through tandem's relay on its own host, its redirect_uri is tandem's one
// callback URL, and the callback comes back to /api/auth/callback/testidp.
func oauthRoutes(mux *http.ServeMux, w *world) {
	var mu sync.Mutex
	verifiers := map[string]string{} // the app's state → PKCE verifier
	conf := func() *oauth2.Config {
		return &oauth2.Config{ClientID: "app", ClientSecret: "app-secret", Scopes: []string{"openid", "email"},
			Endpoint:    oauth2.Endpoint{AuthURL: "/__tandem/oauth/testidp/authorize", TokenURL: w.idp.Issuer + "/oauth/token"},
			RedirectURL: w.url("auth", "/oauth/testidp/callback")}
	}
	mux.HandleFunc("GET /app/login", func(rw http.ResponseWriter, r *http.Request) {
		state, verifier := "app-state-"+oauth2.GenerateVerifier()[:8], oauth2.GenerateVerifier()
		mu.Lock()
		verifiers[state] = verifier
		mu.Unlock()
		http.Redirect(rw, r, conf().AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), http.StatusFound)
	})
	mux.HandleFunc("GET /api/auth/callback/testidp", func(rw http.ResponseWriter, r *http.Request) {
		state := r.URL.Query().Get("state")
		mu.Lock()
		verifier, ok := verifiers[state]
		delete(verifiers, state)
		mu.Unlock()
		if !ok {
			http.Error(rw, "app: unknown state "+state, http.StatusBadRequest)
			return
		}
		tok, err := conf().Exchange(r.Context(), r.URL.Query().Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			http.Error(rw, "app: exchange: "+err.Error(), http.StatusBadGateway)
			return
		}
		p, err := oidc.NewProvider(r.Context(), w.idp.Issuer)
		if err != nil {
			http.Error(rw, err.Error(), http.StatusBadGateway)
			return
		}
		raw, _ := tok.Extra("id_token").(string)
		id, err := p.Verifier(&oidc.Config{ClientID: "app"}).Verify(context.Background(), raw)
		var claims struct{ Email string }
		if err == nil {
			err = id.Claims(&claims)
		}
		if err != nil {
			http.Error(rw, err.Error(), http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(rw, "app: signed in as %s on %s", claims.Email, r.Host)
	})
}

// An application in a preview signs people in with an OAuth provider that
// knows one callback URL: tandem's, which relays to the preview that
// started the flow, with the application's own state.
func TestOAuthRelay(t *testing.T) {
	w := newWorld(t, nil)
	b := w.browser()
	b.signInOIDC(w.url("pr-7", "/"), "alice@corp.example")
	// The provider remembers alice from tandem's own sign-in: no form.
	p := b.get(w.url("pr-7", "/app/login"))
	if p.status != http.StatusOK || p.body != "app: signed in as alice@corp.example on pr-7."+domain+":"+w.port {
		t.Fatalf("%d at %s: %.400s", p.status, p.url, p.body)
	}

	// The relay refuses what it did not start: a state it does not know,
	// another preview's, one used already, a foreign redirect_uri.
	b.follow = false
	for _, state := range []string{"pr-7.made-up", "pr-8.", "", "pr-7"} {
		p := b.get(w.url("auth", "/oauth/testidp/callback?code=x&state="+url.QueryEscape(state)))
		if p.status != http.StatusBadRequest {
			t.Errorf("state %q: %d %s", state, p.status, p.header.Get("Location"))
		}
	}
	p = b.get(w.url("pr-7", "/__tandem/oauth/testidp/authorize?redirect_uri="+url.QueryEscape("https://evil.example/cb")))
	if p.status != http.StatusBadRequest {
		t.Errorf("foreign redirect_uri: %d", p.status)
	}
	p = b.get(w.url("pr-7", "/__tandem/oauth/testidp/authorize?state=s1&redirect_uri="+url.QueryEscape(w.srv.CallbackURL("testidp"))))
	loc, _ := url.Parse(p.header.Get("Location"))
	wrapped := loc.Query().Get("state")
	if p.status != http.StatusFound || !strings.HasPrefix(wrapped, "pr-7.") || !strings.HasPrefix(p.header.Get("Location"), w.idp.Issuer+"/authorize?") {
		t.Fatalf("authorize: %d %s", p.status, p.header.Get("Location"))
	}
	forged := "pr-8" + strings.TrimPrefix(wrapped, "pr-7")
	if p := b.get(w.url("auth", "/oauth/testidp/callback?code=x&state="+url.QueryEscape(forged))); p.status != http.StatusBadRequest {
		t.Errorf("another preview's name on a relayed state: %d", p.status)
	}
	// (The forged try used the relay up.)
	if p := b.get(w.url("auth", "/oauth/testidp/callback?code=x&state="+url.QueryEscape(wrapped))); p.status != http.StatusBadRequest {
		t.Errorf("a state used already: %d", p.status)
	}
	// A stranger cannot start a relay.
	stranger := w.browser()
	stranger.follow = false
	if p := stranger.get(w.url("pr-7", "/__tandem/oauth/testidp/authorize?redirect_uri="+url.QueryEscape(w.srv.CallbackURL("testidp")))); p.status != http.StatusFound ||
		!strings.Contains(p.header.Get("Location"), "/signin") {
		t.Errorf("a stranger's relay: %d %s", p.status, p.header.Get("Location"))
	}
}

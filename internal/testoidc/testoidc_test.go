package testoidc

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// A code flow with PKCE against the provider gives an ID token with the
// user's claims, groups among them, and auth_time.
func TestCodeFlow(t *testing.T) {
	var got struct {
		Email    string   `json:"email"`
		Groups   []string `json:"groups"`
		AuthTime int64    `json:"auth_time"`
	}
	var conf *oauth2.Config
	var p *Provider
	verifier := oauth2.GenerateVerifier()
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, err := conf.Exchange(r.Context(), r.URL.Query().Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Error(err)
			return
		}
		prov, _ := oidc.NewProvider(r.Context(), p.Issuer)
		id, err := prov.Verifier(&oidc.Config{ClientID: "c"}).Verify(context.Background(), tok.Extra("id_token").(string))
		if err != nil {
			t.Error(err)
			return
		}
		id.Claims(&got)
	}))
	defer cb.Close()
	p = Start(t, User{Subject: "s1", Email: "a@x.example", Groups: []string{"g1", "g2"}})
	p.AddClient("c", "secret", cb.URL+"/cb")
	prov, err := oidc.NewProvider(context.Background(), p.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	conf = &oauth2.Config{ClientID: "c", ClientSecret: "secret", Endpoint: prov.Endpoint(), RedirectURL: cb.URL + "/cb", Scopes: []string{"openid", "email", "groups"}}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	res, err := c.Get(conf.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	id := res.Request.URL.Query().Get("authRequestID")
	if !strings.Contains(string(body), "Test provider") || id == "" {
		t.Fatalf("no login page: %s", body)
	}
	res, err = c.PostForm(p.Issuer+"/login", url.Values{"id": {id}, "username": {"a@x.example"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got.Email != "a@x.example" || !slices.Equal(got.Groups, []string{"g1", "g2"}) || got.AuthTime == 0 || p.Logins() != 1 {
		t.Errorf("claims %+v, %d logins", got, p.Logins())
	}
}

package httpapi

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
)

// endpoint is one API action, with a body where it takes one.
type endpoint struct {
	method, path string
	body         any
}

func (e endpoint) String() string { return e.method + " " + e.path }

// everyAction is every action the API takes for a principal.
var everyAction = []endpoint{
	{"GET", "/v1/previews", nil},
	{"POST", "/v1/previews", CreateBody{Name: "pr-9", Repo: "shop"}},
	{"GET", "/v1/previews/pr-1", nil},
	{"GET", "/v1/previews/pr-1/events", nil},
	{"GET", "/v1/previews/pr-1/logs/web", nil},
	{"DELETE", "/v1/previews/pr-1", nil},
	{"GET", "/v1/whoami", nil},
	{"GET", "/v1/tokens", nil},
	{"POST", "/v1/tokens", TokenBody{Name: "ci", Role: "viewer", Repo: "shop"}},
	{"DELETE", "/v1/tokens/t_x", nil},
	{"GET", "/v1/grants", nil},
	{"POST", "/v1/grants", tandem.Grant{Repo: "shop", Role: "viewer", Domain: "corp.example"}},
	{"DELETE", "/v1/grants/1", nil},
	{"GET", "/v1/people", nil},
	{"GET", "/v1/access/events", nil},
	{"GET", "/v1/nothing-here", nil},
}

// Without a valid token every action is refused, with 401 and the error
// envelope, and nothing happens.
func TestUnauthenticatedRefused(t *testing.T) {
	a := newAPI(t)
	now := time.Now()
	revoked, expired := a.token(tandem.RoleAdmin, tandem.AllRepos), tandem.NewSecret(TokenPrefix)
	tok, _ := a.store.TokenByHash(t.Context(), tandem.HashSecret(revoked))
	a.store.RevokeToken(t.Context(), tok.ID, now)
	a.store.PutToken(t.Context(), &tandem.Token{ID: "t_old", Name: "old", Role: "admin", Repo: "*", ExpiresAt: now.Add(-time.Minute)}, tandem.HashSecret(expired))

	for _, auth := range []struct{ name, header string }{
		{"none", ""}, {"unknown", "Bearer " + a.admin + "x"}, {"prefix", "Bearer " + a.admin[:20]},
		{"revoked", "Bearer " + revoked}, {"expired", "Bearer " + expired},
		{"other scheme", "Basic " + a.admin}, {"bare token", a.admin}, {"empty bearer", "Bearer "},
	} {
		for _, e := range everyAction {
			req, _ := http.NewRequest(e.method, a.url+e.path, strings.NewReader(`{"name":"pr-9","repo":"shop"}`))
			if auth.header != "" {
				req.Header.Set("Authorization", auth.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Errorf("%s, %s: %d", auth.name, e, resp.StatusCode)
			}
		}
	}
	if len(a.previews.previews) != 2 || len(a.previews.destroyed) != 0 {
		t.Errorf("something happened: %v %v", a.previews.previews, a.previews.destroyed)
	}
	// Why, in words, naming the token by its ID only.
	for secret, want := range map[string]string{revoked: "was revoked", expired: "t_old expired at", "": "this API needs a token"} {
		_, e := a.do("GET", "/v1/previews", secret, nil, nil)
		if e.Code != tandem.EUNAUTHORIZED || !strings.Contains(e.Error, want) || (secret != "" && strings.Contains(e.Error, secret)) {
			t.Errorf("%q", e.Error)
		}
	}
	// Health, and starting a login, need nothing.
	if code, _ := a.do("GET", "/healthz", "", nil, nil); code != 200 {
		t.Errorf("healthz: %d", code)
	}
}

// A token of repository shop cannot see or touch blog's previews.
func TestTokenOfOneRepoCannotTouchAnother(t *testing.T) {
	a := newAPI(t)
	shop := a.token(tandem.RoleAdmin, "shop")
	var list []View
	if code, _ := a.do("GET", "/v1/previews", shop, nil, &list); code != 200 || len(list) != 1 || list[0].Name != "pr-1" {
		t.Errorf("list: %d %+v", code, list)
	}
	for _, e := range []endpoint{
		{"GET", "/v1/previews/pr-2", nil},
		{"DELETE", "/v1/previews/pr-2", nil},
		{"GET", "/v1/previews/pr-2/events", nil},
		{"GET", "/v1/previews/pr-2/logs/web", nil},
		{"POST", "/v1/previews", CreateBody{Name: "pr-9", Repo: "blog"}},
		{"POST", "/v1/previews", CreateBody{Name: "pr-2", Repo: "shop"}}, // blog's name, as an update
		{"POST", "/v1/tokens", TokenBody{Name: "x", Role: "viewer", Repo: "blog"}},
		{"POST", "/v1/tokens", TokenBody{Name: "x", Role: "viewer", Repo: "*"}},
		{"POST", "/v1/grants", tandem.Grant{Repo: "blog", Role: "viewer", Domain: "corp.example"}},
		{"GET", "/v1/people", nil},
	} {
		code, body := a.do(e.method, e.path, shop, e.body, nil)
		if code != 403 || body.Code != tandem.EFORBIDDEN {
			t.Errorf("%s: %d %+v", e, code, body)
		}
	}
	if len(a.previews.destroyed) != 0 || a.previews.previews["pr-2"].Repo != "blog" || a.previews.previews["pr-9"] != nil {
		t.Errorf("blog was touched: %v", a.previews.previews)
	}
	// Events of a preview that is gone are for who sees every repository.
	if code, _ := a.do("GET", "/v1/previews/pr-gone/events", shop, nil, nil); code != 404 {
		t.Errorf("events of a gone preview, shop's admin: %d", code)
	}
	if code, _ := a.do("GET", "/v1/previews/pr-gone/events", a.token(tandem.RoleViewer, "*"), nil, nil); code != 200 {
		t.Errorf("events of a gone preview, a viewer of all: %d", code)
	}
}

// The role each action needs, in shop, for a token of each role there.
func TestRolesPerEndpoint(t *testing.T) {
	need := map[string]tandem.Role{
		"GET /v1/previews/pr-1": "viewer", "GET /v1/previews/pr-1/events": "viewer", "GET /v1/previews/pr-1/logs/web": "viewer",
		"POST /v1/previews": "reviewer", "DELETE /v1/previews/pr-1": "reviewer",
		"GET /v1/tokens": "viewer", "GET /v1/grants": "viewer", "GET /v1/whoami": "viewer", // filtered lists
		"POST /v1/tokens": "admin", "POST /v1/grants": "admin",
	}
	for _, role := range []tandem.Role{"viewer", "reviewer", "approver", "admin"} {
		a := newAPI(t)
		tok := a.token(role, "shop")
		for _, e := range everyAction {
			want, ok := need[e.String()]
			if !ok {
				continue
			}
			code, body := a.do(e.method, e.path, tok, e.body, nil)
			if allowed := code < 300; allowed != role.Includes(want) {
				t.Errorf("%s: %s: %d %s", role, e, code, body.Error)
			}
		}
	}
}

func TestTokensAPI(t *testing.T) {
	a := newAPI(t)
	shopAdmin := a.token(tandem.RoleAdmin, "shop")
	var made NewToken
	code, e := a.do("POST", "/v1/tokens", shopAdmin, TokenBody{Name: "ci", Role: "reviewer", Repo: "shop", TTL: "90d"}, &made)
	if code != 201 || !strings.HasPrefix(made.Secret, TokenPrefix) || made.Token.Role != "reviewer" || !strings.HasPrefix(made.Token.CreatedBy, "token admin-of-shop (t_") {
		t.Fatalf("create: %d %+v %+v", code, e, made)
	}
	if d := time.Until(made.Token.ExpiresAt); d < 89*24*time.Hour || d > 90*24*time.Hour {
		t.Errorf("expires in %s", d)
	}
	// The new token works, as a reviewer of shop.
	if code, _ := a.do("POST", "/v1/previews", made.Secret, CreateBody{Name: "pr-7", Repo: "shop"}, nil); code != 202 {
		t.Errorf("create a preview with it: %d", code)
	}
	for _, bad := range []TokenBody{
		{Name: "", Role: "viewer", Repo: "shop"}, {Name: "x", Role: "boss", Repo: "shop"}, {Name: "x", Role: "viewer", Repo: "nope"},
		{Name: "x", Role: "viewer", Repo: "shop", TTL: "forever"}, {Name: "x\n", Role: "viewer", Repo: "shop"},
	} {
		if code, _ := a.do("POST", "/v1/tokens", shopAdmin, bad, nil); code != 400 && code != 404 {
			t.Errorf("%+v: %d", bad, code)
		}
	}
	// Lists: shop's admin sees shop's tokens; the secret is nowhere.
	var list []*tandem.Token
	a.do("GET", "/v1/tokens", shopAdmin, nil, &list)
	names := []string{}
	for _, tok := range list {
		names = append(names, tok.Name)
	}
	if !slices.Equal(names, []string{"admin-of-shop", "ci"}) {
		t.Errorf("shop admin's list: %v", names)
	}
	// Revoked: refused from then on; the revoking is an event.
	if code, _ := a.do("DELETE", "/v1/tokens/"+made.Token.ID, a.token(tandem.RoleAdmin, "blog"), nil, nil); code != 403 {
		t.Errorf("blog's admin revoked shop's token: %d", code)
	}
	if code, _ := a.do("DELETE", "/v1/tokens/"+made.Token.ID, shopAdmin, nil, nil); code != 200 {
		t.Errorf("revoke: %d", code)
	}
	if code, _ := a.do("GET", "/v1/previews", made.Secret, nil, nil); code != 401 {
		t.Errorf("a revoked token: %d", code)
	}
	if code, _ := a.do("DELETE", "/v1/tokens/t_nope", shopAdmin, nil, nil); code != 404 {
		t.Errorf("revoke nothing: %d", code)
	}
	var events []tandem.AccessEvent
	a.do("GET", "/v1/access/events", a.admin, nil, &events)
	kinds := []string{}
	for _, e := range events {
		kinds = append(kinds, e.Kind+" "+e.Subject)
		if strings.Contains(fmt.Sprint(e), made.Secret) {
			t.Errorf("the secret is in an event: %+v", e)
		}
	}
	if !slices.Contains(kinds, "token.created "+made.Token.ID) || !slices.Contains(kinds, "token.revoked "+made.Token.ID) {
		t.Errorf("events: %v", kinds)
	}
	// Nor in the API's log, which says who did what.
	if log := a.log.String(); strings.Contains(log, made.Secret) || strings.Contains(log, shopAdmin) || !strings.Contains(log, `"principal":"token admin-of-shop`) {
		t.Errorf("log:\n%s", log)
	}
}

// A browser with a session cookie (what package access authenticates) can
// be made to post a form of another site: text, which is not JSON, even
// when it reads as JSON.
func TestFormsAreNotJSON(t *testing.T) {
	a := newAPI(t)
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""} {
		req, _ := http.NewRequest("POST", a.url+"/v1/tokens", strings.NewReader(`{"role":"admin","repo":"*","ttl":"0","name":"=x"}`))
		req.Header.Set("Authorization", "Bearer "+a.admin)
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("%q: %d", ct, resp.StatusCode)
		}
	}
	if list, _ := a.store.Tokens(t.Context()); len(list) != 1 {
		t.Errorf("a form made a token: %d tokens", len(list))
	}
}

// A token's last use is kept, coarsely.
func TestLastUsed(t *testing.T) {
	a := newAPI(t)
	tok := a.token(tandem.RoleViewer, "shop")
	before := time.Now()
	a.do("GET", "/v1/previews", tok, nil, nil)
	got, _ := a.store.TokenByHash(t.Context(), tandem.HashSecret(tok))
	if got.LastUsed.Before(before) || time.Since(got.LastUsed) > time.Minute {
		t.Errorf("last used %v", got.LastUsed)
	}
	var list []*tandem.Token
	a.do("GET", "/v1/tokens", a.admin, nil, &list)
	for _, l := range list {
		if l.ID == got.ID && !l.LastUsed.Equal(got.LastUsed) {
			t.Errorf("list shows last used %v", l.LastUsed)
		}
	}
}

func TestGrantsAPI(t *testing.T) {
	a := newAPI(t)
	ctx := t.Context()
	if err := a.store.ReplaceConfigGrants(ctx, []tandem.Grant{{Repo: "shop", Role: "viewer", Domain: "corp.example"}}); err != nil {
		t.Fatal(err)
	}
	shopAdmin := a.token(tandem.RoleAdmin, "shop")
	var g tandem.Grant
	if code, e := a.do("POST", "/v1/grants", shopAdmin, tandem.Grant{Repo: "shop", Role: "approver", Group: "qa-leads", Source: "config"}, &g); code != 201 || g.ID == 0 || g.Source != "api" {
		t.Fatalf("add: %d %+v %+v", code, e, g)
	}
	if code, _ := a.do("POST", "/v1/grants", shopAdmin, tandem.Grant{Repo: "shop", Role: "approver", Group: "qa-leads"}, nil); code != 409 {
		t.Errorf("again: %d", code)
	}
	if code, _ := a.do("POST", "/v1/grants", shopAdmin, tandem.Grant{Repo: "shop", Role: "viewer"}, nil); code != 400 {
		t.Errorf("a grant to nobody: %d", code)
	}
	var list []tandem.Grant
	a.do("GET", "/v1/grants", shopAdmin, nil, &list)
	if len(list) != 2 || list[0].Source != "config" {
		t.Fatalf("list: %+v", list)
	}
	if code, _ := a.do("DELETE", fmt.Sprintf("/v1/grants/%d", list[0].ID), shopAdmin, nil, nil); code != 409 {
		t.Errorf("remove tandem.yaml's grant: %d", code)
	}
	if code, _ := a.do("DELETE", fmt.Sprintf("/v1/grants/%d", g.ID), a.token(tandem.RoleAdmin, "blog"), nil, nil); code != 403 {
		t.Errorf("blog's admin removes shop's grant: %d", code)
	}
	if code, _ := a.do("DELETE", fmt.Sprintf("/v1/grants/%d", g.ID), shopAdmin, nil, nil); code != 200 {
		t.Errorf("remove: %d", code)
	}
	events, _ := a.store.AccessEvents(ctx, 0, 0)
	var got []string
	for _, e := range events {
		if e.Kind != "token.used" {
			got = append(got, e.Kind+": "+e.Detail)
		}
	}
	want := []string{"grant.added: approver in shop to group qa-leads", "grant.removed: approver in shop to group qa-leads"}
	if !slices.Equal(got, want) {
		t.Errorf("events: %q", got)
	}
}

// DATA/api.sock needs no token: every caller there is root.
func TestSocketIsRoot(t *testing.T) {
	a := newAPI(t)
	var who tandem.Principal
	if code, _ := a.send(a.sockURL, "GET", "/v1/whoami", "", nil, &who); code != 200 || who.Kind != tandem.PrincipalRoot {
		t.Fatalf("whoami: %d %+v", code, who)
	}
	var made NewToken
	if code, _ := a.send(a.sockURL, "POST", "/v1/tokens", "", TokenBody{Name: "first", Role: "admin", Repo: "*"}, &made); code != 201 || made.Token.CreatedBy != "root" {
		t.Errorf("a token made over the socket: %d %+v", code, made)
	}
}

// What package access plugs in: a request's session cookie, say.
func TestAuthenticatorHook(t *testing.T) {
	a := newAPI(t)
	alice := &tandem.Person{Email: "alice@corp.example"}
	a.store.PutPerson(t.Context(), alice)
	a.srv.Authenticators = []Authenticator{func(r *http.Request) (*tandem.Principal, error) {
		c, err := r.Cookie("session")
		switch {
		case err != nil:
			return nil, nil
		case c.Value != "good":
			return nil, tandem.Errorf(tandem.EUNAUTHORIZED, "that session ended")
		}
		return &tandem.Principal{Kind: tandem.PrincipalPerson, Person: alice, Roles: map[string]tandem.Role{"blog": "viewer"}}, nil
	}}
	h := a.srv.TCPHandler()
	for cookie, want := range map[string]int{"good": 200, "bad": 401, "": 401} {
		req, _ := http.NewRequest("GET", "/v1/previews", nil)
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: "session", Value: cookie})
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want || (want == 200 && !strings.Contains(rec.Body.String(), `"pr-2"`)) || strings.Contains(rec.Body.String(), `"pr-1"`) {
			t.Errorf("cookie %q: %d %s", cookie, rec.Code, rec.Body)
		}
	}
	// A bearer token comes first.
	req, _ := http.NewRequest("GET", "/v1/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+a.admin)
	req.AddCookie(&http.Cookie{Name: "session", Value: "good"})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if !strings.Contains(rec.Body.String(), `"kind":"token"`) {
		t.Errorf("token and cookie: %s", rec.Body)
	}
}

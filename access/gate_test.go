package access

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
)

// Nobody gets through without signing in: a browser is sent to the
// sign-in host with where it was going, anything else gets 401 in the
// gateway's JSON envelope. The application sees none of it.
func TestGateRefusesStrangers(t *testing.T) {
	w := newWorld(t, nil)
	b := w.browser()
	b.follow = false
	p := b.get(w.url("pr-7", "/articles/?page=2"))
	want := w.url("auth", "/signin?rd="+url.QueryEscape(w.url("pr-7", "/articles/?page=2")))
	if p.status != http.StatusFound || p.header.Get("Location") != want {
		t.Errorf("browser: %d to %q, want %q", p.status, p.header.Get("Location"), want)
	}
	for _, c := range []struct{ method, path, accept string }{
		{"GET", "/api/articles/", "application/json"},
		{"POST", "/api/auth/login/", "text/html"},
		{"GET", "/", "*/*"},
	} {
		req, _ := http.NewRequest(c.method, w.url("pr-7", c.path), nil)
		req.Header.Set("Accept", c.accept)
		res, err := b.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var env map[string]any
		json.NewDecoder(res.Body).Decode(&env)
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized || env["status"] != "error" || env["data"] != nil ||
			!strings.Contains(env["error"].(string), "private") || res.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: %d %v", c.method, c.path, res.StatusCode, env)
		}
	}
	// A forged cookie, an identity header: still a stranger.
	p = b.get(w.url("pr-7", "/"), "Cookie", "tandem_session=tdms_forged", "X-Tandem-User", "alice@corp.example")
	if p.status != http.StatusFound {
		t.Errorf("forged cookie: %d", p.status)
	}
	if n := w.app.seen.Load(); n != 0 {
		t.Errorf("the application got %d requests", n)
	}
}

// Single sign-on through the gate: the browser comes back where it was
// going with a session for that preview's host only; tandem's cookie
// never reaches the application, whose own cookies and Authorization do.
func TestOIDCSignIn(t *testing.T) {
	w := newWorld(t, nil)
	b := w.browser()
	p := b.signInOIDC(w.url("pr-7", "/articles/?page=2"), "alice@corp.example")
	got := decodeApp(t, p)
	if p.url != w.url("pr-7", "/articles/?page=2") || got["path"] != "/articles/" {
		t.Fatalf("ended at %s: %v", p.url, got)
	}
	if got["cookie"] != nil {
		t.Errorf("the application received Cookie %v", got["cookie"])
	}
	// tandem's cookie: host-only, HttpOnly, Lax, for the preview's host
	// and the sign-in host, nowhere else.
	for _, host := range []string{"pr-7", "auth"} {
		var names []string
		for _, c := range b.cookies(host) {
			names = append(names, c.Name)
		}
		if !slices.Contains(names, "tandem_session") || host == "pr-7" && len(names) != 1 {
			t.Errorf("%s cookies: %v", host, names)
		}
	}
	if cs := b.cookies("pr-8"); len(cs) != 0 {
		t.Errorf("pr-8 got cookies: %v", cs)
	}

	// The application's session and token pass as sent, tandem's does not.
	p = b.get(w.url("pr-7", "/api/me/"), "Cookie", "sessionid=abc123; csrftoken=Zx9", "Authorization", "Token 0123")
	got = decodeApp(t, p)
	cookie := got["cookie"].([]any)
	if len(cookie) != 1 || cookie[0] != "sessionid=abc123; csrftoken=Zx9" {
		t.Errorf("the application received Cookie %v", cookie)
	}
	if a := got["authorization"].([]any); len(a) != 1 || a[0] != "Token 0123" {
		t.Errorf("Authorization %v", a)
	}

	// Another preview of the same repository: the session on the sign-in
	// host opens it without the provider's form.
	logins := w.idp.Logins()
	if p := b.get(w.url("pr-8", "/")); decodeApp(t, p)["host"] != "pr-8."+domain+":"+w.port || w.idp.Logins() != logins {
		t.Errorf("pr-8: %d at %s, %d logins", p.status, p.url, w.idp.Logins()-logins)
	}
	// pr-9 is of another repository, which alice may open as one of the
	// provider's group "editors": it needs a session of its own first.
	b.follow = false
	if p := b.get(w.url("pr-9", "/")); p.status != http.StatusFound {
		t.Errorf("pr-9 first: %d", p.status)
	}
	b.follow = true
	if p := b.get(w.url("pr-9", "/")); p.status != http.StatusOK {
		t.Errorf("pr-9 as an editor: %d %.300s", p.status, p.body)
	}

	// The sign-in is recorded, with the person and where they went.
	ev := w.events("person.signed_in")
	if len(ev) != 1 || ev[0].Actor != "alice@corp.example" || ev[0].Preview != "pr-7" || !strings.Contains(ev[0].Detail, "single sign-on") {
		t.Errorf("sign-in events %+v", ev)
	}
	person, err := w.store.PersonByEmail(context.Background(), "alice@corp.example")
	if err != nil || person.Name != "Alice Example" || person.Issuer != w.idp.Issuer || person.Subject != "u-alice" || !slices.Equal(person.Groups, []string{"editors"}) {
		t.Errorf("person %+v %v", person, err)
	}
	// The access log names her, and the generation.
	eventually(t, "an attributed log line", func() bool {
		return strings.Contains(w.logs.String(), `"principal":"alice@corp.example","generation":1`)
	})
}

// Someone without a role is told so, and not sent round in circles.
func TestSignedInWithoutRole(t *testing.T) {
	w := newWorld(t, nil)
	b := w.browser()
	p := b.signInOIDC(w.url("pr-7", "/"), "bob@elsewhere.example")
	if p.status != http.StatusForbidden || !strings.Contains(p.body, "bob@elsewhere.example may not open previews of shop") {
		t.Errorf("%d at %s: %.400s", p.status, p.url, p.body)
	}
	// An address the provider has not verified gets nothing.
	b = w.browser()
	p = b.signInOIDC(w.url("pr-7", "/"), "eve@corp.example")
	if p.status != http.StatusForbidden || !strings.Contains(p.body, "not verified") {
		t.Errorf("unverified: %d %.400s", p.status, p.body)
	}
	if w.app.seen.Load() != 0 {
		t.Error("the application was reached")
	}
}

// Re-authentication: with a session at the provider, an ordinary sign-in
// skips its form; a re-authentication (before a signature) makes the
// person sign in again, and the new session's auth_time is that sign-in's.
func TestReauthentication(t *testing.T) {
	w := newWorld(t, nil)
	b := w.browser()
	b.signInOIDC(w.url("pr-7", "/"), "alice@corp.example")
	first := whoami(t, b, w)
	logins := w.idp.Logins()

	// A new browser session on the sign-in host, but the same provider
	// session: no form.
	for _, c := range b.cookies("auth") {
		if c.Name == "tandem_session" {
			u, _ := url.Parse(w.url("auth", "/"))
			b.jar.SetCookies(u, []*http.Cookie{{Name: c.Name, Value: "", MaxAge: -1}})
		}
	}
	b.signInOIDC(w.url("pr-8", "/"), "alice@corp.example")
	if w.idp.Logins() != logins {
		t.Fatalf("an ordinary sign-in showed the provider's form")
	}

	// auth_time has whole seconds: the next sign-in must be in a later one.
	eventually(t, "the next second", func() bool { return time.Now().Truncate(time.Second).After(first.AuthTime) })
	p := b.signInOIDC(w.srv.ReauthURL(w.url("pr-7", "/checkout")), "alice@corp.example")
	if w.idp.Logins() != logins+1 {
		t.Fatalf("re-authentication did not show the provider's form")
	}
	if decodeApp(t, p)["path"] != "/checkout" {
		t.Errorf("ended at %s", p.url)
	}
	again := whoami(t, b, w)
	if !again.AuthTime.After(first.AuthTime) || again.Method != "oidc" {
		t.Errorf("auth_time %s then %s", first.AuthTime, again.AuthTime)
	}
}

type who_ struct {
	Principal string    `json:"principal"` // never said
	Method    string    `json:"method"`
	AuthTime  time.Time `json:"auth_time"`
}

func whoami(t *testing.T, b *browser, w *world) who_ {
	t.Helper()
	p := b.get(w.url("pr-7", "/__tandem/whoami"))
	var v who_
	if err := json.Unmarshal([]byte(p.body), &v); err != nil || p.status != 200 || v.Principal != "" || strings.Contains(p.body, "@") {
		t.Fatalf("whoami: %d %s", p.status, p.body)
	}
	return v
}

// Return URLs lead to this server's previews and sign-in host only.
func TestNoOpenRedirect(t *testing.T) {
	w := newWorld(t, nil)
	for _, rd := range []string{
		"https://evil.example/", "http://evil.example:" + w.port + "/", "//evil.example/",
		w.url("pr-404", "/"), "http://pr-7." + domain + ":1/", "http://pr-7." + domain + ".evil.example:" + w.port + "/",
		"http://user@pr-7." + domain + ":" + w.port + "/", "javascript:alert(1)",
	} {
		b := w.browser()
		b.signInOIDC(w.url("pr-7", "/"), "alice@corp.example")
		p := b.signInOIDC(w.url("auth", "/signin?rd="+url.QueryEscape(rd)), "alice@corp.example")
		if p.url != w.url("auth", "/") {
			t.Errorf("rd %q: ended at %s", rd, p.url)
		}
	}
	// The session exchange sends nowhere but its own host.
	b := w.browser()
	b.signInOIDC(w.url("pr-7", "/"), "alice@corp.example")
	b.follow = false
	ticket := w.srv.tickets.issue("pr-7."+domain, who{personID: mustPerson(t, w, "alice@corp.example").ID, method: "oidc", authTime: time.Now()}, time.Now())
	for _, rd := range []string{"//evil.example/x", "https://evil.example/", `/\evil.example`} {
		p := b.get(w.url("pr-7", "/__tandem/session?ticket="+url.QueryEscape(ticket)+"&rd="+url.QueryEscape(rd)))
		if loc := p.header.Get("Location"); loc != "/" && loc != "" {
			t.Errorf("rd %q: Location %q", rd, loc)
		}
		ticket = w.srv.tickets.issue("pr-7."+domain, who{personID: mustPerson(t, w, "alice@corp.example").ID, method: "oidc", authTime: time.Now()}, time.Now())
	}
	// A ticket works once, and for its own host only.
	p := b.get(w.url("pr-8", "/__tandem/session?ticket="+url.QueryEscape(ticket)))
	if p.status != http.StatusBadRequest {
		t.Errorf("a pr-7 ticket on pr-8: %d", p.status)
	}
	if p := b.get(w.url("pr-7", "/__tandem/session?ticket="+url.QueryEscape(ticket))); p.status != http.StatusBadRequest {
		t.Errorf("a ticket used twice (after a wrong host): %d", p.status)
	}
}

func mustPerson(t *testing.T, w *world, email string) *tandem.Person {
	t.Helper()
	p, err := w.store.PersonByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Forms of the sign-in host are refused when posted from elsewhere.
func TestCSRF(t *testing.T) {
	w := newWorld(t, nil)
	b := w.browser()
	p := b.do(http.MethodPost, w.url("auth", "/signin/email"), url.Values{"email": {"alice@corp.example"}})
	if p.status != http.StatusForbidden {
		t.Errorf("no token: %d", p.status)
	}
	p = b.get(w.url("auth", "/signin"))
	token := csrfField.FindStringSubmatch(p.body)[1]
	p = b.do(http.MethodPost, w.url("auth", "/signin/email"), url.Values{"email": {"alice@corp.example"}, "csrf": {token}},
		"Origin", "https://evil.example")
	if p.status != http.StatusForbidden {
		t.Errorf("another origin: %d", p.status)
	}
	if n := len(w.mail.Messages(t, "alice@corp.example")); n != 0 {
		t.Errorf("%d mails sent", n)
	}
	// From its own page, as a browser sends it: the host's origin (which
	// a Referrer-Policy of no-referrer would turn into "null").
	if rp := p.header.Get("Referrer-Policy"); rp != "same-origin" {
		t.Errorf("Referrer-Policy %q", rp)
	}
	p = b.do(http.MethodPost, w.url("auth", "/signin/email"), url.Values{"email": {"alice@corp.example"}, "csrf": {token}},
		"Origin", w.url("auth", ""))
	if p.status != http.StatusOK {
		t.Errorf("the host's own origin: %d", p.status)
	}
}

package access

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/gateway"
)

// siteWorld is the world with a site of tandem's own at tandem.DOMAIN,
// served as tandem serve serves the dashboard: a handler behind Site,
// reached through the gateway. The handler says who it sees, and checks
// its forms.
func siteWorld(t *testing.T) *world {
	w := newWorld(t, nil)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(rw http.ResponseWriter, r *http.Request) {
		p := PrincipalFrom(r.Context())
		rw.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(rw, `<p id=who>%s %s %s</p><form method=post action=/act><input type=hidden name=csrf value="%s"></form>`,
			p.String(), p.Method, p.AuthTime.UTC().Format(time.RFC3339), w.srv.CSRF(rw, r))
	})
	mux.HandleFunc("POST /act", func(rw http.ResponseWriter, r *http.Request) {
		if !w.srv.CheckCSRF(r) {
			http.Error(rw, "refused", http.StatusForbidden)
			return
		}
		fmt.Fprint(rw, "done by ", PrincipalFrom(r.Context()).String())
	})
	srv := httptest.NewServer(w.srv.Site("tandem."+domain, mux))
	t.Cleanup(srv.Close)
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Listener.Addr().String())
	}
	site := &gateway.Site{Name: "dashboard", Routes: []tandem.Route{{Path: "/", Service: "dashboard", Port: 80}}, Dial: dial}
	w.gw.Set(&gateway.Table{Hosts: map[string]*gateway.Site{w.srv.AuthHost(): w.srv.AuthSite(), "tandem." + domain: site}})
	return w
}

func TestSiteSignIn(t *testing.T) {
	w := siteWorld(t)
	b := w.browser()
	b.follow = false
	if p := b.get(w.url("tandem", "/previews?q=1")); p.status != http.StatusFound ||
		p.header.Get("Location") != w.url("auth", "/signin?rd="+url.QueryEscape(w.url("tandem", "/previews?q=1"))) {
		t.Fatalf("a browser without a session: %d %s", p.status, p.header.Get("Location"))
	}
	if p := b.do(http.MethodGet, w.url("tandem", "/live"), nil, "Accept", "text/event-stream"); p.status != http.StatusUnauthorized {
		t.Errorf("a script without a session: %d", p.status)
	}
	b.follow = true
	p := b.signInOIDC(w.url("tandem", "/previews?q=1"), "alice@corp.example")
	if p.url != w.url("tandem", "/previews?q=1") || !strings.Contains(p.body, "alice@corp.example oidc") {
		t.Fatalf("after signing in: %s %s", p.url, p.body)
	}
	var names []string
	for _, c := range b.cookies("tandem") {
		names = append(names, c.Name)
	}
	if strings.Join(names, " ") != "tandem_session tandem_csrf" && strings.Join(names, " ") != "tandem_csrf tandem_session" {
		t.Errorf("the site's cookies: %v", names)
	}

	// Signed in on the sign-in host already: straight back, through a ticket.
	b2 := w.browser()
	b2.signInOIDC(w.url("auth", "/signin"), "alice@corp.example")
	if p := b2.get(w.url("tandem", "/")); p.url != w.url("tandem", "/") || !strings.Contains(p.body, "alice@corp.example") {
		t.Errorf("a browser signed in elsewhere: %s %s", p.url, p.body)
	}

	// A session is opened with a ticket from the sign-in host only.
	if p := b.get(w.url("tandem", "/__tandem/session?ticket=forged")); p.status != http.StatusBadRequest {
		t.Errorf("a forged ticket: %d", p.status)
	}
}

func TestSiteForms(t *testing.T) {
	w := siteWorld(t)
	b := w.browser()
	p := b.signInOIDC(w.url("tandem", "/"), "alice@corp.example")
	token := csrfField.FindStringSubmatch(p.body)[1]
	for _, c := range []struct {
		name   string
		form   url.Values
		header []string
		want   int
	}{
		{"no token", url.Values{}, nil, http.StatusForbidden},
		{"a wrong token", url.Values{"csrf": {strings.Repeat("x", 43)}}, nil, http.StatusForbidden},
		{"another origin", url.Values{"csrf": {token}}, []string{"Origin", "http://pr-7." + domain + ":" + w.port}, http.StatusForbidden},
		{"the sign-in host's origin", url.Values{"csrf": {token}}, []string{"Origin", w.url("auth", "")}, http.StatusForbidden},
		{"its own origin", url.Values{"csrf": {token}}, []string{"Origin", w.url("tandem", "")}, http.StatusOK},
		{"no origin said", url.Values{"csrf": {token}}, nil, http.StatusOK},
	} {
		if p := b.do(http.MethodPost, w.url("tandem", "/act"), c.form, c.header...); p.status != c.want {
			t.Errorf("%s: %d %s", c.name, p.status, p.body)
		}
	}
	// Nobody signed in: no form reaches the handler at all.
	if p := w.browser().do(http.MethodPost, w.url("tandem", "/act"), url.Values{"csrf": {token}}); p.status != http.StatusUnauthorized {
		t.Errorf("signed out: %d", p.status)
	}
}

func TestSiteReauthAndSignOut(t *testing.T) {
	w := siteWorld(t)
	b := w.browser()
	b.signInOIDC(w.url("tandem", "/"), "alice@corp.example")
	old := sessionValue(b, "tandem")
	first := siteAuthTime(t, b, w)
	eventually(t, "the next second", func() bool { return time.Now().Truncate(time.Second).After(first) })
	logins := w.idp.Logins()
	p := b.signInOIDC(w.srv.ReauthURL(w.url("tandem", "/sign?x=1")), "alice@corp.example")
	if w.idp.Logins() != logins+1 || p.url != w.url("tandem", "/sign?x=1") {
		t.Fatalf("re-authentication: %d logins, at %s", w.idp.Logins()-logins, p.url)
	}
	if again := siteAuthTime(t, b, w); !again.After(first) {
		t.Errorf("auth_time %s then %s", first, again)
	}
	// The session the new one replaced is gone.
	stale := w.browser()
	stale.follow = false
	u, _ := url.Parse(w.url("tandem", "/"))
	stale.jar.SetCookies(u, []*http.Cookie{{Name: "tandem_session", Value: old}})
	if p := stale.get(w.url("tandem", "/")); p.status != http.StatusFound {
		t.Errorf("the replaced session: %d", p.status)
	}

	b.follow = false
	if p := b.do(http.MethodPost, w.url("tandem", "/__tandem/signout"), url.Values{}, "Origin", "http://evil.example"); p.status != http.StatusForbidden {
		t.Errorf("a sign-out from elsewhere: %d", p.status)
	}
	p = b.do(http.MethodPost, w.url("tandem", "/__tandem/signout"), url.Values{}, "Origin", w.url("tandem", ""))
	if p.status != http.StatusSeeOther || p.header.Get("Location") != w.url("auth", "/signout") {
		t.Errorf("sign-out: %d %s", p.status, p.header.Get("Location"))
	}
	if p := b.get(w.url("tandem", "/")); p.status != http.StatusFound {
		t.Errorf("after signing out: %d", p.status)
	}
}

func sessionValue(b *browser, host string) string {
	for _, c := range b.cookies(host) {
		if c.Name == "tandem_session" {
			return c.Value
		}
	}
	return ""
}

func siteAuthTime(t *testing.T, b *browser, w *world) time.Time {
	t.Helper()
	p := b.get(w.url("tandem", "/"))
	f := strings.Fields(strings.TrimPrefix(p.body[:strings.Index(p.body, "</p>")], "<p id=who>"))
	at, err := time.Parse(time.RFC3339, f[len(f)-1])
	if err != nil {
		t.Fatalf("%s: %v", p.body, err)
	}
	return at
}

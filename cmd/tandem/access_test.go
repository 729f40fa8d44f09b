package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/internal/testbrowser"
	"github.com/tandem-dev/tandem/internal/testmail"
	"github.com/tandem-dev/tandem/internal/testoidc"
)

// gatedServer is a tandem serve whose previews of the example stack are
// private, with single sign-on at a real OpenID Provider and codes mailed
// through a real SMTP server.
type gatedServer struct {
	*server
	idp  *testoidc.Provider
	mail *testmail.Server
	port string // the gateway's, which browsers use
}

func newGatedServer(t *testing.T) *gatedServer {
	idp := testoidc.Start(t,
		testoidc.User{Subject: "u-alice", Email: "alice@corp.example", Name: "Alice Example"},
		testoidc.User{Subject: "u-bob", Email: "bob@elsewhere.example", Name: "Bob"})
	mp := testmail.Start(t)
	repo := exampleRepo(t)
	dir := t.TempDir()
	s := &server{t: t, dir: dir, gateway: fmt.Sprintf("127.0.0.1:%d", freePort(t)), api: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	g := &gatedServer{server: s, idp: idp, mail: mp, port: strings.Split(s.gateway, ":")[1]}
	idp.AddClient("tandem", "oidc-client-secret", "http://auth.previews.example.com:"+g.port+"/oidc/callback")
	if err := os.WriteFile(filepath.Join(dir, "oidc-secret"), []byte("oidc-client-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "tandem.yaml"), fmt.Sprintf(`data: data
domain: previews.example.com
listen: %s
api: %s
repos:
  - name: shop
    url: %s
    compose: docker-compose.yml
    grants:
      - { role: viewer, domain: corp.example }
auth:
  max_tries: 3
  oidc:
    issuer: %s
    client_id: tandem
    client_secret_file: oidc-secret
    name: Corp SSO
smtp:
  host: %s
  port: %d
  tls: none
  from: tandem <previews@example.com>
`, s.gateway, s.api, repo, idp.Issuer, mp.Host, mp.Port))
	s.api = "http://" + s.api
	s.start()
	return g
}

// url is an address on a host under the preview domain, as browsers see it.
func (g *gatedServer) url(host, pathQuery string) string {
	return "http://" + host + ".previews.example.com:" + g.port + pathQuery
}

// client is an HTTP client that reaches every host under the domain at
// the gateway, with a cookie jar, following no redirect.
func (g *gatedServer) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: g.dialGateway},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// djangoEcho is what Django said it received, from /api/echo/.
type djangoEcho struct {
	Host          string   `json:"host"`
	Cookie        bool     `json:"cookie"`
	CookieNames   []string `json:"cookie_names"`
	Authorization bool     `json:"authorization"`
	TandemHeaders []string `json:"tandem_headers"`
}

func decodeDjangoEcho(t *testing.T, body string) djangoEcho {
	t.Helper()
	var e struct {
		Status string     `json:"status"`
		Data   djangoEcho `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Status != "success" {
		t.Fatalf("not Django's echo: %.500s", body)
	}
	return e.Data
}

// browserDjangoEcho opens /api/echo/ in the browser and returns what Django got.
func browserDjangoEcho(t *testing.T, g *gatedServer, b context.Context) djangoEcho {
	t.Helper()
	_, text := testbrowser.Open(t, b, g.url("pr-1", "/api/echo/"))
	return decodeDjangoEcho(t, text)
}

// appLogin signs in to the example's own Django session in the browser,
// through its login page, and waits for the home page to show the user.
func appLogin(t *testing.T, g *gatedServer, b context.Context) {
	t.Helper()
	testbrowser.Open(t, b, g.url("pr-1", "/login"))
	testbrowser.Do(t, b,
		chromedp.WaitVisible(chromedp.ID("login-username")),
		chromedp.SendKeys(chromedp.ID("login-username"), "demo"),
		chromedp.SendKeys(chromedp.ID("login-password"), "demo-password"),
		chromedp.Click(chromedp.ID("login-submit")))
	testbrowser.WaitFor(t, b, "the home page to show the user",
		`location.pathname === "/" && document.getElementById("auth-status")?.textContent === "Signed in as demo"`)
}

// sessionsSideBySide checks that both sessions work in the browser, and
// what Django received: its own cookies, never tandem's, nor an X-Tandem-*
// header.
func sessionsSideBySide(t *testing.T, g *gatedServer, b context.Context) {
	t.Helper()
	appLogin(t, g, b)
	e := browserDjangoEcho(t, g, b)
	if !slices.Contains(e.CookieNames, "sessionid") || !slices.Contains(e.CookieNames, "csrftoken") {
		t.Errorf("Django lacks its own cookies: %v", e.CookieNames)
	}
	for _, c := range e.CookieNames {
		if strings.Contains(c, "tandem") {
			t.Errorf("Django received tandem's cookie: %v", e.CookieNames)
		}
	}
	if len(e.TandemHeaders) != 0 {
		t.Errorf("Django received %v", e.TandemHeaders)
	}
	var names []string
	for _, c := range testbrowser.Cookies(t, b, g.url("pr-1", "/")) {
		names = append(names, c.Name)
		if c.Name == "tandem_session" && (!c.HTTPOnly || c.SameSite != "lax" || c.Domain != "pr-1.previews.example.com") {
			t.Errorf("tandem's cookie: %+v", c)
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"csrftoken", "sessionid", "tandem_session"}) {
		t.Errorf("the browser's cookies for pr-1: %v", names)
	}
}

// TestAccessBrowser runs the browser side of private previews through a
// real tandem serve, its gateway and the example stack, in Chromium.
func TestAccessBrowser(t *testing.T) {
	needRoot(t)
	if testbrowser.Path() == "" {
		t.Skip("no Chromium")
	}
	g := newGatedServer(t)
	if code, out := g.cli("create", "pr-1", "--repo", "shop", "--ref", "main"); code != 0 || !strings.Contains(out, "pr-1 is ready") {
		t.Fatalf("create: %d %s", code, out)
	}
	rules := testbrowser.Options{HostRules: "MAP *.previews.example.com 127.0.0.1"}

	t.Run("an API client gets 401 in JSON, Django nothing", func(t *testing.T) {
		r := g.get("pr-1", "/api/echo/", map[string]string{"Accept": "application/json"})
		if e := decode(t, r); r.status != http.StatusUnauthorized || e.Status != "error" || e.Error == nil || !strings.Contains(*e.Error, "private") {
			t.Errorf("%d %s", r.status, r.body)
		}
	})

	t.Run("single sign-on in Chromium, then the application's own login", func(t *testing.T) {
		b := testbrowser.New(t, rules)
		loc, _ := testbrowser.Open(t, b, g.url("pr-1", "/"))
		if !strings.HasPrefix(loc, g.url("auth", "/signin?rd=")) {
			t.Fatalf("an unauthenticated browser went to %s", loc)
		}
		testbrowser.Do(t, b, chromedp.Click(chromedp.ID("sso")), chromedp.WaitVisible(chromedp.ID("username")),
			chromedp.SendKeys(chromedp.ID("username"), "alice@corp.example"), chromedp.Click(chromedp.ID("signin")),
			chromedp.WaitVisible(chromedp.ID("auth-status")))
		if loc, text := testbrowser.Page(t, b); loc != g.url("pr-1", "/") || !strings.Contains(text, "Not signed in") {
			t.Fatalf("after signing in: %s %.300s", loc, text)
		}
		sessionsSideBySide(t, g, b)
	})

	var shareID string
	shareBrowser := testbrowser.New(t, rules) // used again after the revoke
	t.Run("a share link and an emailed code in Chromium, then the application's own login", func(t *testing.T) {
		code, out, stderr := runSplit(t, "share", "pr-1", "--email", "client@client.example", "--ttl", "2h", "--config", filepath.Join(g.dir, "tandem.yaml"))
		link := strings.TrimSpace(out)
		if code != 0 || !strings.HasPrefix(link, g.url("auth", "/share?k=")) {
			t.Fatalf("share: %d %q %s", code, out, stderr)
		}
		shareID = regexp.MustCompile(`share link (s_\w+)`).FindStringSubmatch(stderr)[1]
		b := shareBrowser
		testbrowser.Open(t, b, link)
		testbrowser.Do(t, b, chromedp.Click(chromedp.ID("send-code")), chromedp.WaitVisible(chromedp.ID("code")))
		mailCode := g.mail.Wait(t, "client@client.example", 0).Code(t)
		testbrowser.Do(t, b, chromedp.SendKeys(chromedp.ID("code"), mailCode), chromedp.Click(chromedp.ID("open")),
			chromedp.WaitVisible(chromedp.ID("auth-status")))
		if loc, text := testbrowser.Page(t, b); loc != g.url("pr-1", "/") || !strings.Contains(text, "Not signed in") {
			t.Fatalf("after the code: %s %.300s", loc, text)
		}
		sessionsSideBySide(t, g, b)
	})

	t.Run("the bypass header lets CI in, and Django never sees it", func(t *testing.T) {
		code, out, stderr := runSplit(t, "token", "create", "--name", "e2e", "--role", "viewer", "--repo", "shop", "--config", filepath.Join(g.dir, "tandem.yaml"))
		if code != 0 {
			t.Fatalf("token create: %d %s", code, stderr)
		}
		r := g.get("pr-1", "/api/echo/", map[string]string{"X-Tandem-Bypass": strings.TrimSpace(out), "X-Tandem-User": "alice@corp.example"})
		if r.status != http.StatusOK {
			t.Fatalf("%d %s", r.status, r.body)
		}
		if e := decodeDjangoEcho(t, r.body); len(e.TandemHeaders) != 0 || e.Cookie || e.Authorization {
			t.Errorf("Django received %+v", e)
		}
		if r := g.get("pr-1", "/api/echo/", map[string]string{"X-Tandem-Bypass": "tdm_not-a-token"}); r.status != http.StatusUnauthorized {
			t.Errorf("a wrong token: %d", r.status)
		}
	})

	t.Run("a revoked share link, and the session it opened, are refused", func(t *testing.T) {
		if code, out := run(t, "share", "pr-1", "--revoke", shareID, "--config", filepath.Join(g.dir, "tandem.yaml")); code != 0 {
			t.Fatalf("revoke: %d %s", code, out)
		}
		if loc, _ := testbrowser.Open(t, shareBrowser, g.url("pr-1", "/")); !strings.HasPrefix(loc, g.url("auth", "/signin")) {
			t.Errorf("after the revoke the share's browser is at %s", loc)
		}
	})

	t.Run("an expired share link is refused", func(t *testing.T) {
		_, out, _ := runSplit(t, "share", "pr-1", "--email", "late@client.example", "--ttl", "2s", "--config", filepath.Join(g.dir, "tandem.yaml"))
		link := strings.TrimSpace(out)
		c := g.client()
		eventually(t, "the link to expire", 30*time.Second, func() string {
			if r := fetch(t, c, "GET", link, nil, nil); r.status != http.StatusGone || !strings.Contains(r.body, "expired") {
				return fmt.Sprintf("%d", r.status)
			}
			return ""
		})
	})

	t.Run("guessing codes locks the link after the configured tries", func(t *testing.T) {
		_, out, _ := runSplit(t, "share", "pr-1", "--email", "guess@client.example", "--config", filepath.Join(g.dir, "tandem.yaml"))
		link := strings.TrimSpace(out)
		c := g.client()
		page := fetch(t, c, "GET", link, nil, map[string]string{"Accept": "text/html"})
		form := url.Values{"csrf": {regexp.MustCompile(`name=csrf value="([^"]+)"`).FindStringSubmatch(page.body)[1]},
			"k": {strings.TrimPrefix(link, g.url("auth", "/share?k="))}}
		post := func(path string, extra ...string) response {
			f := url.Values{}
			for k, v := range form {
				f[k] = v
			}
			for i := 0; i+1 < len(extra); i += 2 {
				f.Set(extra[i], extra[i+1])
			}
			return fetch(t, c, "POST", g.url("auth", path), strings.NewReader(f.Encode()), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
		}
		post("/share/send")
		right := g.mail.Wait(t, "guess@client.example", 0).Code(t)
		wrong := map[bool]string{true: "000000", false: "111111"}[right != "000000"]
		for i := 1; i <= 3; i++ {
			r := post("/share/verify", "code", wrong, "kind", "email")
			if want := map[bool]int{true: http.StatusGone, false: http.StatusUnauthorized}[i == 3]; r.status != want {
				t.Errorf("wrong code %d: %d", i, r.status)
			}
		}
		if r := post("/share/verify", "code", right, "kind", "email"); r.status != http.StatusGone || !strings.Contains(r.body, "locked") {
			t.Errorf("the right code on a locked link: %d", r.status)
		}
	})

	t.Run("every sign-in, share, revoke and first visit is an event with the person", func(t *testing.T) {
		var events []tandem.AccessEvent
		eventually(t, "the events", 30*time.Second, func() string {
			resp, err := g.apiGet("/v1/access/events")
			if err != nil {
				return err.Error()
			}
			defer resp.Body.Close()
			events = nil
			json.NewDecoder(resp.Body).Decode(&events)
			for _, want := range []struct{ kind, actor string }{
				{"person.signed_in", "alice@corp.example"},
				{"preview.visited", "alice@corp.example"},
				{"share.created", ""}, {"share.code_sent", ""},
				{"share.used", "client@client.example (share link " + shareID + ")"},
				{"preview.visited", "client@client.example (share link " + shareID + ")"},
				{"share.revoked", ""}, {"share.failed", ""}, {"share.locked", ""},
			} {
				if !slices.ContainsFunc(events, func(e tandem.AccessEvent) bool {
					return e.Kind == want.kind && (want.actor == "" || e.Actor == want.actor) && (e.Preview == "pr-1" || e.Kind == "person.signed_in")
				}) {
					return fmt.Sprintf("no %s event by %q in %d events", want.kind, want.actor, len(events))
				}
			}
			return ""
		})
		// One first visit per person and generation, however many requests.
		n := 0
		for _, e := range events {
			if e.Kind == "preview.visited" && e.Actor == "alice@corp.example" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d first visits of alice", n)
		}
	})

	t.Run("the access log attributes requests to people and the generation", func(t *testing.T) {
		eventually(t, "attributed lines", 30*time.Second, func() string {
			b, _ := os.ReadFile(filepath.Join(g.dir, "data", "logs", "access.log"))
			for _, want := range []string{`"principal":"alice@corp.example","generation":1`, `"principal":"client@client.example (share link ` + shareID + `)"`, `"principal":"token e2e (`} {
				if !strings.Contains(string(b), want) {
					return "no " + want
				}
			}
			return ""
		})
	})
}

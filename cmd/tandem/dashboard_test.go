package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/tandem-dev/tandem/internal/testbrowser"
	"github.com/tandem-dev/tandem/internal/testmail"
	"github.com/tandem-dev/tandem/internal/testoidc"
	"github.com/tandem-dev/tandem/sqlite"
)

// dashServer is a tandem serve of the example stack with its dashboard:
// private previews, single sign-on at a real OpenID Provider, codes mailed
// through a real SMTP server, and a review plan in the repository.
// Alice administers everything; Victor may only view shop's previews.
type dashServer struct {
	*server
	idp  *testoidc.Provider
	mail *testmail.Server
	port string // the gateway's, which browsers use
}

// dashReviewPlan is the example's review plan in these tests: the home
// page with a screenshot, and one stage an approver signs.
const dashReviewPlan = `checklist:
  - id: home
    text: The home page lists the seeded articles
    page: /
    requires_evidence: true
stages:
  - name: qa
`

func newDashServer(t *testing.T) *dashServer {
	idp := testoidc.Start(t,
		testoidc.User{Subject: "u-alice", Email: "alice@corp.example", Name: "Alice Example"},
		testoidc.User{Subject: "u-victor", Email: "victor@corp.example", Name: "Victor Viewer"})
	mp := testmail.Start(t)
	repo := exampleRepo(t)
	writeFile(t, filepath.Join(repo, ".tandem", "review.yaml"), dashReviewPlan)
	for _, args := range [][]string{{"add", ".tandem"}, {"commit", "-q", "-m", "a review plan"}} {
		gitIn(t, repo, args...)
	}
	dir := t.TempDir()
	// Cold: the list must show the preview building (next build) for a while.
	s := &server{t: t, dir: dir, gateway: fmt.Sprintf("127.0.0.1:%d", freePort(t)), api: fmt.Sprintf("127.0.0.1:%d", freePort(t)), cold: true}
	d := &dashServer{server: s, idp: idp, mail: mp, port: strings.Split(s.gateway, ":")[1]}
	idp.AddClient("tandem", "oidc-client-secret", "http://auth.previews.example.com:"+d.port+"/oidc/callback")
	if err := os.WriteFile(filepath.Join(dir, "oidc-secret"), []byte("oidc-client-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "tandem.yaml"), fmt.Sprintf(`data: data
domain: previews.example.com
listen: %s
api: %s
access:
  grants:
    - { role: admin, email: alice@corp.example }
repos:
  - name: shop
    url: %s
    compose: docker-compose.yml
    grants:
      - { role: viewer, email: victor@corp.example }
auth:
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
	return d
}

// url is an address on a host under the preview domain, as browsers see it.
func (d *dashServer) url(host, pathQuery string) string {
	return "http://" + host + ".previews.example.com:" + d.port + pathQuery
}

// dashRun is what a run of the dashboard's test keeps: where the browser
// was, each page's HTML for the search for secrets, and its screenshots.
type dashRun struct {
	t     *testing.T
	d     *dashServer
	shots string // where screenshots go
	axe   string // axe-core's script

	mu    sync.Mutex
	n     int
	pages map[string]string // page name → HTML, as the browser had it
}

// page records the browser's current page: its HTML, a full-page
// screenshot, and an accessibility check by axe-core run in the page,
// which fails the test on a serious or critical violation.
func (r *dashRun) page(b context.Context, name string) string {
	r.t.Helper()
	html, err := chromedp.Run(b, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
	if err != nil {
		r.t.Fatalf("%s: %v", name, err)
	}
	png, err := chromedp.Run(b, chromedp.FullScreenshot(100))
	if err != nil {
		r.t.Fatalf("screenshot of %s: %v", name, err)
	}
	r.mu.Lock()
	r.n++
	file := filepath.Join(r.shots, fmt.Sprintf("%02d-%s.png", r.n, name))
	r.pages[name] = html
	r.mu.Unlock()
	if err := os.WriteFile(file, png, 0o644); err != nil {
		r.t.Fatal(err)
	}
	r.t.Logf("screenshot of %s: %s", name, file)
	r.accessible(b, name)
	return html
}

// axeViolation is what axe-core reports of a rule a page breaks.
type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// accessible runs axe-core in the page (injected as DevTools would: the
// dashboard's policy runs no script but its own).
func (r *dashRun) accessible(b context.Context, name string) {
	r.t.Helper()
	if _, err := chromedp.Run(b, chromedp.Evaluate[chromedp.Void](r.axe)); err != nil {
		r.t.Fatalf("injecting axe-core into %s: %v", name, err)
	}
	c, cancel := context.WithTimeout(b, time.Minute)
	defer cancel()
	vs, err := chromedp.Run(c, chromedp.Evaluate[[]axeViolation](`axe.run(document, {resultTypes: ["violations"]}).then(r =>
		r.violations.map(v => ({id: v.id, impact: v.impact || "", help: v.help, nodes: v.nodes.slice(0, 5).map(n => n.target.join(" "))})))`, chromedp.EvalAwaitPromise))
	if err != nil {
		r.t.Fatalf("axe-core on %s: %v", name, err)
	}
	for _, v := range vs {
		if v.Impact == "serious" || v.Impact == "critical" {
			r.t.Errorf("accessibility of %s: %s (%s): %s at %v", name, v.ID, v.Impact, v.Help, v.Nodes)
		} else {
			r.t.Logf("accessibility of %s, %s: %s (%s) at %v", name, v.Impact, v.ID, v.Help, v.Nodes)
		}
	}
}

var (
	axeOnce sync.Once
	axeJS   string
	axeErr  error
)

// axeSource returns axe-core's script, installed by npm from the
// dashboard's package-lock.json into a directory of its own per user (the
// source tree stays as it is), once, and again when the lock changes.
func axeSource(t *testing.T) string {
	t.Helper()
	axeOnce.Do(func() {
		src := filepath.Join(repoRoot(t), "dashboard")
		lock, err := os.ReadFile(filepath.Join(src, "package-lock.json"))
		if axeErr = err; err != nil {
			return
		}
		pkg, _ := os.ReadFile(filepath.Join(src, "package.json"))
		dir := filepath.Join(os.TempDir(), fmt.Sprintf("tandem-axe-%d", os.Getuid()))
		script := filepath.Join(dir, "node_modules", "axe-core", "axe.min.js")
		if kept, err := os.ReadFile(filepath.Join(dir, "package-lock.json")); err != nil || string(kept) != string(lock) || !exists(script) {
			tmp, err := os.MkdirTemp(os.TempDir(), "tandem-axe-")
			if axeErr = err; err != nil {
				return
			}
			os.WriteFile(filepath.Join(tmp, "package.json"), pkg, 0o644)
			os.WriteFile(filepath.Join(tmp, "package-lock.json"), lock, 0o644)
			cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts")
			cmd.Dir = tmp
			if out, err := cmd.CombinedOutput(); err != nil {
				axeErr = fmt.Errorf("npm ci of axe-core: %v\n%s", err, out)
				return
			}
			os.RemoveAll(dir)
			if axeErr = os.Rename(tmp, dir); axeErr != nil {
				return
			}
		}
		b, err := os.ReadFile(script)
		axeJS, axeErr = string(b), err
	})
	if axeErr != nil {
		t.Fatal(axeErr)
	}
	return axeJS
}

func exists(path string) bool { _, err := os.Stat(path); return err == nil }

// waitJS waits until the JavaScript expression js is true in the page,
// for as long as timeout: a preview's build takes minutes.
func waitJS(t *testing.T, b context.Context, what, js string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, cancel := context.WithTimeout(b, 5*time.Second)
		ok, err := chromedp.Run(c, chromedp.Evaluate[bool](js))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			loc, text := testbrowser.Page(t, b)
			t.Fatalf("browser: waited %s for %s (%v) at %s\npage: %.1500s", timeout, what, err, loc, text)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// eval runs js in the page, which may return a promise, into T.
func eval[T any](t *testing.T, b context.Context, js string) T {
	t.Helper()
	c, cancel := context.WithTimeout(b, time.Minute)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluating %.80s: %v", js, err)
	}
	return v
}

// signIn signs in on the sign-in host with single sign-on, from the
// dashboard, as user, and waits for the previews' list.
func (r *dashRun) signIn(b context.Context, user string) {
	r.t.Helper()
	loc, _ := testbrowser.Open(r.t, b, r.d.url("tandem", "/"))
	if !strings.HasPrefix(loc, r.d.url("auth", "/signin?rd=")) {
		r.t.Fatalf("the dashboard sent a browser without a session to %s", loc)
	}
	testbrowser.Do(r.t, b, chromedp.Click(chromedp.ID("sso")), chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), user), chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("previews")))
	if loc, _ := testbrowser.Page(r.t, b); loc != r.d.url("tandem", "/") {
		r.t.Fatalf("signed in at %s", loc)
	}
	if who := eval[string](r.t, b, `document.getElementById("who").textContent`); who != user {
		r.t.Fatalf("signed in as %q", who)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// TestDashboard runs the dashboard end to end in Chromium against a real
// tandem serve of the example stack: sign in, watch a preview go from
// building to ready without reloading, follow its logs, pass a checklist
// item with a captured screenshot, sign the approval after signing in
// again, see the timeline and the audit log show it, manage tokens, and
// destroy the preview; a viewer is refused every action, however it is
// sent; no page shows a secret; every page passes axe-core.
func TestDashboard(t *testing.T) {
	needRoot(t)
	if testbrowser.Path() == "" {
		t.Skip("no Chromium")
	}
	run := &dashRun{t: t, axe: axeSource(t), shots: t.TempDir(), pages: map[string]string{}}
	if dir := os.Getenv("TANDEM_DASHBOARD_SHOTS"); dir != "" { // to keep them after the run
		run.shots = dir
		os.MkdirAll(dir, 0o755)
	}
	d := newDashServer(t)
	run.d = d
	rules := testbrowser.Options{HostRules: "MAP *.previews.example.com 127.0.0.1"}
	alice := testbrowser.New(t, rules)
	// The dashboard's policy allows its own script only; axe-core is
	// brought in as DevTools brings scripts in.
	if _, err := chromedp.Call(alice, page.SetBypassCSP, page.SetBypassCSPParams{Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(alice, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{} // what no page may show → the one page that may
	t.Run("sign in with single sign-on", func(t *testing.T) {
		run.t = t
		run.signIn(alice, "alice@corp.example")
		for _, c := range testbrowser.Cookies(t, alice, d.url("tandem", "/")) {
			if c.Name == "tandem_session" {
				if !c.HTTPOnly || c.SameSite != "lax" || c.Domain != "tandem.previews.example.com" {
					t.Errorf("the dashboard's cookie: %+v", c)
				}
				secrets[c.Value] = ""
			}
		}
	})
	t.Run("a preview goes from building to ready without reloading", func(t *testing.T) {
		run.t = t
		dashWatchBuild(t, run, alice)
		db, err := sqlite.Open(filepath.Join(d.dir, "data", "tandem.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		values, err := db.Secrets(context.Background(), "pr-1")
		if err != nil || len(values) < 2 {
			t.Fatalf("pr-1's secrets: %v %v", values, err)
		}
		for _, v := range values {
			secrets[v] = ""
		}
		token, _ := os.ReadFile(filepath.Join(d.dir, "data", "api-token"))
		secrets[strings.TrimSpace(string(token))] = ""
		secrets["oidc-client-secret"] = ""
	})
	t.Run("the preview's page, its services and its logs, live", func(t *testing.T) {
		run.t = t
		dashLogs(t, run, alice)
	})
	t.Run("share links", func(t *testing.T) {
		run.t = t
		testbrowser.Open(t, alice, d.url("tandem", "/previews/pr-1"))
		testbrowser.Do(t, alice, chromedp.SendKeys(chromedp.ID("share-email"), "client@client.example"), chromedp.Click(chromedp.ID("share-create")),
			chromedp.WaitVisible(chromedp.ID("share-url")))
		link := eval[string](t, alice, `document.getElementById("share-url").value`)
		if !strings.HasPrefix(link, d.url("auth", "/share?k=")) {
			t.Fatalf("the share link: %q", link)
		}
		secrets[strings.TrimPrefix(link, d.url("auth", "/share?k="))] = "share-made"
		run.page(alice, "share-made")
		d.mail.Wait(t, "client@client.example", 0)
		testbrowser.Open(t, alice, d.url("tandem", "/previews/pr-1"))
		if text := eval[string](t, alice, `document.getElementById("shares").textContent`); !strings.Contains(text, "client@client.example") {
			t.Errorf("the share links: %s", text)
		}
	})
	t.Run("a checklist item passes with a captured screenshot, and the approval is signed after signing in again", func(t *testing.T) {
		run.t = t
		dashReview(t, run, alice)
	})
	t.Run("the audit log shows the review and exports it", func(t *testing.T) {
		run.t = t
		testbrowser.Open(t, alice, d.url("tandem", "/audit?repo=shop&preview=pr-1"))
		text := eval[string](t, alice, `document.getElementById("entries").textContent`)
		for _, want := range []string{"preview.created", "checklist.result", "signature", "approved by Alice Example"} {
			if !strings.Contains(text, want) {
				t.Errorf("the audit page lacks %q: %.2000s", want, text)
			}
		}
		got := eval[[]int](t, alice, `fetch(document.getElementById("export").href).then(r => r.arrayBuffer().then(b => [r.status, new Uint8Array(b)[0], new Uint8Array(b)[1], b.byteLength]))`)
		if got[0] != 200 || got[1] != 0x1f || got[2] != 0x8b || got[3] < 1000 {
			t.Errorf("the export: %v", got)
		}
		run.page(alice, "audit")
	})
	t.Run("settings: a token shown once", func(t *testing.T) {
		run.t = t
		testbrowser.Open(t, alice, d.url("tandem", "/settings"))
		run.page(alice, "settings")
		testbrowser.Do(t, alice, chromedp.SendKeys(chromedp.ID("token-name"), "e2e-dashboard"), chromedp.Click(chromedp.ID("token-create")),
			chromedp.WaitVisible(chromedp.ID("token-secret")))
		secret := eval[string](t, alice, `document.getElementById("token-secret").value`)
		if !strings.HasPrefix(secret, "tdm_") {
			t.Fatalf("the token's secret: %q", secret)
		}
		secrets[secret] = "token-made"
		run.page(alice, "token-made")
		testbrowser.Open(t, alice, d.url("tandem", "/settings"))
		run.page(alice, "settings-after")
	})
	t.Run("readable on a phone", func(t *testing.T) {
		run.t = t
		testbrowser.Do(t, alice, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
		defer testbrowser.Do(t, alice, chromedp.EmulateViewport(1280, 900))
		for _, path := range []string{"/", "/previews/pr-1", "/previews/pr-1/review"} {
			testbrowser.Open(t, alice, d.url("tandem", path))
			if wide := eval[bool](t, alice, `document.documentElement.scrollWidth > window.innerWidth + 1`); wide {
				t.Errorf("%s is wider than a phone: %d > %d", path, eval[int](t, alice, `document.documentElement.scrollWidth`), eval[int](t, alice, `window.innerWidth`))
			}
			run.page(alice, "phone"+strings.ReplaceAll(strings.TrimSuffix(path, "/"), "/", "-"))
		}
	})
	t.Run("a viewer is refused every action", func(t *testing.T) {
		run.t = t
		dashViewer(t, run, rules)
	})
	t.Run("the preview is destroyed, and leaves the list", func(t *testing.T) {
		run.t = t
		testbrowser.Open(t, alice, d.url("tandem", "/previews/pr-1"))
		testbrowser.Do(t, alice, chromedp.Click(chromedp.ID("destroy")), chromedp.WaitVisible(chromedp.ID("confirm")))
		run.page(alice, "destroy")
		testbrowser.Do(t, alice, chromedp.Click(chromedp.ID("confirm")), chromedp.WaitVisible(chromedp.ID("notice")))
		testbrowser.Do(t, alice, chromedp.Evaluate[chromedp.Void](`window.__stayed = true`))
		waitJS(t, alice, "pr-1 to leave the list", `!document.querySelector('tr[data-name="pr-1"]') && window.__stayed === true`, 5*time.Minute)
		if s := d.state("pr-1"); s != "absent" {
			t.Errorf("pr-1 after the destroy: %s", s)
		}
		run.page(alice, "destroyed")
	})
	t.Run("no page shows a secret", func(t *testing.T) {
		for _, host := range []string{"tandem", "auth"} { // the sessions as they are now, after the re-authentication
			for _, c := range testbrowser.Cookies(t, alice, d.url(host, "/")) {
				if c.Name == "tandem_session" {
					secrets[c.Value] = ""
				}
			}
		}
		if len(secrets) < 8 {
			t.Fatalf("only %d secrets to look for", len(secrets))
		}
		for name, html := range run.pages {
			for secret, only := range secrets {
				if secret != "" && only != name && strings.Contains(html, secret) {
					t.Errorf("the page %s shows a secret (%.6s…)", name, secret)
				}
			}
		}
	})
}

// dashWatchBuild makes pr-1 while the list is open, and watches its row
// go through building to ready, with the page never reloaded.
func dashWatchBuild(t *testing.T, run *dashRun, b context.Context) {
	d := run.d
	run.page(b, "previews-empty")
	waitJS(t, b, "the list's live stream", `document.getElementById("previews").dataset.connected === "1"`, time.Minute)
	testbrowser.Do(t, b, chromedp.Evaluate[chromedp.Void](`window.__stayed = true; window.__states = [];
		new MutationObserver(() => {
			const r = document.querySelector('tr[data-name="pr-1"]');
			if (r && window.__states[window.__states.length - 1] !== r.dataset.state) window.__states.push(r.dataset.state);
		}).observe(document.getElementById("previews"), {subtree: true, childList: true, attributes: true})`))
	if code, out := d.cli("create", "pr-1", "--repo", "shop", "--ref", "main", "--pr", "1", "--author", "dev@corp.example", "--detach"); code != 0 {
		t.Fatalf("create: %d %s", code, out)
	}
	waitJS(t, b, "pr-1 building", `window.__states.includes("building")`, 2*time.Minute)
	run.page(b, "previews-building")
	waitJS(t, b, "pr-1 ready", `window.__states[window.__states.length - 1] === "ready" || window.__states.includes("failed")`, 15*time.Minute)
	states := eval[[]string](t, b, `window.__states`)
	if states[len(states)-1] != "ready" || !eval[bool](t, b, `window.__stayed === true`) {
		t.Fatalf("pr-1 went through %v (the page stayed: %v)", states, eval[bool](t, b, `window.__stayed === true`))
	}
	t.Logf("pr-1's row went through %v without a reload", states)
	run.page(b, "previews-ready")
}

// dashLogs opens pr-1's page and its API's output, makes a request the
// API logs, and waits for its line to appear.
func dashLogs(t *testing.T, run *dashRun, b context.Context) {
	d := run.d
	testbrowser.Do(t, b, chromedp.Click(chromedp.CSS(`a[href="/previews/pr-1"]`)), chromedp.WaitVisible(chromedp.ID("summary")))
	waitJS(t, b, "the services", `["api", "web", "db"].every(s => document.querySelector('#services tr[data-service="' + s + '"]'))`, time.Minute)
	text := eval[string](t, b, `document.getElementById("timeline").textContent + document.getElementById("summary").textContent`)
	if !strings.Contains(text, "ready") || !strings.Contains(text, "Generation") {
		t.Errorf("pr-1's page: %.2000s", text)
	}
	run.page(b, "preview")
	testbrowser.Do(t, b, chromedp.Click(chromedp.CSS(`#services tr[data-service="api"] a.logs-link`)), chromedp.WaitVisible(chromedp.ID("log")))
	waitJS(t, b, "the log's live stream", `document.getElementById("log").dataset.connected === "1"`, time.Minute)
	testbrowser.Do(t, b, chromedp.Evaluate[chromedp.Void](`window.__stayed = true`))
	marker := "dash-" + randomHex(6)
	token, _ := os.ReadFile(filepath.Join(d.dir, "data", "api-token"))
	if r := d.get("pr-1", "/api/echo/?marker="+marker, map[string]string{"X-Tandem-Bypass": strings.TrimSpace(string(token))}); r.status != http.StatusOK {
		t.Fatalf("the request to log: %d %.300s", r.status, r.body)
	}
	waitJS(t, b, "the request's line", `[...document.querySelectorAll("#log li")].some(li => li.textContent.includes("`+marker+`")) && window.__stayed === true`, time.Minute)
	// The search filters as it is typed.
	testbrowser.Do(t, b, chromedp.SendKeys(chromedp.ID("log-q"), marker))
	waitJS(t, b, "the search", `[...document.querySelectorAll("#log li:not([hidden])")].length === 1`, 10*time.Second)
	got := eval[string](t, b, `fetch(document.getElementById("download").href).then(r => r.text())`)
	if !strings.Contains(got, "query=marker="+marker) {
		t.Errorf("the download lacks the line: %.500s", got)
	}
	run.page(b, "logs")
}

// dashReview passes the checklist item with a capture of its page, then
// signs the stage: asked to sign in again at the identity provider first.
func dashReview(t *testing.T, run *dashRun, b context.Context) {
	d := run.d
	testbrowser.Open(t, b, d.url("tandem", "/previews/pr-1/review"))
	run.page(b, "review")
	testbrowser.Do(t, b, chromedp.Click(chromedp.ID("capture-home")), chromedp.WaitVisible(chromedp.ID("notice")))
	waitJS(t, b, "the screenshot's thumbnail", `(() => { const i = document.querySelector("#item-home img"); return i && i.complete && i.naturalWidth >= 1000; })()`, time.Minute)
	run.page(b, "review-checked")
	logins := d.idp.Logins()
	testbrowser.Do(t, b, chromedp.Click(chromedp.ID("sign-qa")), chromedp.WaitVisible(chromedp.ID("meaning")))
	meaning := eval[string](t, b, `document.getElementById("meaning").textContent`)
	if !strings.Contains(meaning, "I, Alice Example (alice@corp.example), sign stage qa of the review of pr-1 as approved") {
		t.Errorf("the meaning shown before signing: %s", meaning)
	}
	run.page(b, "sign")
	testbrowser.Do(t, b, chromedp.SendKeys(chromedp.ID("comment"), "Looks right on the home page"), chromedp.Click(chromedp.ID("reauth")),
		chromedp.WaitVisible(chromedp.ID("sso")), chromedp.Click(chromedp.ID("sso")),
		chromedp.WaitVisible(chromedp.ID("username")), chromedp.SendKeys(chromedp.ID("username"), "alice@corp.example"), chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("sign-now")))
	if d.idp.Logins() != logins+1 {
		t.Errorf("signing did not ask the identity provider to sign in again")
	}
	run.page(b, "sign-reauthenticated")
	testbrowser.Do(t, b, chromedp.Click(chromedp.ID("sign-now")), chromedp.WaitVisible(chromedp.ID("notice")))
	text := eval[string](t, b, `document.getElementById("stages").textContent + document.getElementById("review-state").textContent`)
	if !regexp.MustCompile(`approved\s+by Alice Example \(alice@corp.example`).MatchString(text) || !strings.HasSuffix(text, "approved") {
		t.Errorf("the review after signing: %.2000s", text)
	}
	run.page(b, "review-signed")
	testbrowser.Open(t, b, d.url("tandem", "/previews/pr-1"))
	timeline := eval[string](t, b, `document.getElementById("timeline").textContent`)
	for _, want := range []string{"checklist.result", "checklist item home: pass", "signature", "approved by Alice Example", "re-authenticated by oidc"} {
		if !strings.Contains(timeline, want) {
			t.Errorf("the timeline lacks %q: %.3000s", want, timeline)
		}
	}
	run.page(b, "preview-reviewed")
}

// dashViewer signs Victor, a viewer of shop, in: the pages show him no
// action, and each action's form, posted with his own anti-forgery token
// as a page's script would post it, is refused.
func dashViewer(t *testing.T, run *dashRun, rules testbrowser.Options) {
	d := run.d
	b := testbrowser.New(t, rules)
	if _, err := chromedp.Call(b, page.SetBypassCSP, page.SetBypassCSPParams{Enabled: true}); err != nil {
		t.Fatal(err)
	}
	run.signIn(b, "victor@corp.example")
	if eval[bool](t, b, `!!document.querySelector('a[href="/settings"]') || !document.querySelector('tr[data-name="pr-1"]')`) {
		t.Errorf("a viewer's list shows settings, or not pr-1")
	}
	run.page(b, "viewer-previews")
	testbrowser.Open(t, b, d.url("tandem", "/previews/pr-1"))
	if eval[bool](t, b, `!!(document.getElementById("destroy") || document.getElementById("redeploy") || document.getElementById("share-form"))`) {
		t.Errorf("a viewer is shown actions on pr-1")
	}
	run.page(b, "viewer-preview")
	testbrowser.Open(t, b, d.url("tandem", "/previews/pr-1/review"))
	if eval[bool](t, b, `!!document.querySelector("form[action$='/review/checks'], a[id^='sign-'], input[type=file]")`) {
		t.Errorf("a viewer is shown review actions")
	}
	run.page(b, "viewer-review")
	// What the viewer tries to act on exists: the refusal is for the role.
	shareID, tokenID := dashID(t, d, "/v1/previews/pr-1/shares", `"id":"(s_\w+)"`), dashID(t, d, "/v1/tokens", `"id":"(t_\w+)","name":"e2e-dashboard"`)
	grantID := dashID(t, d, "/v1/grants", `"id":(\d+),"repo":"\*","role":"admin","email":"alice@corp.example"`)
	statuses := eval[map[string]int](t, b, `(async () => {
		const csrf = document.querySelector("meta[name=csrf-token]").content;
		const share = "`+shareID+`", token = "`+tokenID+`", grant = "`+grantID+`";
		const posts = {
			"/previews/pr-1/redeploy": {}, "/previews/pr-1/destroy": {},
			"/previews/pr-1/shares": {email: "x@client.example"}, ["/previews/pr-1/shares/" + share + "/revoke"]: {},
			"/previews/pr-1/review/checks": {item: "home", result: "pass"},
			"/previews/pr-1/review/sign": {stage: "qa", code: "123456"}, "/previews/pr-1/review/sign/reauth": {stage: "qa"},
			"/previews/pr-1/review/code": {stage: "qa"},
			"/settings/grants": {role: "admin", repo: "shop", kind: "email", value: "victor@corp.example"},
			["/settings/grants/" + grant + "/remove"]: {}, "/settings/tokens": {name: "mine", role: "admin", repo: "shop"}, ["/settings/tokens/" + token + "/revoke"]: {},
		};
		const out = {};
		for (const [path, fields] of Object.entries(posts)) {
			const r = await fetch(path, {method: "POST", body: new URLSearchParams({csrf, ...fields}), redirect: "manual"});
			out["POST " + path] = r.status;
		}
		for (const path of ["/settings", "/previews/pr-1/destroy", "/previews/pr-1/redeploy", "/previews/pr-1/review/sign?stage=qa"]) {
			out["GET " + path] = (await fetch(path, {redirect: "manual"})).status;
		}
		return out;
	})()`)
	if len(statuses) != 16 {
		t.Errorf("%d answers: %v", len(statuses), statuses)
	}
	for what, status := range statuses {
		if status != http.StatusForbidden {
			t.Errorf("a viewer, %s: %d", what, status)
		}
	}
	// The same with no token is refused before anything else is looked at.
	if got := eval[int](t, b, `fetch("/previews/pr-1/destroy", {method: "POST", redirect: "manual"}).then(r => r.status)`); got != http.StatusForbidden {
		t.Errorf("a form without its token: %d", got)
	}
	if s := d.state("pr-1"); !strings.HasPrefix(s, "ready") {
		t.Errorf("pr-1 after a viewer's tries: %s", s)
	}
	testbrowser.Open(t, b, d.url("tandem", "/settings"))
	run.page(b, "viewer-settings-refused")
}

// dashID reads an ID from what the API answers at path, with the
// server's own token.
func dashID(t *testing.T, d *dashServer, path, pattern string) string {
	t.Helper()
	resp, err := d.apiGet(path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(pattern).FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("%s: no %s in %.500s", path, pattern, b)
	}
	return m[1]
}

// tandem.yaml's dashboard says where the dashboard answers.
func TestDashboardConfig(t *testing.T) {
	for _, tc := range []struct{ name, file, host, url string }{
		{"default", "domain: p.example.com\nlisten: 127.0.0.1:8080\n" + repos, "tandem.p.example.com", "http://tandem.p.example.com:8080"},
		{"its own host", "domain: p.example.com\ndashboard: {host: Previews.Corp.Example.}\npublic_scheme: https\npublic_port: \"443\"\n" + repos, "previews.corp.example", "https://previews.corp.example:443"},
	} {
		cfg, err := readServeConfig(serveConfigFile(t, tc.file))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if cfg.dashboardHost() != tc.host || cfg.publicURL(cfg.dashboardHost()) != tc.url {
			t.Errorf("%s: %s at %s", tc.name, cfg.dashboardHost(), cfg.publicURL(cfg.dashboardHost()))
		}
	}
	for _, tc := range []struct{ name, file, want string }{
		{"not a host", "domain: p.example.com\ndashboard:\n  host: \"tandem example\"\n" + repos, `tandem.yaml:3: dashboard: host "tandem example" is not a host name`},
		{"the sign-in host's", "domain: p.example.com\nauth: {host: in.p.example.com}\ndashboard:\n  host: in.p.example.com\n" + repos,
			`tandem.yaml:4: dashboard: host in.p.example.com is the sign-in host's`},
		{"an unknown key", "domain: p.example.com\ndashboard: {port: 9}\n" + repos, `field port not found`},
	} {
		file := serveConfigFile(t, tc.file)
		if _, err := readServeConfig(file); err == nil || !strings.Contains(err.Error(), strings.Replace(tc.want, "tandem.yaml", file, 1)) {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.want)
		}
	}
}

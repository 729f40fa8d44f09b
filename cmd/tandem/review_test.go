package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/internal/testbrowser"
	"github.com/tandem-dev/tandem/internal/testmail"
	"github.com/tandem-dev/tandem/internal/testoidc"
	"github.com/tandem-dev/tandem/internal/testutil"
)

// reviewPlan is the example repository's review plan in these tests.
const reviewPlan = `checklist:
  - id: home
    text: The home page lists the seeded articles
    page: /
    requires_evidence: true
  - id: article
    text: An article renders on its own page
    page: /articles/one-origin-for-two-servers
    viewport: 1024x768
  - id: api
    text: The API's test suite passes
stages:
  - name: qa
    groups: [qa]
  - name: product
    groups: [product]
    people: [qa@corp.example]
`

// reviewServer is a tandem serve of the example stack whose previews are
// private and reviewed: people sign in at a real OpenID Provider, codes
// are mailed through a real SMTP server, pages are captured in Chromium.
type reviewServer struct {
	*server
	idp    *testoidc.Provider
	mail   *testmail.Server
	port   string // the gateway's
	config string // tandem.yaml
	repo   string
}

func newReviewServer(t *testing.T) *reviewServer {
	idp := testoidc.Start(t,
		testoidc.User{Subject: "u-qa", Email: "qa@corp.example", Name: "Quinn Analyst", Groups: []string{"qa"}},
		testoidc.User{Subject: "u-pm", Email: "pm@corp.example", Name: "Pat Manager", Groups: []string{"product"}},
		testoidc.User{Subject: "u-dev", Email: "dev@corp.example", Name: "Dana Developer", Groups: []string{"qa"}})
	mp := testmail.Start(t)
	repo := exampleRepo(t)
	gitIn(t, repo, "checkout", "-q", "main")
	writeFile(t, filepath.Join(repo, tandem.ReviewPlanFile), reviewPlan)
	gitIn(t, repo, "add", "-A")
	gitIn(t, repo, "commit", "-q", "-m", "the review plan")
	gitIn(t, repo, "checkout", "-q", "-b", "review-update")
	page := filepath.Join(repo, "frontend", "app", "page.js")
	b, _ := os.ReadFile(page)
	os.WriteFile(page, []byte(strings.Replace(string(b), "<h1>Articles</h1>", "<h1>Articles, changed after the approvals</h1>", 1)), 0o644)
	gitIn(t, repo, "commit", "-q", "-am", "a change after the approvals")
	gitIn(t, repo, "checkout", "-q", "main")

	dir := t.TempDir()
	s := &server{t: t, dir: dir, gateway: fmt.Sprintf("127.0.0.1:%d", freePort(t)), api: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	r := &reviewServer{server: s, idp: idp, mail: mp, port: strings.Split(s.gateway, ":")[1], config: filepath.Join(dir, "tandem.yaml"), repo: repo}
	idp.AddClient("tandem", "oidc-client-secret", "http://auth.previews.example.com:"+r.port+"/oidc/callback")
	if err := os.WriteFile(filepath.Join(dir, "oidc-secret"), []byte("oidc-client-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	writeFile(t, r.config, fmt.Sprintf(`data: data
domain: previews.example.com
listen: %s
api: %s
repos:
  - name: shop
    url: %s
    compose: docker-compose.yml
    grants:
      - { role: approver, domain: corp.example }
auth:
  oidc:
    issuer: %s
    client_id: tandem
    client_secret_file: oidc-secret
    name: Corp SSO
    scopes: [openid, email, profile, groups]
smtp:
  host: %s
  port: %d
  tls: none
  from: tandem <previews@example.com>
review:
  chromium: %s
  reauth_max_age: 2s
`, s.gateway, s.api, repo, idp.Issuer, mp.Host, mp.Port, testbrowser.Path()))
	s.api = "http://" + s.api
	s.start()
	return r
}

func (r *reviewServer) url(host, pathQuery string) string {
	return "http://" + host + ".previews.example.com:" + r.port + pathQuery
}

// signIn signs a person in on the sign-in host with single sign-on.
func (r *reviewServer) signIn(t *testing.T, b context.Context, email string) {
	t.Helper()
	testbrowser.Open(t, b, r.url("auth", "/signin"))
	testbrowser.Do(t, b, chromedp.Click(chromedp.ID("sso")), chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), email), chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("who")))
}

// enrollTOTP enrolls an authenticator app on the sign-in host and returns
// its secret.
func (r *reviewServer) enrollTOTP(t *testing.T, b context.Context) string {
	t.Helper()
	testbrowser.Open(t, b, r.url("auth", "/totp"))
	secret, err := chromedp.Run(b, chromedp.Text(chromedp.ID("secret")))
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.GenerateCode(secret, time.Now())
	testbrowser.Do(t, b, chromedp.SendKeys(chromedp.ID("code"), code), chromedp.Click(chromedp.ID("enroll")), chromedp.WaitVisible(chromedp.ID("message")))
	if _, text := testbrowser.Page(t, b); !strings.Contains(text, "enrolled") {
		t.Fatalf("TOTP enrolment: %s", text)
	}
	return secret
}

// login runs tandem login and approves it in the person's browser, and
// returns a file holding the token of their own it got.
func (r *reviewServer) login(t *testing.T, b context.Context, who string) string {
	t.Helper()
	out, errOut := &testutil.Buffer{}, &testutil.Buffer{}
	done := make(chan int, 1)
	go func() {
		done <- Main(context.Background(), []string{"login", "--server", r.api}, strings.NewReader(""), out, errOut)
	}()
	var code string
	eventually(t, "tandem login's code", 30*time.Second, func() string {
		if m := regexp.MustCompile(`shows the code ([A-Z]{4}-[A-Z]{4})`).FindStringSubmatch(errOut.String()); m != nil {
			code = m[1]
			return ""
		}
		return "no code yet: " + errOut.String()
	})
	testbrowser.Open(t, b, r.url("auth", "/device?code="+code))
	testbrowser.Do(t, b, chromedp.Click(chromedp.ID("approve")), chromedp.WaitVisible(chromedp.ID("message")))
	select {
	case c := <-done:
		if c != 0 || !strings.Contains(out.String(), "as "+who) {
			t.Fatalf("tandem login: %d %s %s", c, out, errOut)
		}
	case <-time.After(time.Minute):
		t.Fatal("tandem login did not end")
	}
	token, err := savedToken(r.api)
	if err != nil || token == "" {
		t.Fatalf("no token saved: %v", err)
	}
	path := filepath.Join(t.TempDir(), "token")
	writeFile(t, path, token+"\n")
	return path
}

// review runs tandem review as the holder of the token in file.
func (r *reviewServer) review(t *testing.T, tokenFile string, args ...string) (int, string, string) {
	t.Helper()
	return runSplit(t, append(append([]string{"review"}, args...), "--server", r.api, "--token-file", tokenFile)...)
}

// sessionCookie is the browser's session on the sign-in host.
func sessionCookie(t *testing.T, r *reviewServer, b context.Context) string {
	t.Helper()
	for _, c := range testbrowser.Cookies(t, b, r.url("auth", "/")) {
		if c.Name == "tandem_session" {
			return c.Name + "=" + c.Value
		}
	}
	t.Fatal("the browser has no session on the sign-in host")
	return ""
}

// apiAs sends an API request with a browser's session cookie.
func (r *reviewServer) apiAs(t *testing.T, cookie, method, path string, body any) response {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	return fetch(t, http.DefaultClient, method, r.api+path, rd, map[string]string{"Cookie": cookie, "Content-Type": "application/json"})
}

// evidenceFile reads an evidence file the server keeps.
func (r *reviewServer) evidenceFile(t *testing.T, digest string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.dir, "data", "evidence", "sha256", strings.TrimPrefix(digest, "sha256:")))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// realRender checks that a PNG is a render of a page: its size, and many
// colors, not a blank.
func realRender(t *testing.T, data []byte, width, minHeight int) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	bounds := img.Bounds()
	if bounds.Dx() != width || bounds.Dy() < minHeight {
		t.Errorf("the screenshot is %dx%d, want %d wide and at least %d high", bounds.Dx(), bounds.Dy(), width, minHeight)
	}
	if n := colors(img); n < 16 {
		t.Errorf("%d colors: a blank page?", n)
	}
}

func colors(img image.Image) int {
	seen := map[color.RGBA]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, _ := img.At(x, y).RGBA()
			seen[color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), 0}] = true
		}
	}
	return len(seen)
}

// reviewJSON is tandem review status --json.
type reviewJSON struct {
	tandem.ReviewState
	Summary string `json:"summary"`
}

func (r *reviewServer) status(t *testing.T, tokenFile string) reviewJSON {
	t.Helper()
	code, out, stderr := r.review(t, tokenFile, "status", "pr-7", "--json")
	var st reviewJSON
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
		t.Fatalf("review status: %d %s %s", code, out, stderr)
	}
	return st
}

// TestReviewPipeline reviews a preview of the example stack end to end,
// with one tandem serve: people who signed in with single sign-on, the
// CLI and the API as them, captures of the example's pages in Chromium,
// two stages signed in order with re-authentication, separation of
// duties, a new commit that supersedes the approvals, and an export of the
// log that verifies offline.
func TestReviewPipeline(t *testing.T) {
	needRoot(t)
	if testbrowser.Path() == "" {
		t.Skip("no Chromium")
	}
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(t.TempDir(), "config"))
	r := newReviewServer(t)
	if code, out := r.cli("create", "pr-7", "--repo", "shop", "--ref", "main", "--pr", "7", "--author", "dev@corp.example"); code != 0 || !strings.Contains(out, "pr-7 is ready") {
		t.Fatalf("create: %d %s", code, out)
	}
	rules := testbrowser.Options{HostRules: "MAP *.previews.example.com 127.0.0.1"}
	qaBrowser, pmBrowser, devBrowser := testbrowser.New(t, rules), testbrowser.New(t, rules), testbrowser.New(t, rules)
	r.signIn(t, qaBrowser, "qa@corp.example")
	secret := r.enrollTOTP(t, qaBrowser)
	qa := r.login(t, qaBrowser, "qa@corp.example")
	r.signIn(t, pmBrowser, "pm@corp.example")
	pmSignedIn := time.Now()
	pm := r.login(t, pmBrowser, "pm@corp.example")
	r.signIn(t, devBrowser, "dev@corp.example")
	code, out, stderr := runSplit(t, "token", "create", "--name", "ci", "--role", "reviewer", "--repo", "shop", "--config", r.config)
	if code != 0 {
		t.Fatalf("token create: %d %s", code, stderr)
	}
	ci := filepath.Join(t.TempDir(), "ci-token")
	writeFile(t, ci, out)

	var first reviewJSON
	t.Run("the plan read at the commit", func(t *testing.T) {
		first = r.status(t, qa)
		if first.State != tandem.ReviewInProgress || first.Generation != 1 || first.Plan.Source != tandem.ReviewPlanFile ||
			first.PlanDigest != first.Binding.ReviewPlan || first.Author != "dev@corp.example" || len(first.Checklist) != 3 ||
			first.Stages[0].State != tandem.StageOpen || first.Stages[1].State != tandem.StageWaiting {
			t.Fatalf("status: %+v", first)
		}
	})

	t.Run("pages captured in Chromium through the gateway as the reviewer", func(t *testing.T) {
		code, out, stderr := r.review(t, qa, "check", "pr-7", "home", "--pass", "--capture", "--note", "all eight articles", "--json")
		var res tandem.ChecklistResult
		if code != 0 || json.Unmarshal([]byte(out), &res) != nil || len(res.Evidence) != 3 {
			t.Fatalf("check home: %d %s %s", code, out, stderr)
		}
		realRender(t, r.evidenceFile(t, res.Evidence[0].Digest), 1280, 800)
		text := string(r.evidenceFile(t, res.Evidence[2].Digest))
		sum := sha256.Sum256([]byte(text))
		for _, title := range []string{"One Origin for Two Servers", "CSRF Behind a Gateway", "Tokens for Scripts and Phones"} {
			if !strings.Contains(text, title) {
				t.Errorf("the rendered text lacks %q: %.300s", title, text)
			}
		}
		if res.Evidence[2].Digest != "sha256:"+hex.EncodeToString(sum[:]) {
			t.Errorf("the text's digest %s is not of its text", res.Evidence[2].Digest)
		}
		var har struct {
			Log struct {
				Entries []struct {
					Request  struct{ URL string }
					Response struct{ Status int }
				}
			}
		}
		if err := json.Unmarshal(r.evidenceFile(t, res.Evidence[1].Digest), &har); err != nil {
			t.Fatal(err)
		}
		var urls []string
		for _, e := range har.Log.Entries {
			urls = append(urls, e.Request.URL)
		}
		if len(har.Log.Entries) < 3 || har.Log.Entries[0].Request.URL != r.url("pr-7", "/") || har.Log.Entries[0].Response.Status != 200 ||
			!slices.ContainsFunc(urls, func(u string) bool { return strings.Contains(u, "/_next/static/") }) {
			t.Errorf("the HAR's requests: %v", urls)
		}

		code, out, stderr = r.review(t, qa, "check", "pr-7", "article", "--pass", "--capture", "--json")
		if code != 0 || json.Unmarshal([]byte(out), &res) != nil {
			t.Fatalf("check article: %d %s %s", code, out, stderr)
		}
		realRender(t, r.evidenceFile(t, res.Evidence[0].Digest), 1024, 768)
		if text := string(r.evidenceFile(t, res.Evidence[2].Digest)); !strings.Contains(text, "One Origin for Two Servers") {
			t.Errorf("the article's text: %.300s", text)
		}
		// The gate let tandem's browser in as the reviewer, on this generation.
		eventually(t, "the captures in the access log", 30*time.Second, func() string {
			b, _ := os.ReadFile(filepath.Join(r.dir, "data", "logs", "access.log"))
			if !strings.Contains(string(b), `"principal":"qa@corp.example","generation":1`) {
				return "no request attributed to qa@corp.example"
			}
			return ""
		})
	})

	t.Run("CI uploads a report and records a result", func(t *testing.T) {
		report := filepath.Join(t.TempDir(), "junit.xml")
		writeFile(t, report, `<?xml version="1.0"?><testsuite name="api" tests="12" failures="0"></testsuite>`)
		code, out, stderr := r.review(t, ci, "evidence", "pr-7", "api", report, "--json")
		var res tandem.ChecklistResult
		if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Evidence[0].Name != "uploaded junit.xml" ||
			res.Evidence[0].MediaType != "text/plain; charset=utf-8" || !strings.HasPrefix(res.By, "token ci (") {
			t.Fatalf("evidence: %d %s %s", code, out, stderr)
		}
		if code, out, stderr := r.review(t, ci, "check", "pr-7", "api", "--pass", "--note", "12 tests"); code != 0 || !strings.Contains(out, "api: pass recorded for generation 1") {
			t.Fatalf("check api: %d %s %s", code, out, stderr)
		}
	})

	t.Run("signatures: in order, by whom the plan admits, never the author's", func(t *testing.T) {
		dev := sessionCookie(t, r, devBrowser)
		if res := r.apiAs(t, dev, "POST", "/v1/previews/pr-7/review/signatures", map[string]string{"stage": "qa", "code": "123456"}); res.status != http.StatusForbidden ||
			!strings.Contains(res.body, "dev@corp.example wrote this change") {
			t.Errorf("the author's signature: %d %s", res.status, res.body)
		}
		if code, _, stderr := r.review(t, pm, "approve", "pr-7", "--stage", "product", "--code", "123456"); code == 0 || !strings.Contains(stderr, "stage product waits for stage qa") {
			t.Errorf("product before qa: %d %s", code, stderr)
		}
		if code, _, stderr := r.review(t, qa, "approve", "pr-7", "--stage", "qa"); code == 0 || !strings.Contains(stderr, "prove who you are now") {
			t.Errorf("without a code: %d %s", code, stderr)
		}
		wrong, _ := totp.GenerateCode(secret, time.Now().Add(-10*time.Minute))
		if code, _, stderr := r.review(t, qa, "approve", "pr-7", "--stage", "qa", "--code", wrong); code == 0 || !strings.Contains(stderr, "code is wrong") {
			t.Errorf("a wrong code: %d %s", code, stderr)
		}
		// The enrolment used this time step's code: the next one is new.
		next, _ := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
		code, out, stderr := r.review(t, qa, "approve", "pr-7", "--stage", "qa", "--meaning", "approved", "--comment", "checked on the running build", "--code", next, "--json")
		var a tandem.Approval
		if code != 0 || json.Unmarshal([]byte(out), &a) != nil {
			t.Fatalf("qa's signature: %d %s %s", code, out, stderr)
		}
		if s := a.Signature; s.PrintedName != "Quinn Analyst" || s.Meaning != tandem.MeaningApproved || s.Reauth != "totp" || s.Stage != "qa" ||
			!strings.HasPrefix(s.Identity, "qa@corp.example (") || len(s.Checklist) != 3 || a.Generation != 1 {
			t.Errorf("signature %+v", a)
		}
		if code, _, stderr := r.review(t, qa, "approve", "pr-7", "--stage", "product", "--code", "123456"); code == 0 || !strings.Contains(stderr, "one person signs one stage") {
			t.Errorf("qa's second stage: %d %s", code, stderr)
		}
	})

	t.Run("a browser sign-in too old to sign with, then a mailed code", func(t *testing.T) {
		cookie := sessionCookie(t, r, pmBrowser)
		if time.Since(pmSignedIn) < 3*time.Second {
			t.Fatalf("pm signed in %s ago: the test needs an older sign-in than reauth_max_age (2s)", time.Since(pmSignedIn))
		}
		if res := r.apiAs(t, cookie, "POST", "/v1/previews/pr-7/review/signatures", map[string]string{"stage": "product"}); res.status != http.StatusUnauthorized ||
			!strings.Contains(res.body, "more than 2s") {
			t.Errorf("a stale sign-in: %d %s", res.status, res.body)
		}
		if code, _, stderr := r.review(t, pm, "code", "pr-7", "--stage", "product"); code != 0 {
			t.Fatalf("review code: %d %s", code, stderr)
		}
		m := r.mail.Wait(t, "pm@corp.example", 0)
		if !strings.Contains(m.Text, "sign stage product of the review of pr-7 at ") {
			t.Errorf("the mail: %s", m.Text)
		}
		code, out, stderr := r.review(t, pm, "approve", "pr-7", "--stage", "product", "--code", m.Code(t))
		if code != 0 || !strings.Contains(out, "Pat Manager signed product of pr-7 at ") || !strings.Contains(out, "email-code") {
			t.Fatalf("pm's signature: %d %s %s", code, out, stderr)
		}
		if st := r.status(t, pm); st.State != tandem.ReviewApproved || st.Summary != "approved: qa, product" {
			t.Errorf("after both stages: %s %q", st.State, st.Summary)
		}
	})

	var approvedAt string
	t.Run("a new commit supersedes the approvals", func(t *testing.T) {
		approvedAt = short(first.Binding.Commit)
		if code, out := r.cli("create", "pr-7", "--repo", "shop", "--ref", "review-update"); code != 0 || !strings.Contains(out, "pr-7 is ready") {
			t.Fatalf("update: %d %s", code, out)
		}
		st := r.status(t, qa)
		if st.Generation != 2 || st.State != tandem.ReviewInProgress || len(st.Superseded) != 2 || st.Stages[0].State != tandem.StageOpen ||
			len(st.Stages[0].Signatures) != 0 || st.Checklist[0].Result != nil || st.Binding.Commit == first.Binding.Commit {
			t.Errorf("after the update: %+v", st)
		}
		_, out, _ := r.review(t, qa, "status", "pr-7")
		if !strings.Contains(out, "approved at "+approvedAt+" by Quinn Analyst (stage qa), superseded") || !strings.Contains(out, "generation 2 at ") {
			t.Errorf("status:\n%s", out)
		}
		if code, _, stderr := r.review(t, qa, "check", "pr-7", "api", "--pass", "--generation", "1"); code == 0 || !strings.Contains(stderr, "now serves generation 2") {
			t.Errorf("a result for the old generation: %d %s", code, stderr)
		}
	})

	t.Run("the export verifies offline, with the signatures, screenshots and results", func(t *testing.T) {
		bundle := filepath.Join(t.TempDir(), "pr-7")
		if code, out := run(t, "audit", "export", "--config", r.config, "--preview", "pr-7", "-o", bundle); code != 0 {
			t.Fatalf("export: %d %s", code, out)
		}
		if code, out := run(t, "audit", "verify", bundle, "--key", filepath.Join(r.dir, "data", "audit", "log.pub")); code != 0 {
			t.Fatalf("verify: %d %s", code, out)
		}
		entries, _ := filepath.Glob(filepath.Join(bundle, "entries", "*.dsse.json"))
		kinds := map[tandem.AuditKind]int{}
		var signers []string
		screenshots := 0
		for _, f := range entries {
			var env struct{ Payload []byte }
			var st struct{ Predicate tandem.AuditEvent }
			b, _ := os.ReadFile(f)
			if json.Unmarshal(b, &env) != nil || json.Unmarshal(env.Payload, &st) != nil {
				t.Fatalf("%s is not an entry", f)
			}
			e := st.Predicate
			kinds[e.Kind]++
			if e.Signature != nil {
				signers = append(signers, e.Signature.PrintedName+" "+string(e.Signature.Meaning)+" "+e.Signature.Stage+" "+short(e.Binding.Commit))
			}
			for _, ev := range e.Evidence {
				data, err := os.ReadFile(filepath.Join(bundle, "evidence", "sha256", strings.TrimPrefix(ev.Digest, "sha256:")))
				if err != nil {
					t.Errorf("the bundle lacks %s (%s)", ev.Digest, ev.Name)
					continue
				}
				if ev.MediaType == "image/png" {
					screenshots++
					realRender(t, data, map[bool]int{true: 1024, false: 1280}[strings.Contains(ev.Name, "/articles/")], 700)
				}
			}
		}
		want := []string{"Quinn Analyst approved qa " + approvedAt, "Pat Manager approved product " + approvedAt}
		if !slices.Equal(signers, want) || kinds[tandem.AuditChecklistResult] != 3 || kinds[tandem.AuditEvidenceAdded] != 1 || screenshots != 2 ||
			kinds[tandem.AuditPreviewCreated] != 1 || kinds[tandem.AuditPreviewUpdated] != 1 {
			t.Errorf("the bundle: signatures %v, kinds %v, %d screenshots", signers, kinds, screenshots)
		}
		report, _ := os.ReadFile(filepath.Join(bundle, "report.html"))
		if !bytes.Contains(report, []byte("Quinn Analyst")) || !bytes.Contains(report, []byte(`<img class="evidence"`)) {
			t.Errorf("the report shows no signer or screenshot")
		}
	})
}

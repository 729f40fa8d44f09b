package dashboard

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/audit"
)

const (
	admin    = "admin@corp.example"
	viewer   = "viewer@corp.example"
	reviewer = "reviewer@corp.example"
)

func (w *world) previewsOfTwoRepos() {
	w.pv.put(tandem.Preview{Name: "pr-1", Repo: "shop", Ref: "refs/pull/1/head", PR: 1, Commit: "9f2c4e1d0b7a6c5e4f3a2b1c0d9e8f7a6b5c4d3e",
		State: tandem.PreviewReady, Generation: 1, Serving: 1, RequestReason: "opened pull request #1 <script>alert(1)</script>",
		Binding: tandem.Binding{Repo: "shop", Commit: "9f2c4e1d0b7a6c5e4f3a2b1c0d9e8f7a6b5c4d3e", StackDigest: "sha256:" + strings.Repeat("5", 64),
			Builds: map[string]string{"web": "sha256:" + strings.Repeat("7", 64)}}})
	w.pv.put(tandem.Preview{Name: "pr-2", Repo: "shop", Ref: "main", State: tandem.PreviewBuilding, Step: "build web", Generation: 1})
	w.pv.put(tandem.Preview{Name: "blog-9", Repo: "blog", Ref: "main", State: tandem.PreviewFailed, Error: "build web: exit status 1", Generation: 1})
}

func TestPagesRender(t *testing.T) {
	w := newWorld(t)
	w.previewsOfTwoRepos()
	w.pv.line("pr-1", "web", "GET / 200")
	if _, err := w.log.Append(context.Background(), tandem.AuditEvent{Kind: tandem.AuditPreviewCreated, Repo: "shop", Preview: "pr-1", Generation: 1,
		Actor: "tandem", Detail: "shop at refs/pull/1/head"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, want string }{
		{"/", `<a href="/previews/pr-1">pr-1</a>`},
		{"/previews/pr-1", "sha256:555555555555"},
		{"/previews/pr-1/logs/web", "GET / 200"},
		{"/previews/pr-1/destroy", "Destroy pr-1"},
		{"/previews/pr-1/redeploy", "Redeploy pr-1"},
		{"/audit", "preview.created"},
		{"/audit?repo=shop&preview=pr-1", "shop at refs/pull/1/head"},
		{"/settings", "viewer@corp.example"},
	} {
		r := w.get(admin, c.path)
		if r.status != http.StatusOK || !strings.Contains(r.body, c.want) {
			t.Errorf("%s: %d, wants %q: %.600s", c.path, r.status, c.want, r.body)
		}
		if r.header.Get("Content-Security-Policy") == "" || r.header.Get("X-Frame-Options") != "DENY" || r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: headers %v", c.path, r.header)
		}
		if !strings.Contains(r.body, `name=csrf-token content="`+testCSRF+`"`) || !strings.Contains(r.body, `<main id=main`) {
			t.Errorf("%s: no token or no main", c.path)
		}
		// What a pull request says is text, never markup.
		if strings.Contains(r.body, "<script>alert") {
			t.Errorf("%s: unescaped", c.path)
		}
	}
	// Times are UTC in the HTML, for the script to localise.
	if r := w.get(admin, "/"); !strings.Contains(r.body, `<time datetime="`) || !strings.Contains(r.body, ` UTC</time>`) {
		t.Errorf("times: %.400s", r.body)
	}
}

func TestFilterAndVisibility(t *testing.T) {
	w := newWorld(t)
	w.previewsOfTwoRepos()
	r := w.get(viewer, "/")
	if !strings.Contains(r.body, "pr-1") || !strings.Contains(r.body, "pr-2") || strings.Contains(r.body, "blog-9") {
		t.Errorf("a viewer of shop sees: %.2000s", r.body)
	}
	if r := w.get(admin, "/?q=%231"); !strings.Contains(r.body, "/previews/pr-1") || strings.Contains(r.body, "/previews/pr-2") {
		t.Errorf("#1: %.2000s", r.body)
	}
	if r := w.get(admin, "/?state=failed"); !strings.Contains(r.body, "/previews/blog-9") || strings.Contains(r.body, "/previews/pr-1") {
		t.Errorf("failed: %.2000s", r.body)
	}
	if r := w.get(admin, "/?q=9f2c4e1d"); !strings.Contains(r.body, "/previews/pr-1") || strings.Contains(r.body, "/previews/pr-2") {
		t.Errorf("a commit: %.2000s", r.body)
	}
	for _, path := range []string{"/previews/blog-9", "/previews/blog-9/logs/web", "/previews/blog-9/live", "/audit?repo=blog"} {
		if r := w.get(viewer, path); r.status != http.StatusForbidden {
			t.Errorf("a viewer of shop, %s: %d", path, r.status)
		}
	}
	if r := w.get("nobody@elsewhere.example", "/"); r.status != http.StatusOK || !strings.Contains(r.body, "no role") || strings.Contains(r.body, "pr-1") {
		t.Errorf("someone without a role: %d %.1000s", r.status, r.body)
	}
	if r := w.get("", "/"); r.status != http.StatusUnauthorized {
		t.Errorf("nobody: %d", r.status)
	}
}

// Every action is refused to a role that may not take it, and changes
// nothing; the buttons are not even shown.
func TestActionsByRole(t *testing.T) {
	w := newWorld(t)
	w.previewsOfTwoRepos()
	page := w.get(viewer, "/previews/pr-1")
	for _, hidden := range []string{`id=destroy`, `id=redeploy`, `id=share-form`, `href="/settings"`} {
		if strings.Contains(page.body, hidden) {
			t.Errorf("a viewer is shown %s", hidden)
		}
	}
	for _, c := range []struct {
		method, path string
		form         url.Values
	}{
		{"GET", "/previews/pr-1/destroy", nil},
		{"GET", "/previews/pr-1/redeploy", nil},
		{"POST", "/previews/pr-1/destroy", url.Values{}},
		{"POST", "/previews/pr-1/redeploy", url.Values{}},
		{"POST", "/previews/pr-1/shares", url.Values{"email": {"x@client.example"}}},
		{"POST", "/previews/pr-1/shares/s_x/revoke", url.Values{}},
		{"GET", "/settings", nil},
		{"POST", "/settings/grants", url.Values{"role": {"admin"}, "repo": {"shop"}, "kind": {"email"}, "value": {viewer}}},
		{"POST", "/settings/grants/1/remove", url.Values{}},
		{"POST", "/settings/tokens", url.Values{"name": {"mine"}, "role": {"admin"}, "repo": {"shop"}}},
		{"POST", "/settings/tokens/t_x/revoke", url.Values{}},
	} {
		r := w.do(viewer, c.method, c.path, c.form)
		if r.status != http.StatusForbidden && r.status != http.StatusNotFound {
			t.Errorf("a viewer, %s %s: %d %.300s", c.method, c.path, r.status, r.body)
		}
	}
	if p, err := w.pv.Get(context.Background(), "pr-1"); err != nil || p.Generation != 1 {
		t.Errorf("pr-1 after a viewer's tries: %v %v", p, err)
	}
	grants, _ := w.store.Grants(context.Background())
	tokens, _ := w.store.Tokens(context.Background())
	if len(grants) != 4 || len(tokens) != 0 {
		t.Errorf("%d grants, %d tokens after a viewer's tries", len(grants), len(tokens))
	}

	// A reviewer of shop may redeploy and destroy its previews, not blog's.
	if r := w.do(reviewer, "POST", "/previews/blog-9/destroy", url.Values{}); r.status != http.StatusForbidden {
		t.Errorf("a reviewer of shop destroys blog-9: %d", r.status)
	}
	if r := w.do(reviewer, "POST", "/previews/pr-1/redeploy", url.Values{}); r.status != http.StatusSeeOther || r.header.Get("Location") != "/previews/pr-1?done=redeployed" {
		t.Errorf("redeploy: %d %s", r.status, r.header.Get("Location"))
	}
	if p, _ := w.pv.Get(context.Background(), "pr-1"); p.Generation != 2 || p.Ref != "refs/pull/1/head" || p.PR != 1 {
		t.Errorf("after a redeploy: %+v", p)
	}
	if r := w.do(reviewer, "POST", "/previews/pr-2/destroy", url.Values{}); r.status != http.StatusSeeOther {
		t.Errorf("destroy: %d", r.status)
	}
	waitFor(t, "pr-2 to go", func() bool { _, err := w.pv.Get(context.Background(), "pr-2"); return err != nil })
}

// A form without the anti-forgery token changes nothing, whoever sends it.
func TestFormsNeedTheToken(t *testing.T) {
	w := newWorld(t)
	w.previewsOfTwoRepos()
	for _, path := range []string{"/previews/pr-1/destroy", "/previews/pr-1/redeploy", "/settings/tokens"} {
		if r := w.do(admin, "POST", path, url.Values{"csrf": {"wrong"}, "name": {"x"}, "role": {"viewer"}, "repo": {"shop"}}); r.status != http.StatusForbidden || !strings.Contains(r.body, "not sent from a page of the dashboard") {
			t.Errorf("%s: %d %.300s", path, r.status, r.body)
		}
	}
	if p, err := w.pv.Get(context.Background(), "pr-1"); err != nil || p.Generation != 1 {
		t.Errorf("pr-1: %v %v", p, err)
	}
}

// A token's secret is shown once, in the answer to the form that made it.
func TestTokenShownOnce(t *testing.T) {
	w := newWorld(t)
	r := w.do("shopadmin@corp.example", "POST", "/settings/tokens", url.Values{"name": {"ci"}, "role": {"reviewer"}, "repo": {"shop"}, "ttl": {"30d"}})
	i := strings.Index(r.body, `id=token-secret class=secret readonly value="`)
	if r.status != http.StatusCreated || i < 0 {
		t.Fatalf("%d %.800s", r.status, r.body)
	}
	secret := r.body[i+len(`id=token-secret class=secret readonly value="`):]
	secret = secret[:strings.IndexByte(secret, '"')]
	pr, err := tandem.TokenPrincipal(context.Background(), w.store, secret, time.Now())
	if err != nil || !pr.Can("shop", tandem.RoleReviewer) || pr.Can("blog", tandem.RoleViewer) {
		t.Fatalf("the token shown: %v %v", pr, err)
	}
	for _, path := range []string{"/settings", "/", "/audit"} {
		if r := w.get("shopadmin@corp.example", path); strings.Contains(r.body, secret) || !strings.Contains(w.get(admin, "/settings").body, ">ci<") {
			t.Errorf("%s shows the secret, or not the token", path)
		}
	}
	// An admin of shop makes no token of blog's, nor of every repository.
	for _, repo := range []string{"blog", "*"} {
		if r := w.do("shopadmin@corp.example", "POST", "/settings/tokens", url.Values{"name": {"x"}, "role": {"viewer"}, "repo": {repo}}); r.status != http.StatusForbidden {
			t.Errorf("a token of %s: %d", repo, r.status)
		}
	}
	// Only an admin of every repository sees people.
	if r := w.get("shopadmin@corp.example", "/settings"); strings.Contains(r.body, `id=people`) || !strings.Contains(r.body, `id=tokens`) {
		t.Errorf("an admin of shop's settings: %.300s", r.body)
	}
	id := pr.Token.ID
	if r := w.do("shopadmin@corp.example", "POST", "/settings/tokens/"+id+"/revoke", url.Values{}); r.status != http.StatusSeeOther {
		t.Errorf("revoke: %d", r.status)
	}
	if _, err := tandem.TokenPrincipal(context.Background(), w.store, secret, time.Now()); tandem.ErrorCode(err) != tandem.EUNAUTHORIZED {
		t.Errorf("a revoked token: %v", err)
	}
}

func TestGrants(t *testing.T) {
	w := newWorld(t)
	r := w.do(admin, "POST", "/settings/grants", url.Values{"role": {"approver"}, "repo": {"shop"}, "kind": {"domain"}, "value": {"Client.Example"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("%d %.300s", r.status, r.body)
	}
	grants, _ := w.store.Grants(context.Background())
	var added tandem.Grant
	for _, g := range grants {
		if g.Domain == "client.example" {
			added = g
		}
	}
	if added.Role != tandem.RoleApprover || added.Source != "api" {
		t.Fatalf("grants: %+v", grants)
	}
	if r := w.get(admin, "/settings"); !strings.Contains(r.body, "everyone @client.example") {
		t.Errorf("settings: %.300s", r.body)
	}
	if r := w.do(admin, "POST", "/settings/grants/"+itoa(added.ID)+"/remove", url.Values{}); r.status != http.StatusSeeOther {
		t.Errorf("remove: %d", r.status)
	}
	events, _ := w.store.AccessEvents(context.Background(), 0, 0)
	kinds := ""
	for _, e := range events {
		kinds += e.Kind + " by " + e.Actor + "; "
	}
	if !strings.Contains(kinds, "grant.added by "+admin) || !strings.Contains(kinds, "grant.removed by "+admin) {
		t.Errorf("events: %s", kinds)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// The list follows previews as they are made, change and go, and never
// names one of a repository the person may not view.
func TestLiveList(t *testing.T) {
	w := newWorld(t)
	w.previewsOfTwoRepos()
	s := w.stream(viewer, "/live/previews")
	names := s.next(t, "names", nil)
	if names.data != `["pr-1","pr-2"]` {
		t.Errorf("names: %s", names.data)
	}
	w.pv.put(tandem.Preview{Name: "pr-3", Repo: "shop", State: tandem.PreviewBuilding, Generation: 1})
	row := s.next(t, "row", func(e sseEvent) bool { return strings.Contains(e.data, `"name":"pr-3"`) })
	var u rowUpdate
	if json.Unmarshal([]byte(row.data), &u); u.Repo != "shop" || !strings.Contains(u.HTML, `data-state="building"`) {
		t.Errorf("row: %s", row.data)
	}
	w.pv.put(tandem.Preview{Name: "blog-10", Repo: "blog", State: tandem.PreviewBuilding, Generation: 1})
	w.pv.put(tandem.Preview{Name: "pr-3", Repo: "shop", State: tandem.PreviewReady, Generation: 1, Serving: 1})
	row = s.next(t, "row", func(e sseEvent) bool {
		return strings.Contains(e.data, `"name":"pr-3"`) && strings.Contains(e.data, "ready")
	})
	w.pv.Destroy(context.Background(), "blog-9")
	w.pv.Destroy(context.Background(), "pr-3")
	gone := s.next(t, "gone", nil)
	if gone.data != `{"name":"pr-3"}` {
		t.Errorf("gone: %s", gone.data)
	}
	s.cancel()
	for e := range s.events {
		if strings.Contains(e.data, "blog") {
			t.Errorf("a viewer of shop was told of %s", e.data)
		}
	}

	// With a filter, a preview that leaves it goes.
	f := w.stream(admin, "/live/previews?state=building")
	f.next(t, "names", func(e sseEvent) bool { return e.data == `["blog-10","pr-2"]` })
	w.pv.put(tandem.Preview{Name: "pr-2", Repo: "shop", State: tandem.PreviewReady, Generation: 1, Serving: 1})
	f.next(t, "gone", func(e sseEvent) bool { return e.data == `{"name":"pr-2"}` })
}

// A preview's page follows its events; its logs follow its output.
func TestLivePreviewAndLogs(t *testing.T) {
	w := newWorld(t)
	w.previewsOfTwoRepos()
	page := w.get(viewer, "/previews/pr-2")
	i := strings.Index(page.body, `data-live="`)
	live := page.body[i+len(`data-live="`):]
	live = strings.ReplaceAll(live[:strings.IndexByte(live, '"')], "&amp;", "&")
	s := w.stream(viewer, live)
	w.pv.event("pr-2", "step", "seed db")
	w.pv.event("pr-2", "log", "npm ci output")
	w.pv.put(tandem.Preview{Name: "pr-2", Repo: "shop", Ref: "main", State: tandem.PreviewReady, Generation: 1, Serving: 1})
	item := s.next(t, "item", nil)
	if !strings.Contains(item.data, "seed db") || item.id == "" {
		t.Errorf("item: %+v", item)
	}
	s.next(t, "summary", func(e sseEvent) bool { return strings.Contains(e.data, `id=state>ready<`) })
	s.cancel()
	for e := range s.events {
		if strings.Contains(e.data, "npm ci output") {
			t.Errorf("build output without asking: %s", e.data)
		}
	}

	w.pv.line("pr-2", "api", "one")
	l := w.stream(viewer, "/previews/pr-2/logs/api/live")
	l.next(t, "reset", nil)
	l.next(t, "line", func(e sseEvent) bool { return e.data == "one" })
	w.pv.line("pr-2", "api", "  two, indented")
	l.next(t, "line", func(e sseEvent) bool { return e.data == "  two, indented" })

	if r := w.get(viewer, "/previews/pr-2/logs/api?q=TWO"); !strings.Contains(r.body, "two, indented") || strings.Contains(r.body, "<li>one</li>") {
		t.Errorf("search: %.1500s", r.body)
	}
	r := w.get(viewer, "/previews/pr-2/logs/api/download")
	if r.body != "one\n  two, indented\n" || !strings.HasPrefix(r.header.Get("Content-Disposition"), `attachment; filename="pr-2-api-`) {
		t.Errorf("download: %q %v", r.body, r.header)
	}
}

func TestAuditExportVerifies(t *testing.T) {
	w := newWorld(t)
	w.previewsOfTwoRepos()
	for _, e := range []tandem.AuditEvent{
		{Kind: tandem.AuditPreviewCreated, Repo: "shop", Preview: "pr-1", Generation: 1, Actor: "tandem", Detail: "shop at main"},
		{Kind: tandem.AuditPreviewCreated, Repo: "blog", Preview: "blog-9", Generation: 1, Actor: "tandem", Detail: "blog at main"},
	} {
		if _, err := w.log.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	if r := w.get(viewer, "/audit"); !strings.Contains(r.body, "shop at main") || strings.Contains(r.body, "blog at main") || !strings.Contains(r.body, "previews.example.com/audit\n2\n") {
		t.Errorf("a viewer of shop's audit page: %.3000s", r.body)
	}
	if r := w.get(viewer, "/audit/export"); r.status != http.StatusForbidden {
		t.Errorf("a viewer of shop exports everything: %d", r.status)
	}
	r := w.get(viewer, "/audit/export?repo=shop")
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/gzip" {
		t.Fatalf("export: %d %.300s", r.status, r.body)
	}
	bundle := filepath.Join(t.TempDir(), "bundle.tar.gz")
	os.WriteFile(bundle, []byte(r.body), 0o600)
	v, err := audit.Verify(bundle, audit.VerifyOptions{})
	if err != nil || len(v.Entries) != 1 || v.Entries[0].Predicate.Repo != "shop" {
		t.Errorf("the bundle: %v %v", v, err)
	}
}

func TestStaticFiles(t *testing.T) {
	w := newWorld(t)
	r := w.get("", staticPath("dashboard.js"))
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/javascript") || !strings.Contains(r.header.Get("Cache-Control"), "immutable") {
		t.Errorf("%d %v", r.status, r.header)
	}
	for _, path := range []string{"/static/000000000000/dashboard.js", staticPath("../dashboard.go"), staticPath("nothing.js")} {
		if r := w.get("", path); r.status == http.StatusOK {
			t.Errorf("%s: %d", path, r.status)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 20s for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/forge"
	"github.com/tandem-dev/tandem/internal/testgitea"
	"github.com/tandem-dev/tandem/sqlite"
)

// forgeServer is tandem serve wired to a real Gitea: webhooks in, statuses
// and comments out.
type forgeServer struct {
	t       *testing.T
	g       *testgitea.Gitea
	dir     string
	api     string // http://127.0.0.1:PORT
	gateway string
	admin   string
	secret  string
	proc    *tandemProc
}

func (s *forgeServer) start() {
	s.proc = start(s.t, "serve", "--config", filepath.Join(s.dir, "tandem.yaml"))
	s.proc.waitOutput(s.t, "tandem: serving previews", time.Minute)
}

func (s *forgeServer) token() string {
	b, err := os.ReadFile(filepath.Join(s.dir, "data", "api-token"))
	if err != nil {
		s.t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// preview returns a preview as the API shows it, nil if there is none.
func (s *forgeServer) preview(name string) *tandem.Preview {
	req, _ := http.NewRequest("GET", s.api+"/v1/previews/"+name, nil)
	req.Header.Set("Authorization", "Bearer "+s.token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil
	}
	var p tandem.Preview
	json.NewDecoder(resp.Body).Decode(&p)
	return &p
}

// page fetches / of a preview through the gateway, with the bypass token
// (previews are private), or without it.
func (s *forgeServer) page(name string, bypass bool) (int, string) {
	return s.get(name, "/", bypass)
}

// path fetches a path of a preview, with the bypass token.
func (s *forgeServer) path(name, path string) (int, string) { return s.get(name, path, true) }

func (s *forgeServer) get(name, path string, bypass bool) (int, string) {
	req, _ := http.NewRequest("GET", "http://"+s.gateway+path, nil)
	req.Host = name + ".previews.example.com"
	if bypass {
		req.Header.Set("X-Tandem-Bypass", s.token())
	}
	c := &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitReady waits until a preview serves commit (any, if "").
func (s *forgeServer) waitReady(name, commit string) *tandem.Preview {
	s.t.Helper()
	var p *tandem.Preview
	waitUntil(s.t, 5*time.Minute, name+" ready at "+commit, func() bool {
		p = s.preview(name)
		if p != nil && p.State == tandem.PreviewFailed {
			s.t.Fatalf("%s failed at %s: %s\n%s", name, p.Step, p.Error, strings.Join(p.LogTail, "\n"))
		}
		return p != nil && p.State == tandem.PreviewReady && p.Serving == p.Generation && (commit == "" || p.Commit == commit)
	})
	return p
}

// hook posts a body to /hooks/gitea as Gitea would, signed with secret.
func (s *forgeServer) hook(event, delivery, body, secret string) (int, string) {
	req, _ := http.NewRequest("POST", s.api+"/hooks/gitea", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Gitea-Event", event)
	req.Header.Set("X-Gitea-Delivery", delivery)
	if secret != "" {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(body))
		req.Header.Set("X-Gitea-Signature", hex.EncodeToString(mac.Sum(nil)))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metric reads one counter from the admin address's /metrics.
func (s *forgeServer) metric(series string) string {
	resp, err := http.Get("http://" + s.admin + "/metrics")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			return v
		}
	}
	return "0"
}

type giteaStatus struct {
	State     string `json:"state"`
	Status    string `json:"status"` // Gitea's word for GitHub's state
	Context   string `json:"context"`
	TargetURL string `json:"target_url"`
}

type giteaComment struct {
	ID   int64  `json:"id"`
	Body string `json:"body"`
}

// tandemComments are the comments tandem keeps on a pull request.
func tandemComments(g *testgitea.Gitea, project string, number int) []giteaComment {
	var all, ours []giteaComment
	g.API(g.AdminToken, "GET", fmt.Sprintf("/repos/%s/issues/%d/comments", project, number), nil, &all)
	for _, c := range all {
		if strings.Contains(c.Body, "<!-- tandem:preview ") {
			ours = append(ours, c)
		}
	}
	return ours
}

// commitStatus is tandem's latest status on sha: the combined status has
// the latest of each context (the list of all is ordered by a time in
// seconds, which several statuses share).
func commitStatus(g *testgitea.Gitea, project, sha string) *giteaStatus {
	var combined struct {
		Statuses []giteaStatus `json:"statuses"`
	}
	g.API(g.AdminToken, "GET", fmt.Sprintf("/repos/%s/commits/%s/status", project, sha), nil, &combined)
	for _, st := range combined.Statuses {
		if st.Context == forge.StatusContext {
			if st.State == "" {
				st.State = st.Status
			}
			return &st
		}
	}
	return nil
}

func waitUntil(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", d, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// gitIn runs git in dir as a test author.
func gitIn(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@x", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@x")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v %s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// localRepo makes a git repository of testdata/forge/NAME on main.
func localRepo(t *testing.T, name string) string {
	dir := filepath.Join(t.TempDir(), name)
	if out, err := exec.Command("cp", "-r", filepath.Join("testdata", "forge", name), dir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	gitIn(t, dir, "init", "-q", "-b", "main")
	gitIn(t, dir, "add", "-A")
	gitIn(t, dir, "commit", "-q", "-m", "the stack")
	return dir
}

// commitFile writes a file on branch (made from main if new) and returns
// the new commit.
func commitFile(t *testing.T, dir, branch, file, content string) string {
	if gitIn(t, dir, "branch", "--list", branch) == "" {
		gitIn(t, dir, "checkout", "-q", "-b", branch, "main")
	} else {
		gitIn(t, dir, "checkout", "-q", branch)
	}
	writeFile(t, filepath.Join(dir, file), content)
	gitIn(t, dir, "add", "-A")
	gitIn(t, dir, "commit", "-q", "-m", "change "+file)
	sha := gitIn(t, dir, "rev-parse", "HEAD")
	gitIn(t, dir, "checkout", "-q", "main")
	return sha
}

// newForgeServer makes repositories shop and backend in Gitea with their
// webhooks, and starts tandem serve for them.
func newForgeServer(t *testing.T) *forgeServer {
	needRoot(t)
	g := testgitea.Start(t)
	s := &forgeServer{t: t, g: g, dir: t.TempDir(), secret: "hook-secret-" + fmt.Sprint(time.Now().UnixNano())}
	apiAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s.api, s.gateway, s.admin = "http://"+apiAddr, fmt.Sprintf("127.0.0.1:%d", freePort(t)), fmt.Sprintf("127.0.0.1:%d", freePort(t))
	for _, repo := range []string{"shop", "backend", "gated"} {
		// backend is private: tandem fetches it with the forge's credentials.
		g.API(g.AdminToken, "POST", "/user/repos", map[string]any{"name": repo, "default_branch": "main", "private": repo == "backend"}, nil)
		g.API(g.AdminToken, "POST", "/repos/"+g.Admin+"/"+repo+"/hooks", map[string]any{
			"type": "gitea", "active": true, "branch_filter": "*",
			"config": map[string]string{"url": s.api + "/hooks/gitea", "content_type": "json", "secret": s.secret},
			"events": []string{"pull_request", "pull_request_sync", "pull_request_label", "issue_comment", "pull_request_comment"},
		}, nil)
	}
	t.Setenv("TANDEM_TEST_GITEA_TOKEN", g.AdminToken) // tandem serve's environment: its previews' must not have it
	writeFile(t, filepath.Join(s.dir, "hook-secret"), s.secret+"\n")
	writeFile(t, filepath.Join(s.dir, "stripe-key"), "sk_test_only_for_us\n")
	writeFile(t, filepath.Join(s.dir, "tandem.yaml"), fmt.Sprintf(`data: data
domain: previews.example.com
listen: %s
api: %s
admin: %s
forges:
  - name: gitea
    type: gitea
    url: %s
    user: %s
    token: {env: TANDEM_TEST_GITEA_TOKEN}
    webhook_secret: {file: hook-secret}
repos:
  - name: shop
    url: %s
    compose: docker-compose.yml
    forge: {name: gitea, project: %s/shop, allow_label: preview-allow}
    services:
      api: {repo: backend, path: .}
    secrets:
      STRIPE_KEY: {file: stripe-key}
  - name: backend
    url: %s
    forge: {name: gitea, project: %s/backend}
  - name: gated
    url: %s
    compose: docker-compose.yml
    forge: {name: gitea, project: %s/gated, labels: [preview], paths: ["web/**"]}
`, s.gateway, apiAddr, s.admin, g.URL, g.Admin, g.CloneURL(g.Admin, "shop"), g.Admin, g.CloneURL(g.Admin, "backend"), g.Admin,
		g.CloneURL(g.Admin, "gated"), g.Admin))
	s.start()
	return s
}

// auditActor is who the audit log says made a preview.
func auditActor(t *testing.T, s *forgeServer, name string) string {
	db, err := sqlite.Open(filepath.Join(s.dir, "data", "tandem.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	recs, err := db.AuditRecords(context.Background(), tandem.AuditFilter{Preview: name})
	if err != nil || len(recs) == 0 {
		t.Fatalf("audit records of %s: %d %v", name, len(recs), err)
	}
	var env struct {
		Payload []byte `json:"payload"`
	}
	var st struct {
		Predicate tandem.AuditEvent `json:"predicate"`
	}
	if err := json.Unmarshal(recs[0].Envelope, &env); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(env.Payload, &st); err != nil {
		t.Fatal(err)
	}
	if st.Predicate.Kind != tandem.AuditPreviewCreated {
		t.Errorf("first entry of %s: %s", name, st.Predicate.Kind)
	}
	return st.Predicate.Actor
}

type giteaPR struct {
	Number int `json:"number"`
	Head   struct {
		SHA string `json:"sha"`
	} `json:"head"`
}

func TestForgeGitea(t *testing.T) {
	s := newForgeServer(t)
	g := s.g
	shopProject := g.Admin + "/shop"
	shop, backend := localRepo(t, "shop"), localRepo(t, "backend")
	g.Push(backend, g.AdminToken, g.Admin, "backend", "main")
	first := commitFile(t, shop, "feature", "web/title.txt", "Articles, edited in a pull request\n")
	g.Push(shop, g.AdminToken, g.Admin, "shop", "main", "feature")

	var pr giteaPR
	g.API(g.AdminToken, "POST", "/repos/"+shopProject+"/pulls", map[string]string{"head": "feature", "base": "main", "title": "Edit the title"}, &pr)
	name := forge.PreviewName("shop", pr.Number)

	t.Run("a pull request opened makes its preview, private, with the status and one comment", func(t *testing.T) {
		p := s.waitReady(name, first)
		if code, body := s.page(name, true); code != 200 || !strings.Contains(body, "Articles, edited in a pull request") ||
			!strings.Contains(body, "stripe: sk_test_only_for_us") || strings.Contains(body, "[badge") {
			t.Errorf("page: %d %s", code, body)
		}
		if code, body := s.page(name, false); code == 200 {
			t.Errorf("a preview made by a webhook answers anyone: %d %.200s", code, body)
		}
		if p.RequestedBy != "gitea:"+g.Admin || !strings.Contains(p.RequestReason, fmt.Sprintf("opened pull request #%d", pr.Number)) {
			t.Errorf("requested by %q, %q", p.RequestedBy, p.RequestReason)
		}
		if p.Binding.Sources["api"] == "" || !strings.HasPrefix(p.Binding.Sources["api"], "backend@") {
			t.Errorf("binding sources: %v", p.Binding.Sources)
		}
		// The forge's credentials reach no preview and no log.
		if code, env := s.path(name, "/env"); code != 200 || strings.Contains(env, g.AdminToken) || strings.Contains(env, s.secret) || !strings.Contains(env, "API_URL") {
			t.Errorf("the preview's environment: %d %.300s", code, env)
		}
		logs := s.proc.out.String()
		filepath.WalkDir(filepath.Join(s.dir, "data", "logs"), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				b, _ := os.ReadFile(p)
				logs += string(b)
			}
			return nil
		})
		if strings.Contains(logs, g.AdminToken) || strings.Contains(logs, s.secret) {
			t.Error("a forge credential shows in tandem's output or logs")
		}
		if actor := auditActor(t, s, name); actor != "gitea:"+g.Admin {
			t.Errorf("the audit log's entry names %q as who made the preview", actor)
		}
		waitUntil(t, time.Minute, "status and comment", func() bool {
			st := commitStatus(g, shopProject, first)
			cs := tandemComments(g, shopProject, pr.Number)
			return st != nil && st.State == "success" && len(cs) == 1 && strings.Contains(cs[0].Body, "ready")
		})
		st := commitStatus(g, shopProject, first)
		if st.TargetURL != p.URL {
			t.Errorf("status URL %q, want %q", st.TargetURL, p.URL)
		}
		c := tandemComments(g, shopProject, pr.Number)[0]
		for _, want := range []string{p.URL, first[:12], "Review", "api: backend@main"} {
			if !strings.Contains(c.Body, want) {
				t.Errorf("comment lacks %q:\n%s", want, c.Body)
			}
		}
	})

	t.Run("a push updates it, and the comment in place", func(t *testing.T) {
		before := tandemComments(g, shopProject, pr.Number)
		second := commitFile(t, shop, "feature", "web/title.txt", "Articles, pushed again\n")
		g.Push(shop, g.AdminToken, g.Admin, "shop", "feature")
		s.waitReady(name, second)
		if code, body := s.page(name, true); code != 200 || !strings.Contains(body, "Articles, pushed again") {
			t.Errorf("page after the push: %d %s", code, body)
		}
		waitUntil(t, time.Minute, "the comment updated", func() bool {
			cs := tandemComments(g, shopProject, pr.Number)
			st := commitStatus(g, shopProject, second)
			return len(cs) == 1 && strings.Contains(cs[0].Body, second[:12]) && st != nil && st.State == "success"
		})
		if after := tandemComments(g, shopProject, pr.Number); len(before) != 1 || after[0].ID != before[0].ID {
			t.Errorf("the comment was not edited in place: %v then %v", before, after)
		}
	})

	t.Run("a wrong or missing signature is refused and counted; a repeated delivery is ignored", func(t *testing.T) {
		body := `{"action":"opened","number":99,"pull_request":{"number":99,"head":{"sha":"` + strings.Repeat("a", 40) + `"}},"repository":{"full_name":"nobody/else"},"sender":{"login":"mallory"}}`
		refusedBefore := s.metric(`tandem_forge_webhooks_total{forge="gitea",result="refused"}`)
		if code, _ := s.hook("pull_request", "d-1", body, "not-the-secret"); code != 401 {
			t.Errorf("wrong signature: %d", code)
		}
		if code, _ := s.hook("pull_request", "d-1", body, ""); code != 401 {
			t.Errorf("no signature: %d", code)
		}
		if got := s.metric(`tandem_forge_webhooks_total{forge="gitea",result="refused"}`); got != "2" || refusedBefore != "0" {
			t.Errorf("refused counted %s (before %s), want 2", got, refusedBefore)
		}
		if code, out := s.hook("pull_request", "d-1", body, s.secret); code != 202 {
			t.Errorf("signed: %d %s", code, out)
		}
		if code, out := s.hook("pull_request", "d-1", body, s.secret); code != 200 || !strings.Contains(out, "duplicate") {
			t.Errorf("the same delivery again: %d %s", code, out)
		}
		if got := s.metric(`tandem_forge_webhooks_total{forge="gitea",result="duplicate"}`); got != "1" {
			t.Errorf("duplicates counted: %s", got)
		}
	})

	t.Run("a fork's pull request is held until someone with write access allows it, then runs without the secrets", func(t *testing.T) {
		g.API(g.UserToken, "POST", "/repos/"+shopProject+"/forks", map[string]any{}, nil)
		commitFile(t, shop, "from-fork", "web/title.txt", "Articles, from a fork\n")
		g.Push(shop, g.UserToken, g.User, "shop", "from-fork")
		var fpr giteaPR
		g.API(g.UserToken, "POST", "/repos/"+shopProject+"/pulls", map[string]string{"head": g.User + ":from-fork", "base": "main", "title": "From a fork"}, &fpr)
		fname := forge.PreviewName("shop", fpr.Number)
		waitUntil(t, time.Minute, "the held comment", func() bool {
			cs := tandemComments(g, shopProject, fpr.Number)
			return len(cs) == 1 && strings.Contains(cs[0].Body, "held")
		})
		if p := s.preview(fname); p != nil {
			t.Fatalf("a fork's preview before it was allowed: %+v", p)
		}
		if st := commitStatus(g, shopProject, fpr.Head.SHA); st == nil || st.State != "pending" {
			t.Errorf("held status: %+v", st)
		}
		// Its author may not allow it.
		g.API(g.UserToken, "POST", fmt.Sprintf("/repos/%s/issues/%d/comments", shopProject, fpr.Number), map[string]string{"body": forge.AllowCommand}, nil)
		g.API(g.AdminToken, "POST", fmt.Sprintf("/repos/%s/issues/%d/comments", shopProject, fpr.Number), map[string]string{"body": "Looks fine.\n" + forge.AllowCommand}, nil)
		p := s.waitReady(fname, fpr.Head.SHA)
		if !p.Untrusted {
			t.Error("a fork's preview is not marked untrusted")
		}
		if code, body := s.page(fname, true); code != 200 || !strings.Contains(body, "Articles, from a fork") || !strings.Contains(body, "stripe: withheld") {
			t.Errorf("fork page: %d %s", code, body)
		}
		db, err := sqlite.Open(filepath.Join(s.dir, "data", "tandem.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		events, _ := db.AccessEvents(context.Background(), 0, 0)
		var kinds []string
		for _, e := range events {
			if strings.HasPrefix(e.Kind, "forge.") {
				kinds = append(kinds, e.Kind+" by "+e.Actor)
			}
		}
		want := []string{"forge.fork_allow_refused by gitea:" + g.User, "forge.fork_allowed by gitea:" + g.Admin}
		if fmt.Sprint(kinds) != fmt.Sprint(want) {
			t.Errorf("access events %v, want %v", kinds, want)
		}

		// A push to the fork is held again: the allowance was for the
		// commit a maintainer saw. The allow label allows it.
		next := commitFile(t, shop, "from-fork", "web/title.txt", "Articles, from a fork, pushed again\n")
		g.Push(shop, g.UserToken, g.User, "shop", "from-fork")
		waitUntil(t, time.Minute, "held again", func() bool {
			cs := tandemComments(g, shopProject, fpr.Number)
			st := commitStatus(g, shopProject, next)
			return len(cs) == 1 && strings.Contains(cs[0].Body, "held") && st != nil && st.State == "pending"
		})
		if p := s.preview(fname); p == nil || p.Commit != fpr.Head.SHA {
			t.Errorf("the allowed commit's preview, while the new one is held: %+v", p)
		}
		var label struct {
			ID int64 `json:"id"`
		}
		g.API(g.AdminToken, "POST", "/repos/"+shopProject+"/labels", map[string]string{"name": "preview-allow", "color": "#aa0000"}, &label)
		g.API(g.AdminToken, "POST", fmt.Sprintf("/repos/%s/issues/%d/labels", shopProject, fpr.Number), map[string]any{"labels": []int64{label.ID}}, nil)
		s.waitReady(fname, next)
		if code, body := s.page(fname, true); code != 200 || !strings.Contains(body, "pushed again") || !strings.Contains(body, "stripe: withheld") {
			t.Errorf("fork page after the label: %d %s", code, body)
		}
	})

	t.Run("a restart of tandem serve in the middle of a delivery still makes the preview", func(t *testing.T) {
		sha := commitFile(t, shop, "restart", "web/title.txt", "Articles, across a restart\n")
		g.Push(shop, g.AdminToken, g.Admin, "shop", "restart")
		db, err := sqlite.Open(filepath.Join(s.dir, "data", "tandem.db"))
		if err != nil {
			t.Fatal(err)
		}
		var rpr giteaPR
		g.API(g.AdminToken, "POST", "/repos/"+shopProject+"/pulls", map[string]string{"head": "restart", "base": "main", "title": "Restart"}, &rpr)
		waitUntil(t, time.Minute, "the delivery taken in", func() bool {
			_, err := db.ForgePR(context.Background(), "gitea", shopProject, rpr.Number)
			return err == nil
		})
		db.Close()
		s.proc.cmd.Process.Kill()
		<-s.proc.done
		s.start()
		s.waitReady(forge.PreviewName("shop", rpr.Number), sha)
	})

	t.Run("a delivery taken in before a crash is handled at the next start", func(t *testing.T) {
		sha := commitFile(t, shop, "crash", "web/title.txt", "Articles, queued before a crash\n")
		g.Push(shop, g.AdminToken, g.Admin, "shop", "crash")
		// tandem dies having queued a delivery it had not yet handled: the
		// pull request is opened while it is down, and its delivery is put
		// in the queue as the webhook handler would have.
		s.proc.cmd.Process.Kill()
		<-s.proc.done
		var cpr giteaPR
		g.API(g.AdminToken, "POST", "/repos/"+shopProject+"/pulls", map[string]string{"head": "crash", "base": "main", "title": "Crash"}, &cpr)
		ev, _ := json.Marshal(forge.Event{Delivery: "before-the-crash", Action: forge.Opened, Verb: "opened", Project: shopProject,
			Number: cpr.Number, Head: cpr.Head.SHA, HeadRef: "crash", Sender: g.Admin, Author: g.Admin, IsPR: true})
		db, err := sqlite.Open(filepath.Join(s.dir, "data", "tandem.db"))
		if err != nil {
			t.Fatal(err)
		}
		if added, err := db.AddDelivery(context.Background(), tandem.ForgeDelivery{Forge: "gitea", ID: "before-the-crash", Event: ev}); !added || err != nil {
			t.Fatalf("queue: %v %v", added, err)
		}
		db.Close()
		s.start()
		s.waitReady(forge.PreviewName("shop", cpr.Number), sha)
		waitUntil(t, time.Minute, "the delivery done and reported", func() bool {
			db, err := sqlite.Open(filepath.Join(s.dir, "data", "tandem.db"))
			if err != nil {
				return false
			}
			defer db.Close()
			d, err := db.Delivery(context.Background(), "gitea", "before-the-crash")
			cs := tandemComments(g, shopProject, cpr.Number)
			return err == nil && d.State == tandem.DeliveryDone && len(cs) == 1 && strings.Contains(cs[0].Body, "ready")
		})
	})

	t.Run("a label gates previews, and a path filter", func(t *testing.T) {
		gated := g.Admin + "/gated"
		// The shop's stack, where api comes from the repository itself.
		g.Push(shop, g.AdminToken, g.Admin, "gated", "main")
		web := commitFile(t, shop, "gated-web", "web/title.txt", "Articles, labelled\n")
		commitFile(t, shop, "gated-docs", "README.md", "docs only\n")
		g.Push(shop, g.AdminToken, g.Admin, "gated", "gated-web", "gated-docs")
		var label struct {
			ID int64 `json:"id"`
		}
		g.API(g.AdminToken, "POST", "/repos/"+gated+"/labels", map[string]string{"name": "preview", "color": "#00aa00"}, &label)
		var wpr, dpr giteaPR
		g.API(g.AdminToken, "POST", "/repos/"+gated+"/pulls", map[string]string{"head": "gated-web", "base": "main", "title": "Web"}, &wpr)
		g.API(g.AdminToken, "POST", "/repos/"+gated+"/pulls", map[string]any{"head": "gated-docs", "base": "main", "title": "Docs", "labels": []int64{label.ID}}, &dpr)
		settled := func(number int) bool {
			db, err := sqlite.Open(filepath.Join(s.dir, "data", "tandem.db"))
			if err != nil {
				return false
			}
			defer db.Close()
			due, _ := db.DueDeliveries(context.Background(), time.Now().Add(time.Hour), 10)
			_, err = db.ForgePR(context.Background(), "gitea", gated, number)
			return err == nil && len(due) == 0
		}
		waitUntil(t, time.Minute, "both pull requests seen", func() bool { return settled(wpr.Number) && settled(dpr.Number) })
		if s.preview(forge.PreviewName("gated", wpr.Number)) != nil {
			t.Error("a preview for a pull request without the label")
		}
		if s.preview(forge.PreviewName("gated", dpr.Number)) != nil {
			t.Error("a preview for a pull request that changes no path of the filter")
		}
		g.API(g.AdminToken, "POST", fmt.Sprintf("/repos/%s/issues/%d/labels", gated, wpr.Number), map[string]any{"labels": []int64{label.ID}}, nil)
		s.waitReady(forge.PreviewName("gated", wpr.Number), web)
		if s.preview(forge.PreviewName("gated", dpr.Number)) != nil {
			t.Error("a preview for a pull request that changes no path of the filter")
		}
	})

	t.Run("a pull request closed destroys its preview", func(t *testing.T) {
		g.API(g.AdminToken, "PATCH", fmt.Sprintf("/repos/%s/pulls/%d", shopProject, pr.Number), map[string]string{"state": "closed"}, nil)
		waitUntil(t, 2*time.Minute, "destroyed and said so", func() bool {
			cs := tandemComments(g, shopProject, pr.Number)
			return s.preview(name) == nil && len(cs) == 1 && strings.Contains(cs[0].Body, "destroyed")
		})
		if code, _ := s.page(name, true); code == 200 {
			t.Error("the gateway still serves a destroyed preview")
		}
	})

	t.Run("Overrides: a frontend pull request builds the API from a backend pull request, and follows its pushes", func(t *testing.T) {
		backendProject := g.Admin + "/backend"
		badge1 := commitFile(t, backend, "badge", "articles.json", `[{"title": "First article", "badge": "from the backend PR"}, {"title": "Second article"}]`)
		g.Push(backend, g.AdminToken, g.Admin, "backend", "badge")
		var bpr giteaPR
		g.API(g.AdminToken, "POST", "/repos/"+backendProject+"/pulls", map[string]string{"head": "badge", "base": "main", "title": "Add a badge"}, &bpr)
		commitFile(t, shop, "needs-badge", "preview-overrides.yaml", fmt.Sprintf("api: {repo: backend, pr: %d}\n", bpr.Number))
		g.Push(shop, g.AdminToken, g.Admin, "shop", "needs-badge")
		var fpr giteaPR
		g.API(g.AdminToken, "POST", "/repos/"+shopProject+"/pulls", map[string]string{"head": "needs-badge", "base": "main", "title": "Show the badge"}, &fpr)
		fname := forge.PreviewName("shop", fpr.Number)
		p := s.waitReady(fname, fpr.Head.SHA)
		if p.Binding.Sources["api"] != "backend@"+badge1 || p.SourceRefs["api"] != fmt.Sprintf("backend@refs/pull/%d/head", bpr.Number) {
			t.Errorf("sources %v, refs %v", p.Binding.Sources, p.SourceRefs)
		}
		if code, body := s.page(fname, true); code != 200 || !strings.Contains(body, "First article [badge: from the backend PR]") {
			t.Errorf("page: %d %s", code, body)
		}
		badge2 := commitFile(t, backend, "badge", "articles.json", `[{"title": "First article", "badge": "pushed to the backend PR"}]`)
		g.Push(backend, g.AdminToken, g.Admin, "backend", "badge")
		waitUntil(t, 3*time.Minute, "the frontend preview rebuilt with the backend's push", func() bool {
			p := s.preview(fname)
			return p != nil && p.State == tandem.PreviewReady && p.Binding.Sources["api"] == "backend@"+badge2
		})
		if code, body := s.page(fname, true); code != 200 || !strings.Contains(body, "[badge: pushed to the backend PR]") {
			t.Errorf("page after the backend's push: %d %s", code, body)
		}
		if s.preview(forge.PreviewName("backend", bpr.Number)) != nil {
			t.Error("a repository without a stack file of its own got a preview")
		}
	})
}

// The example itself, Django and Next.js, with its API from another
// repository: a frontend pull request whose preview-overrides.yaml names
// a backend pull request shows the field that pull request adds, and
// follows the backend's pushes.
func TestForgeOverridesExample(t *testing.T) {
	needRoot(t)
	g := testgitea.Start(t)
	s := &forgeServer{t: t, g: g, dir: t.TempDir(), secret: "example-hook-secret"}
	apiAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s.api, s.gateway = "http://"+apiAddr, fmt.Sprintf("127.0.0.1:%d", freePort(t))
	for _, repo := range []string{"site", "api"} {
		g.API(g.AdminToken, "POST", "/user/repos", map[string]any{"name": repo, "default_branch": "main"}, nil)
		g.API(g.AdminToken, "POST", "/repos/"+g.Admin+"/"+repo+"/hooks", map[string]any{
			"type": "gitea", "active": true, "branch_filter": "*",
			"config": map[string]string{"url": s.api + "/hooks/gitea", "content_type": "json", "secret": s.secret},
			"events": []string{"pull_request", "pull_request_sync", "issue_comment"},
		}, nil)
	}
	site := exampleRepo(t)
	g.Push(site, g.AdminToken, g.Admin, "site", "main")
	// The backend on its own, as a team with two repositories has it.
	api := filepath.Join(t.TempDir(), "api")
	if out, err := exec.Command("cp", "-r", filepath.Join(site, "backend"), api).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	gitIn(t, api, "init", "-q", "-b", "main")
	gitIn(t, api, "add", "-A")
	gitIn(t, api, "commit", "-q", "-m", "the API")
	g.Push(api, g.AdminToken, g.Admin, "api", "main")

	serializers, err := os.ReadFile(filepath.Join(api, "catalog", "serializers.py"))
	if err != nil {
		t.Fatal(err)
	}
	withBadge := func(text string) string {
		s := strings.Replace(string(serializers), `    tags = serializers.ListField(`, `    badge = serializers.SerializerMethodField()
    tags = serializers.ListField(`, 1)
		s = strings.Replace(s, `"tags", "published_at"]`, `"tags", "published_at", "badge"]`, 1)
		return s + "\n\ndef _badge(self, obj):\n    return " + fmt.Sprintf("%q", text) + "\n\n\nArticleSerializer.get_badge = _badge\n"
	}
	commitFile(t, api, "badge", "catalog/serializers.py", withBadge("from the backend PR"))
	g.Push(api, g.AdminToken, g.Admin, "api", "badge")
	var bpr giteaPR
	g.API(g.AdminToken, "POST", "/repos/"+g.Admin+"/api/pulls", map[string]string{"head": "badge", "base": "main", "title": "Articles get a badge"}, &bpr)

	page, err := os.ReadFile(filepath.Join(site, "frontend", "app", "page.js"))
	if err != nil {
		t.Fatal(err)
	}
	gitIn(t, site, "checkout", "-q", "-b", "show-badge", "main")
	writeFile(t, filepath.Join(site, "frontend", "app", "page.js"), strings.Replace(string(page), "<p>{a.summary}</p>",
		"<p>{a.summary}</p>\n                {a.badge ? <p className=\"badge\">{`badge: ${a.badge}`}</p> : null}", 1))
	writeFile(t, filepath.Join(site, "preview-overrides.yaml"), fmt.Sprintf("api: {repo: api, pr: %d}\n", bpr.Number))
	gitIn(t, site, "add", "-A")
	gitIn(t, site, "commit", "-q", "-m", "show the badge the API's pull request adds")
	gitIn(t, site, "checkout", "-q", "main")
	g.Push(site, g.AdminToken, g.Admin, "site", "show-badge")

	writeFile(t, filepath.Join(s.dir, "hook-secret"), s.secret)
	writeFile(t, filepath.Join(s.dir, "gitea-token"), g.AdminToken)
	writeFile(t, filepath.Join(s.dir, "tandem.yaml"), fmt.Sprintf(`data: data
domain: previews.example.com
listen: %s
api: %s
forges:
  - {name: gitea, type: gitea, url: "%s", user: %s, token: {file: gitea-token}, webhook_secret: {file: hook-secret}}
repos:
  - name: site
    url: %s
    compose: docker-compose.yml
    forge: {name: gitea, project: %s/site}
    services:
      api: {repo: api, path: .}
  - name: api
    url: %s
    forge: {name: gitea, project: %s/api}
`, s.gateway, apiAddr, g.URL, g.Admin, g.CloneURL(g.Admin, "site"), g.Admin, g.CloneURL(g.Admin, "api"), g.Admin))
	s.start()

	var fpr giteaPR
	g.API(g.AdminToken, "POST", "/repos/"+g.Admin+"/site/pulls", map[string]string{"head": "show-badge", "base": "main", "title": "Show the badge"}, &fpr)
	name := forge.PreviewName("site", fpr.Number)
	waitReadyExample := func(check func(p *tandem.Preview) bool) *tandem.Preview {
		var p *tandem.Preview
		waitUntil(t, 15*time.Minute, name+" ready", func() bool {
			p = s.preview(name)
			if p != nil && p.State == tandem.PreviewFailed {
				t.Fatalf("%s failed at %s: %s\n%s", name, p.Step, p.Error, strings.Join(p.LogTail, "\n"))
			}
			return p != nil && p.State == tandem.PreviewReady && p.Serving == p.Generation && check(p)
		})
		return p
	}
	badge1 := gitIn(t, api, "rev-parse", "badge")
	p := waitReadyExample(func(p *tandem.Preview) bool { return p.Commit == fpr.Head.SHA })
	if p.Binding.Sources["api"] != "api@"+badge1 {
		t.Errorf("binding sources: %v", p.Binding.Sources)
	}
	if code, body := s.page(name, true); code != 200 || !strings.Contains(body, "badge: from the backend PR") || !strings.Contains(body, `id="articles"`) {
		t.Errorf("page: %d %.2000s", code, body)
	}
	waitUntil(t, time.Minute, "the comment with build times", func() bool {
		cs := tandemComments(g, g.Admin+"/site", fpr.Number)
		return len(cs) == 1 && strings.Contains(cs[0].Body, "ready") && strings.Contains(cs[0].Body, "web: ") &&
			strings.Contains(cs[0].Body, fmt.Sprintf("api: api@refs/pull/%d/head", bpr.Number))
	})

	commitFile(t, api, "badge", "catalog/serializers.py", withBadge("pushed to the backend PR"))
	g.Push(api, g.AdminToken, g.Admin, "api", "badge")
	badge2 := gitIn(t, api, "rev-parse", "badge")
	waitReadyExample(func(p *tandem.Preview) bool { return p.Binding.Sources["api"] == "api@"+badge2 })
	if code, body := s.page(name, true); code != 200 || !strings.Contains(body, "badge: pushed to the backend PR") {
		t.Errorf("page after the backend's push: %d %.2000s", code, body)
	}
}

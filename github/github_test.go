package github

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/forge"
)

func sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Deliveries in GitHub's documented shape, with its headers: the signature
// is checked before anything else, and the payload normalised.
func TestWebhookGitHub(t *testing.T) {
	secret := []byte("It's a Secret to Everybody")
	c, err := New(Config{WebhookSecret: secret, Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	// GitHub's own example: "Hello, World!" signed with that secret.
	h := http.Header{"X-Hub-Signature-256": {"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"}}
	if err := c.Verify(h, []byte("Hello, World!")); err != nil {
		t.Errorf("GitHub's documented example refused: %v", err)
	}
	body, _ := os.ReadFile("testdata/pull_request.opened.json")
	for name, sig := range map[string]string{
		"missing":     "",
		"wrong":       sign([]byte("another secret"), body),
		"sha1 prefix": strings.Replace(sign(secret, body), "sha256=", "sha1=", 1),
		"not hex":     "sha256=zz",
		"truncated":   sign(secret, body)[:40],
	} {
		h := http.Header{}
		if sig != "" {
			h.Set("X-Hub-Signature-256", sig)
		}
		if err := c.Verify(h, body); tandem.ErrorCode(err) != tandem.EUNAUTHORIZED {
			t.Errorf("%s signature: %v", name, err)
		}
	}
	if err := c.Verify(http.Header{"X-Hub-Signature-256": {sign(secret, body)}}, append(body, ' ')); err == nil {
		t.Error("a body changed after signing passed")
	}

	h = http.Header{"X-Github-Event": {"pull_request"}, "X-Github-Delivery": {"72d3162e-cc78-11e3-81ab-4c9367dc0958"},
		"X-Hub-Signature-256": {sign(secret, body)}, "User-Agent": {"GitHub-Hookshot/044aadd"}}
	if err := c.Verify(h, body); err != nil {
		t.Fatal(err)
	}
	ev, err := c.Parse(h, body)
	if err != nil {
		t.Fatal(err)
	}
	want := forge.Event{Delivery: "72d3162e-cc78-11e3-81ab-4c9367dc0958", Action: forge.Opened, Verb: "opened", Project: "acme/shop",
		Number: 7, Title: "Edit the title", Head: "6dcb09b5b57875f334f61aebed695e2e4193db5e", HeadRef: "feature",
		Labels: []string{"preview"}, Sender: "alice", Author: "alice", IsPR: true}
	if fmt.Sprintf("%+v", *ev) != fmt.Sprintf("%+v", want) {
		t.Errorf("event\n got %+v\nwant %+v", *ev, want)
	}

	for action, want := range map[string]forge.Action{"synchronize": forge.Pushed, "reopened": forge.Opened, "closed": forge.Closed,
		"labeled": forge.Labeled, "edited": forge.Ignored, "assigned": forge.Ignored} {
		b := strings.Replace(string(body), `"action": "opened"`, `"action": "`+action+`"`, 1)
		if ev, err := ParseEvent("pull_request", "d", []byte(b)); err != nil || ev.Action != want {
			t.Errorf("%s: %v %v, want %q", action, ev, err, want)
		}
	}
	fork := strings.Replace(string(body), `"label": "acme:feature",
      "ref": "feature",
      "sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
      "user": {"login": "acme", "id": 12, "type": "Organization"},
      "repo": {"id": 1296269, "name": "shop", "full_name": "acme/shop"`, `"label": "mallory:feature",
      "ref": "feature",
      "sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
      "user": {"login": "mallory", "id": 66, "type": "User"},
      "repo": {"id": 999, "name": "shop", "full_name": "mallory/shop"`, 1)
	if ev, _ := ParseEvent("pull_request", "d", []byte(fork)); !ev.Fork {
		t.Error("a pull request from mallory/shop into acme/shop is not a fork's")
	}

	comment, _ := os.ReadFile("testdata/issue_comment.created.json")
	ev, err = ParseEvent("issue_comment", "d2", comment)
	if err != nil || ev.Action != forge.Commented || !ev.IsPR || ev.Number != 8 || ev.Sender != "alice" || !strings.Contains(ev.Body, forge.AllowCommand) {
		t.Errorf("comment: %+v %v", ev, err)
	}
	onIssue := strings.Replace(string(comment), `"pull_request": {"url": "https://api.github.com/repos/acme/shop/pulls/8", "html_url": "https://github.com/acme/shop/pull/8"}`, `"state": "open"`, 1)
	if ev, _ := ParseEvent("issue_comment", "d3", []byte(onIssue)); ev.Action != forge.Ignored {
		t.Errorf("a comment on an issue: %+v", ev)
	}
	if ev, err := ParseEvent("ping", "d4", []byte(`{"zen":"Keep it logically awesome."}`)); err != nil || ev.Action != forge.Ignored {
		t.Errorf("ping: %+v %v", ev, err)
	}
	if _, err := ParseEvent("pull_request", "d5", []byte(`{"action":"opened"`)); tandem.ErrorCode(err) != tandem.EINVALID {
		t.Errorf("truncated payload: %v", err)
	}
}

// expect is one request tandem must make, as GitHub's REST API documents it.
type expect struct {
	method, path string
	auth         string         // the Authorization header wanted
	body         map[string]any // fields the JSON body must have
	query        string         // a query parameter the request must carry ("page=2")
	status       int
	reply        string
	header       map[string]string
}

// standIn is GitHub's REST API for a test: it answers the requests it
// expects, in order, and fails the test on any other.
type standIn struct {
	t    *testing.T
	mu   sync.Mutex
	want []expect
	srv  *httptest.Server
}

func newStandIn(t *testing.T) *standIn {
	s := &standIn{t: t}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.srv.Close()
		if len(s.want) > 0 {
			t.Errorf("requests expected and not made: %+v", s.want)
		}
	})
	return s
}

func (s *standIn) expect(e ...expect) {
	s.mu.Lock()
	s.want = append(s.want, e...)
	s.mu.Unlock()
}

func (s *standIn) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.want) == 0 {
		s.t.Errorf("unexpected request %s %s", r.Method, r.URL)
		w.WriteHeader(500)
		return
	}
	e := s.want[0]
	s.want = s.want[1:]
	if r.Method != e.method || r.URL.Path != e.path {
		s.t.Errorf("request %s %s, want %s %s", r.Method, r.URL.Path, e.method, e.path)
	}
	if e.auth != "" && !authMatches(r.Header.Get("Authorization"), e.auth) {
		s.t.Errorf("%s %s: Authorization %q, want %q", r.Method, r.URL.Path, r.Header.Get("Authorization"), e.auth)
	}
	if got := r.Header.Get("Accept"); !strings.Contains(got, "application/vnd.github") {
		s.t.Errorf("%s %s: Accept %q", r.Method, r.URL.Path, got)
	}
	if e.query != "" && !strings.Contains(r.URL.RawQuery, e.query) {
		s.t.Errorf("%s %s: query %q lacks %q", r.Method, r.URL.Path, r.URL.RawQuery, e.query)
	}
	if e.body != nil {
		var got map[string]any
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &got); err != nil {
			s.t.Errorf("%s %s: body %q: %v", r.Method, r.URL.Path, b, err)
		}
		for k, v := range e.body {
			if fmt.Sprint(got[k]) != fmt.Sprint(v) {
				s.t.Errorf("%s %s: body %s = %v, want %v (body %s)", r.Method, r.URL.Path, k, got[k], v, b)
			}
		}
	}
	for k, v := range e.header {
		w.Header().Set(k, strings.ReplaceAll(v, "BASE", s.srv.URL))
	}
	w.Header().Set("Content-Type", "application/json")
	if e.status == 0 {
		e.status = 200
	}
	w.WriteHeader(e.status)
	io.WriteString(w, e.reply)
}

// authMatches compares an Authorization header with a wanted one, where
// "Bearer JWT:<id>" wants a valid App JWT issued by app <id>.
func authMatches(got, want string) bool {
	if id, ok := strings.CutPrefix(want, "Bearer JWT:"); ok {
		tok, ok := strings.CutPrefix(got, "Bearer ")
		if !ok {
			return false
		}
		claims := jwt.RegisteredClaims{}
		_, err := jwt.ParseWithClaims(tok, &claims, func(*jwt.Token) (any, error) { return &testKey.PublicKey, nil },
			jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer(id))
		return err == nil && claims.ExpiresAt.Sub(claims.IssuedAt.Time) <= 10*time.Minute
	}
	return got == want
}

var testKey, _ = rsa.GenerateKey(rand.Reader, 2048)

// Every call tandem makes to GitHub, checked against the documented API:
// statuses, comments found by marker across pages, edited in place,
// permissions, changed files, deployments and their statuses.
func TestGitHubAPIRequests(t *testing.T) {
	s := newStandIn(t)
	c, err := New(Config{API: s.srv.URL + "/", WebhookSecret: []byte("x"), Token: "ghp_token"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sha := "6dcb09b5b57875f334f61aebed695e2e4193db5e"
	auth := "Bearer ghp_token"

	s.expect(expect{method: "POST", path: "/repos/acme/shop/statuses/" + sha, auth: auth, status: 201,
		body:  map[string]any{"state": "success", "target_url": "https://shop-pr-7.previews.example.com", "description": "ready", "context": "tandem/preview"},
		reply: `{"id": 1, "state": "success"}`})
	if err := c.SetStatus(ctx, "acme/shop", sha, forge.Status{State: "success", URL: "https://shop-pr-7.previews.example.com", Description: "ready", Context: forge.StatusContext}); err != nil {
		t.Error(err)
	}

	marker := forge.Marker("shop-pr-7")
	s.expect(
		expect{method: "GET", path: "/repos/acme/shop/issues/7/comments", auth: auth, query: "per_page=50",
			reply:  `[{"id": 1, "body": "LGTM"}]`,
			header: map[string]string{"Link": `<BASE/repos/acme/shop/issues/7/comments?page=2&per_page=50>; rel="next"`}},
		expect{method: "GET", path: "/repos/acme/shop/issues/7/comments", auth: auth, query: "page=2",
			reply: `[{"id": 2, "body": "` + strings.ReplaceAll(marker, `"`, `\"`) + `\nready"}]`},
	)
	if id, err := c.FindComment(ctx, "acme/shop", 7, marker); err != nil || id != 2 {
		t.Errorf("find comment: %d %v", id, err)
	}
	s.expect(expect{method: "POST", path: "/repos/acme/shop/issues/7/comments", auth: auth, status: 201,
		body: map[string]any{"body": "hello"}, reply: `{"id": 3, "body": "hello"}`})
	if id, err := c.CreateComment(ctx, "acme/shop", 7, "hello"); err != nil || id != 3 {
		t.Errorf("create comment: %d %v", id, err)
	}
	s.expect(expect{method: "PATCH", path: "/repos/acme/shop/issues/comments/3", auth: auth,
		body: map[string]any{"body": "edited"}, reply: `{"id": 3, "body": "edited"}`})
	if err := c.EditComment(ctx, "acme/shop", 7, 3, "edited"); err != nil {
		t.Error(err)
	}
	s.expect(expect{method: "PATCH", path: "/repos/acme/shop/issues/comments/4", auth: auth, status: 404, reply: `{"message": "Not Found"}`})
	if err := c.EditComment(ctx, "acme/shop", 7, 4, "x"); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("edit a deleted comment: %v", err)
	}

	for user, perm := range map[string]string{"alice": "write", "bob": "read", "carol": "admin"} {
		s.expect(expect{method: "GET", path: "/repos/acme/shop/collaborators/" + user + "/permission", auth: auth,
			reply: `{"permission": "` + perm + `", "user": {"login": "` + user + `"}}`})
		if ok, err := c.CanWrite(ctx, "acme/shop", user); err != nil || ok != (perm != "read") {
			t.Errorf("%s (%s) can write: %v %v", user, perm, ok, err)
		}
	}

	s.expect(expect{method: "GET", path: "/repos/acme/shop/pulls/7/files", auth: auth, query: "per_page=100",
		reply: `[{"filename": "web/page.js", "status": "modified"}, {"filename": "api/new.py", "previous_filename": "api/old.py", "status": "renamed"}]`})
	if files, err := c.ChangedFiles(ctx, "acme/shop", 7); err != nil || strings.Join(files, ",") != "web/page.js,api/new.py,api/old.py" {
		t.Errorf("files: %v %v", files, err)
	}

	s.expect(expect{method: "POST", path: "/repos/acme/shop/deployments", auth: auth, status: 201,
		body:  map[string]any{"ref": sha, "environment": "shop-pr-7", "auto_merge": false, "required_contexts": []any{}, "transient_environment": true, "production_environment": false},
		reply: `{"id": 42, "sha": "` + sha + `"}`})
	id, err := c.Deploy(ctx, "acme/shop", sha, "shop-pr-7")
	if err != nil || id != 42 {
		t.Errorf("deploy: %d %v", id, err)
	}
	s.expect(expect{method: "POST", path: "/repos/acme/shop/deployments/42/statuses", auth: auth, status: 201,
		body:  map[string]any{"state": "success", "environment_url": "https://shop-pr-7.previews.example.com", "description": "ready"},
		reply: `{"id": 1, "state": "success"}`})
	if err := c.DeploymentStatus(ctx, "acme/shop", 42, "success", "https://shop-pr-7.previews.example.com", "ready"); err != nil {
		t.Error(err)
	}
}

// As a GitHub App: a JWT signed with the App's key buys an installation
// token, which every API call then carries, until it nears its expiry.
func TestGitHubAppToken(t *testing.T) {
	s := newStandIn(t)
	key := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(testKey)})
	c, err := New(Config{API: s.srv.URL + "/", WebhookSecret: []byte("x"), App: &App{ID: 1234, InstallationID: 5678, PrivateKey: key}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tokens := c.appTokensForTest()
	tokens.now = func() time.Time { return now }
	soon := now.Add(time.Hour).UTC().Format(time.RFC3339)
	s.expect(
		expect{method: "POST", path: "/app/installations/5678/access_tokens", auth: "Bearer JWT:1234", status: 201,
			reply: `{"token": "ghs_first", "expires_at": "` + soon + `"}`},
		expect{method: "POST", path: "/repos/acme/shop/statuses/abc", auth: "Bearer ghs_first", status: 201, reply: `{}`},
		expect{method: "POST", path: "/repos/acme/shop/statuses/abc", auth: "Bearer ghs_first", status: 201, reply: `{}`},
	)
	st := forge.Status{State: "pending", Description: "building", Context: forge.StatusContext}
	for i := 0; i < 2; i++ {
		if err := c.SetStatus(context.Background(), "acme/shop", "abc", st); err != nil {
			t.Fatal(err)
		}
	}
	// 56 minutes on, the token has less than five minutes left.
	now = now.Add(56 * time.Minute)
	s.expect(
		expect{method: "POST", path: "/app/installations/5678/access_tokens", auth: "Bearer JWT:1234", status: 201,
			reply: `{"token": "ghs_second", "expires_at": "` + now.Add(time.Hour).UTC().Format(time.RFC3339) + `"}`},
		expect{method: "POST", path: "/repos/acme/shop/statuses/abc", auth: "Bearer ghs_second", status: 201, reply: `{}`},
	)
	if err := c.SetStatus(context.Background(), "acme/shop", "abc", st); err != nil {
		t.Fatal(err)
	}
	h, err := c.GitAuthorization(context.Background())
	if err != nil || h != "Basic eC1hY2Nlc3MtdG9rZW46Z2hzX3NlY29uZA==" { // x-access-token:ghs_second
		t.Errorf("git's header: %q %v", h, err)
	}
	if _, err := New(Config{WebhookSecret: []byte("x"), App: &App{ID: 1, InstallationID: 2, PrivateKey: []byte("not a key")}}); err == nil {
		t.Error("a bad private key was taken")
	}
}

package gitlab

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/forge"
)

// Deliveries in GitLab's documented shape and headers: the secret token
// compared before anything is parsed, the payload normalised.
func TestWebhookGitLab(t *testing.T) {
	c, err := New(Config{Token: "glpat-x", WebhookSecret: []byte("s3cret")})
	if err != nil {
		t.Fatal(err)
	}
	for name, h := range map[string]http.Header{
		"missing": {}, "wrong": {"X-Gitlab-Token": {"s3cre"}}, "longer": {"X-Gitlab-Token": {"s3cret "}},
	} {
		if err := c.Verify(h, nil); tandem.ErrorCode(err) != tandem.EUNAUTHORIZED {
			t.Errorf("%s token: %v", name, err)
		}
	}
	body, _ := os.ReadFile("testdata/merge_request.open.json")
	h := http.Header{"X-Gitlab-Event": {"Merge Request Hook"}, "X-Gitlab-Token": {"s3cret"},
		"X-Gitlab-Event-Uuid": {"13792a34-cac6-4fda-95a8-c58e00a3954e"}, "Idempotency-Key": {"f5e5f430-f57b-4e6e-9fac-d9128cd7232f"},
		"X-Gitlab-Instance": {"https://gitlab.example.com"}, "User-Agent": {"GitLab/17.0.0"}}
	if err := c.Verify(h, body); err != nil {
		t.Fatal(err)
	}
	ev, err := c.Parse(h, body)
	if err != nil {
		t.Fatal(err)
	}
	want := forge.Event{Delivery: "f5e5f430-f57b-4e6e-9fac-d9128cd7232f", Action: forge.Opened, Verb: "open", Project: "acme/shop", Number: 7,
		Title: "Edit the title", Head: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", HeadRef: "feature", Labels: []string{"preview"}, Sender: "root", IsPR: true}
	if fmt.Sprintf("%+v", *ev) != fmt.Sprintf("%+v", want) {
		t.Errorf("event\n got %+v\nwant %+v", *ev, want)
	}
	h.Del("Idempotency-Key")
	if ev, _ := c.Parse(h, body); ev.Delivery != "13792a34-cac6-4fda-95a8-c58e00a3954e" {
		t.Errorf("delivery without Idempotency-Key: %q", ev.Delivery)
	}
	variant := func(from, to string) []byte { return []byte(strings.Replace(string(body), from, to, 1)) }
	for name, tc := range map[string]struct {
		body []byte
		want forge.Action
	}{
		"update with new commits": {variant(`"action": "open"`, `"action": "update", "oldrev": "0b7a8b"`), forge.Pushed},
		"update of labels":        {variant(`"changes": {}`, `"changes": {"labels": {"previous": [], "current": [{"title": "preview"}]}}`), forge.Opened},
		"labels only":             {[]byte(strings.Replace(strings.Replace(string(body), `"action": "open"`, `"action": "update"`, 1), `"changes": {}`, `"changes": {"labels": {"previous": [], "current": [{"title": "preview"}]}}`, 1)), forge.Labeled},
		"update of the title":     {variant(`"action": "open"`, `"action": "update"`), forge.Ignored},
		"merge":                   {variant(`"action": "open"`, `"action": "merge"`), forge.Closed},
		"close":                   {variant(`"action": "open"`, `"action": "close"`), forge.Closed},
		"reopen":                  {variant(`"action": "open"`, `"action": "reopen"`), forge.Opened},
		"approved":                {variant(`"action": "open"`, `"action": "approved"`), forge.Ignored},
	} {
		if ev, err := c.Parse(http.Header{"X-Gitlab-Event": {"Merge Request Hook"}}, tc.body); err != nil || ev.Action != tc.want {
			t.Errorf("%s: %+v %v, want %q", name, ev, err, tc.want)
		}
	}
	if ev, _ := c.Parse(h, variant(`"source_project_id": 1`, `"source_project_id": 5`)); !ev.Fork {
		t.Error("a merge request from another project is not a fork's")
	}
	note, _ := os.ReadFile("testdata/note.merge_request.json")
	ev, err = c.Parse(http.Header{"X-Gitlab-Event": {"Note Hook"}, "X-Gitlab-Event-Uuid": {"n-1"}}, note)
	if err != nil || ev.Action != forge.Commented || ev.Number != 8 || ev.Sender != "alice" || ev.Body != forge.AllowCommand || !ev.IsPR {
		t.Errorf("note: %+v %v", ev, err)
	}
	onIssue := strings.Replace(string(note), `"noteable_type": "MergeRequest"`, `"noteable_type": "Issue"`, 1)
	if ev, _ := c.Parse(http.Header{"X-Gitlab-Event": {"Note Hook"}}, []byte(onIssue)); ev.Action != forge.Ignored {
		t.Errorf("a note on an issue: %+v", ev)
	}
	if ev, _ := c.Parse(http.Header{"X-Gitlab-Event": {"Push Hook"}}, []byte(`{"object_kind":"push"}`)); ev.Action != forge.Ignored {
		t.Errorf("push: %+v", ev)
	}
}

// expect is one request tandem must make, as GitLab's REST API documents it.
type expect struct {
	method, path string // path as sent, escaped: /api/v4/projects/acme%2Fshop/...
	body         map[string]any
	query        string
	reply        string
	status       int
	header       map[string]string
}

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
	if r.Method != e.method || r.URL.EscapedPath() != e.path {
		s.t.Errorf("request %s %s, want %s %s", r.Method, r.URL.EscapedPath(), e.method, e.path)
	}
	if got := r.Header.Get("PRIVATE-TOKEN"); got != "glpat-token" {
		s.t.Errorf("%s %s: PRIVATE-TOKEN %q", r.Method, r.URL.Path, got)
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
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	if e.status == 0 {
		e.status = 200
	}
	w.WriteHeader(e.status)
	io.WriteString(w, e.reply)
}

// Every call tandem makes to GitLab, checked against the documented API.
func TestGitLabAPIRequests(t *testing.T) {
	s := newStandIn(t)
	c, err := New(Config{URL: s.srv.URL, Token: "glpat-token", WebhookSecret: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sha := "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"
	p := "/api/v4/projects/acme%2Fshop"

	for state, want := range map[string]string{"pending": "running", "success": "success", "failure": "failed"} {
		s.expect(expect{method: "POST", path: p + "/statuses/" + sha, status: 201,
			body:  map[string]any{"state": want, "name": "tandem/preview", "target_url": "https://shop-pr-7.previews.example.com", "description": state},
			reply: `{"id": 93, "sha": "` + sha + `", "status": "` + want + `"}`})
		if err := c.SetStatus(ctx, "acme/shop", sha, forge.Status{State: state, URL: "https://shop-pr-7.previews.example.com", Description: state, Context: forge.StatusContext}); err != nil {
			t.Error(err)
		}
	}

	// GitLab refuses a status the commit already has: that is no failure.
	s.expect(expect{method: "POST", path: p + "/statuses/" + sha, status: 400, reply: `{"message": "Cannot transition status via :run from :running"}`})
	if err := c.SetStatus(ctx, "acme/shop", sha, forge.Status{State: "pending", Description: "building", Context: forge.StatusContext}); err != nil {
		t.Errorf("the same state again: %v", err)
	}
	s.expect(expect{method: "POST", path: p + "/statuses/" + sha, status: 400, reply: `{"message": {"state": ["is invalid"]}}`})
	if err := c.SetStatus(ctx, "acme/shop", sha, forge.Status{State: "pending", Description: "building", Context: forge.StatusContext}); tandem.ErrorCode(err) != tandem.EINVALID {
		t.Errorf("another refusal: %v", err)
	}

	marker := forge.Marker("shop-pr-7")
	s.expect(
		expect{method: "GET", path: p + "/merge_requests/7/notes", query: "per_page=50", reply: `[{"id": 301, "body": "LGTM"}]`,
			header: map[string]string{"X-Next-Page": "2", "X-Page": "1", "X-Per-Page": "50"}},
		expect{method: "GET", path: p + "/merge_requests/7/notes", query: "page=2", reply: `[{"id": 302, "body": "` + strings.ReplaceAll(marker, `"`, `\"`) + `"}]`},
	)
	if id, err := c.FindComment(ctx, "acme/shop", 7, marker); err != nil || id != 302 {
		t.Errorf("find note: %d %v", id, err)
	}
	s.expect(expect{method: "POST", path: p + "/merge_requests/7/notes", status: 201, body: map[string]any{"body": "hello"}, reply: `{"id": 303, "body": "hello"}`})
	if id, err := c.CreateComment(ctx, "acme/shop", 7, "hello"); err != nil || id != 303 {
		t.Errorf("create note: %d %v", id, err)
	}
	s.expect(expect{method: "PUT", path: p + "/merge_requests/7/notes/303", body: map[string]any{"body": "edited"}, reply: `{"id": 303, "body": "edited"}`})
	if err := c.EditComment(ctx, "acme/shop", 7, 303, "edited"); err != nil {
		t.Error(err)
	}
	s.expect(expect{method: "PUT", path: p + "/merge_requests/7/notes/304", status: 404, reply: `{"message": "404 Not found"}`})
	if err := c.EditComment(ctx, "acme/shop", 7, 304, "x"); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("edit a deleted note: %v", err)
	}

	for user, level := range map[string]int{"alice": 30, "bob": 20} {
		s.expect(
			expect{method: "GET", path: "/api/v4/users", query: "username=" + user, reply: `[{"id": 42, "username": "` + user + `"}]`},
			expect{method: "GET", path: p + "/members/all/42", reply: fmt.Sprintf(`{"id": 42, "username": %q, "access_level": %d}`, user, level)},
		)
		if ok, err := c.CanWrite(ctx, "acme/shop", user); err != nil || ok != (level >= 30) {
			t.Errorf("%s (level %d) can write: %v %v", user, level, ok, err)
		}
	}
	s.expect(
		expect{method: "GET", path: "/api/v4/users", query: "username=carol", reply: `[{"id": 43, "username": "carol"}]`},
		expect{method: "GET", path: p + "/members/all/43", status: 404, reply: `{"message": "404 Not found"}`},
	)
	if ok, err := c.CanWrite(ctx, "acme/shop", "carol"); err != nil || ok {
		t.Errorf("a non-member can write: %v %v", ok, err)
	}

	s.expect(expect{method: "GET", path: p + "/merge_requests/7/diffs", query: "per_page=100",
		reply: `[{"old_path": "web/page.js", "new_path": "web/page.js"}, {"old_path": "api/old.py", "new_path": "api/new.py", "renamed_file": true}]`})
	if files, err := c.ChangedFiles(ctx, "acme/shop", 7); err != nil || strings.Join(files, ",") != "web/page.js,api/new.py,api/old.py" {
		t.Errorf("files: %v %v", files, err)
	}
	if h, _ := c.GitAuthorization(ctx); h != "Basic b2F1dGgyOmdscGF0LXRva2Vu" { // oauth2:glpat-token
		t.Errorf("git's header: %q", h)
	}
}

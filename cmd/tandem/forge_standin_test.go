package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-dev/tandem/forge"
)

// apiStandIn stands in for GitHub's or GitLab's REST API, which cannot be
// reached from here: every request must match a route of the documented
// API (method, path, auth header, body fields), and what tandem wrote
// (statuses, comments, deployments) is kept for the test to read.
type apiStandIn struct {
	t      *testing.T
	auth   func(*http.Request) bool
	routes []route
	srv    *httptest.Server

	mu          sync.Mutex
	statuses    []map[string]any // bodies, in order
	comments    map[int64]string
	nextID      int64
	deployments []map[string]any
	depStatuses []map[string]any
	requests    []string
}

type route struct {
	method string
	path   *regexp.Regexp
	// need are body fields that must be there, with the values they may take
	// (nil: any non-empty value).
	need  map[string][]string
	serve func(s *apiStandIn, m []string, body map[string]any) (int, any)
}

func newAPIStandIn(t *testing.T, auth func(*http.Request) bool, routes []route) *apiStandIn {
	s := &apiStandIn{t: t, auth: auth, routes: routes, comments: map[int64]string{}, nextID: 100}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *apiStandIn) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r.Method+" "+r.URL.EscapedPath())
	if !s.auth(r) {
		s.t.Errorf("%s %s: wrong auth header %q / %q", r.Method, r.URL, r.Header.Get("Authorization"), r.Header.Get("PRIVATE-TOKEN"))
		w.WriteHeader(401)
		return
	}
	var body map[string]any
	if r.Body != nil {
		b, _ := io.ReadAll(r.Body)
		if len(b) > 0 {
			if err := json.Unmarshal(b, &body); err != nil {
				s.t.Errorf("%s %s: body is not JSON: %s", r.Method, r.URL, b)
			}
		}
	}
	for _, rt := range s.routes {
		m := rt.path.FindStringSubmatch(r.URL.EscapedPath())
		if rt.method != r.Method || m == nil {
			continue
		}
		for field, allowed := range rt.need {
			v, ok := body[field]
			if !ok || fmt.Sprint(v) == "" {
				s.t.Errorf("%s %s: body lacks %s: %v", r.Method, r.URL, field, body)
			} else if allowed != nil && !contains(allowed, fmt.Sprint(v)) {
				s.t.Errorf("%s %s: %s = %v, the API allows %v", r.Method, r.URL, field, v, allowed)
			}
		}
		code, reply := rt.serve(s, m, body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(reply)
		return
	}
	s.t.Errorf("a request the API does not have: %s %s", r.Method, r.URL)
	w.WriteHeader(404)
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// read runs f with the stand-in's state locked.
func (s *apiStandIn) read(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
}

func (s *apiStandIn) listComments() []map[string]any {
	var out []map[string]any
	for id, b := range s.comments {
		out = append(out, map[string]any{"id": id, "body": b})
	}
	return out
}

func (s *apiStandIn) addComment(body map[string]any) (int, any) {
	s.nextID++
	s.comments[s.nextID] = fmt.Sprint(body["body"])
	return 201, map[string]any{"id": s.nextID, "body": body["body"]}
}

func (s *apiStandIn) editComment(id string, body map[string]any) (int, any) {
	var n int64
	fmt.Sscan(id, &n)
	if _, ok := s.comments[n]; !ok {
		return 404, map[string]string{"message": "Not Found"}
	}
	s.comments[n] = fmt.Sprint(body["body"])
	return 200, map[string]any{"id": n, "body": body["body"]}
}

// gitHubAPI is the part of GitHub's REST API tandem uses, as documented.
func gitHubAPI(t *testing.T, token string) *apiStandIn {
	repo := `/repos/acme/shop`
	return newAPIStandIn(t, func(r *http.Request) bool {
		return r.Header.Get("Authorization") == "Bearer "+token && strings.Contains(r.Header.Get("Accept"), "application/vnd.github")
	}, []route{
		{"POST", regexp.MustCompile(`^` + repo + `/statuses/([0-9a-f]{40})$`),
			map[string][]string{"state": {"error", "failure", "pending", "success"}, "context": nil, "description": nil},
			func(s *apiStandIn, m []string, b map[string]any) (int, any) {
				b["sha"] = m[1]
				s.statuses = append(s.statuses, b)
				return 201, map[string]any{"id": len(s.statuses), "state": b["state"]}
			}},
		{"GET", regexp.MustCompile(`^` + repo + `/issues/(\d+)/comments$`), nil,
			func(s *apiStandIn, m []string, b map[string]any) (int, any) { return 200, s.listComments() }},
		{"POST", regexp.MustCompile(`^` + repo + `/issues/(\d+)/comments$`), map[string][]string{"body": nil},
			func(s *apiStandIn, m []string, b map[string]any) (int, any) { return s.addComment(b) }},
		{"PATCH", regexp.MustCompile(`^` + repo + `/issues/comments/(\d+)$`), map[string][]string{"body": nil},
			func(s *apiStandIn, m []string, b map[string]any) (int, any) { return s.editComment(m[1], b) }},
		{"POST", regexp.MustCompile(`^` + repo + `/deployments$`),
			map[string][]string{"ref": nil, "environment": nil, "transient_environment": {"true"}, "auto_merge": {"false"}},
			func(s *apiStandIn, m []string, b map[string]any) (int, any) {
				s.deployments = append(s.deployments, b)
				return 201, map[string]any{"id": len(s.deployments), "sha": b["ref"]}
			}},
		{"POST", regexp.MustCompile(`^` + repo + `/deployments/(\d+)/statuses$`),
			map[string][]string{"state": {"error", "failure", "inactive", "in_progress", "queued", "pending", "success"}},
			func(s *apiStandIn, m []string, b map[string]any) (int, any) {
				b["deployment"] = m[1]
				s.depStatuses = append(s.depStatuses, b)
				return 201, map[string]any{"id": len(s.depStatuses), "state": b["state"]}
			}},
	})
}

// gitLabAPI is the part of GitLab's REST API tandem uses, as documented.
func gitLabAPI(t *testing.T, token string) *apiStandIn {
	project := `/api/v4/projects/acme%2Fshop`
	return newAPIStandIn(t, func(r *http.Request) bool { return r.Header.Get("PRIVATE-TOKEN") == token }, []route{
		{"POST", regexp.MustCompile(`^` + project + `/statuses/([0-9a-f]{40})$`),
			map[string][]string{"state": {"pending", "running", "success", "failed", "canceled"}, "name": nil},
			func(s *apiStandIn, m []string, b map[string]any) (int, any) {
				// As GitLab does, a status cannot move to the state it is in.
				for i := len(s.statuses) - 1; i >= 0; i-- {
					if last := s.statuses[i]; last["sha"] == m[1] && last["name"] == b["name"] {
						if last["state"] == b["state"] && b["state"] == "running" {
							return 400, map[string]string{"message": "Cannot transition status via :run from :running"}
						}
						break
					}
				}
				b["sha"] = m[1]
				s.statuses = append(s.statuses, b)
				return 201, map[string]any{"id": len(s.statuses), "status": b["state"]}
			}},
		{"GET", regexp.MustCompile(`^` + project + `/merge_requests/(\d+)/notes$`), nil,
			func(s *apiStandIn, m []string, b map[string]any) (int, any) { return 200, s.listComments() }},
		{"POST", regexp.MustCompile(`^` + project + `/merge_requests/(\d+)/notes$`), map[string][]string{"body": nil},
			func(s *apiStandIn, m []string, b map[string]any) (int, any) { return s.addComment(b) }},
		{"PUT", regexp.MustCompile(`^` + project + `/merge_requests/(\d+)/notes/(\d+)$`), map[string][]string{"body": nil},
			func(s *apiStandIn, m []string, b map[string]any) (int, any) { return s.editComment(m[2], b) }},
	})
}

// payload reads a documented payload from a package's testdata, with the
// head commit and number of this test's pull request.
func payload(t *testing.T, file, sha string, number int, replace ...string) []byte {
	b, err := os.ReadFile(filepath.Join("..", "..", file))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.NewReplacer(append([]string{
		"6dcb09b5b57875f334f61aebed695e2e4193db5e", sha, "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", sha,
		`"number": 7`, fmt.Sprintf(`"number": %d`, number), `"iid": 7`, fmt.Sprintf(`"iid": %d`, number),
	}, replace...)...).Replace(string(b))
	return []byte(s)
}

func postHook(t *testing.T, url string, h map[string]string, body []byte) int {
	req, _ := http.NewRequest("POST", url, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Pull requests on GitHub and merge requests on GitLab drive previews
// through tandem serve as Gitea's do, and what tandem tells them is checked
// request by request against their documented APIs.
func TestWebhookGitHubAndGitLab(t *testing.T) {
	needRoot(t)
	gh, gl := gitHubAPI(t, "ghp_test"), gitLabAPI(t, "glpat-test")
	shop := localRepo(t, "shop")
	sha := commitFile(t, shop, "feature", "web/title.txt", "Articles, from GitHub\n")
	s := &forgeServer{t: t, dir: t.TempDir()}
	apiAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s.api, s.gateway = "http://"+apiAddr, fmt.Sprintf("127.0.0.1:%d", freePort(t))
	for name, v := range map[string]string{"gh-token": "ghp_test", "gl-token": "glpat-test", "gh-secret": "gh-hook-secret", "gl-secret": "gl-hook-secret"} {
		writeFile(t, filepath.Join(s.dir, name), v+"\n")
	}
	writeFile(t, filepath.Join(s.dir, "tandem.yaml"), fmt.Sprintf(`data: data
domain: previews.example.com
listen: %s
api: %s
forges:
  - {name: github, type: github, url: "%s/", token: {file: gh-token}, webhook_secret: {file: gh-secret}}
  - {name: gitlab, type: gitlab, url: "%s", token: {file: gl-token}, webhook_secret: {file: gl-secret}}
repos:
  - name: shop
    url: %s
    compose: docker-compose.yml
    forge: {name: github, project: acme/shop, clone: false}
  - name: shop2
    url: %s
    compose: docker-compose.yml
    forge: {name: gitlab, project: acme/shop, clone: false}
`, s.gateway, apiAddr, gh.srv.URL, gl.srv.URL, shop, shop))
	s.start()

	t.Run("GitHub: a status, a deployment with the preview's URL, one comment; closed, the deployment inactive", func(t *testing.T) {
		body := payload(t, "github/testdata/pull_request.opened.json", sha, 7)
		mac := hmac.New(sha256.New, []byte("gh-hook-secret"))
		mac.Write(body)
		h := map[string]string{"X-GitHub-Event": "pull_request", "X-GitHub-Delivery": "gh-1", "X-Hub-Signature-256": "sha256=" + hex.EncodeToString(mac.Sum(nil))}
		if code := postHook(t, s.api+"/hooks/github", h, body); code != 202 {
			t.Fatalf("delivery: %d", code)
		}
		p := s.waitReady("shop-pr-7", sha)
		if code, page := s.page("shop-pr-7", true); code != 200 || !strings.Contains(page, "Articles, from GitHub") {
			t.Errorf("page: %d %s", code, page)
		}
		waitUntil(t, time.Minute, "GitHub told", func() bool {
			done := false
			gh.read(func() {
				n := len(gh.statuses)
				done = n > 0 && gh.statuses[n-1]["state"] == "success" && len(gh.depStatuses) > 0 &&
					gh.depStatuses[len(gh.depStatuses)-1]["state"] == "success" && len(gh.comments) == 1
			})
			return done
		})
		gh.read(func() {
			last := gh.statuses[len(gh.statuses)-1]
			if last["sha"] != sha || last["target_url"] != p.URL || last["context"] != forge.StatusContext {
				t.Errorf("status: %v", last)
			}
			if len(gh.deployments) != 1 || gh.deployments[0]["ref"] != sha || gh.deployments[0]["environment"] != "shop-pr-7" {
				t.Errorf("deployments: %v", gh.deployments)
			}
			if d := gh.depStatuses[len(gh.depStatuses)-1]; d["environment_url"] != p.URL || d["deployment"] != "1" {
				t.Errorf("deployment status: %v", d)
			}
			for _, c := range gh.comments {
				if !strings.Contains(c, forge.Marker("shop-pr-7")) || !strings.Contains(c, p.URL) || !strings.Contains(c, sha[:12]) {
					t.Errorf("comment: %s", c)
				}
			}
		})

		closed := payload(t, "github/testdata/pull_request.opened.json", sha, 7, `"action": "opened"`, `"action": "closed"`)
		mac = hmac.New(sha256.New, []byte("gh-hook-secret"))
		mac.Write(closed)
		h = map[string]string{"X-GitHub-Event": "pull_request", "X-GitHub-Delivery": "gh-2", "X-Hub-Signature-256": "sha256=" + hex.EncodeToString(mac.Sum(nil))}
		if code := postHook(t, s.api+"/hooks/github", h, closed); code != 202 {
			t.Fatalf("delivery: %d", code)
		}
		waitUntil(t, time.Minute, "destroyed, and GitHub told", func() bool {
			done := false
			gh.read(func() {
				n := len(gh.depStatuses)
				for _, c := range gh.comments {
					done = n > 0 && gh.depStatuses[n-1]["state"] == "inactive" && strings.Contains(c, "destroyed")
				}
			})
			return done && s.preview("shop-pr-7") == nil
		})
		gh.read(func() {
			if len(gh.comments) != 1 {
				t.Errorf("%d comments: one is kept up to date", len(gh.comments))
			}
		})
	})

	t.Run("GitLab: a commit status and one note on the merge request", func(t *testing.T) {
		body := payload(t, "gitlab/testdata/merge_request.open.json", sha, 8)
		h := map[string]string{"X-Gitlab-Event": "Merge Request Hook", "X-Gitlab-Token": "gl-hook-secret", "X-Gitlab-Event-UUID": "gl-1"}
		if code := postHook(t, s.api+"/hooks/gitlab", map[string]string{"X-Gitlab-Event": "Merge Request Hook", "X-Gitlab-Token": "wrong"}, body); code != 401 {
			t.Errorf("a wrong token: %d", code)
		}
		if code := postHook(t, s.api+"/hooks/gitlab", h, body); code != 202 {
			t.Fatalf("delivery: %d", code)
		}
		p := s.waitReady("shop2-pr-8", sha)
		waitUntil(t, time.Minute, "GitLab told", func() bool {
			done := false
			gl.read(func() {
				n := len(gl.statuses)
				for _, c := range gl.comments {
					done = n > 0 && gl.statuses[n-1]["state"] == "success" && strings.Contains(c, "ready")
				}
			})
			return done
		})
		gl.read(func() {
			last := gl.statuses[len(gl.statuses)-1]
			if last["sha"] != sha || last["target_url"] != p.URL || last["name"] != forge.StatusContext {
				t.Errorf("status: %v", last)
			}
			if len(gl.comments) != 1 {
				t.Errorf("notes: %v", gl.comments)
			}
		})
	})
}

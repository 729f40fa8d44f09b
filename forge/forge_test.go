package forge_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/forge"
	"github.com/tandem-dev/tandem/gitea"
	"github.com/tandem-dev/tandem/sqlite"
)

func TestPreviewName(t *testing.T) {
	for _, tc := range []struct {
		repo string
		n    int
		want string
	}{
		{"shop", 7, "shop-pr-7"},
		{"Shop_Front.end", 12, "shop-front-end-pr-12"},
		{"--x--", 1, "x-pr-1"},
		{"___", 3, "pr-3"},
		{strings.Repeat("a", 80), 123456, strings.Repeat("a", 63-len("-pr-123456")) + "-pr-123456"},
	} {
		got := forge.PreviewName(tc.repo, tc.n)
		if got != tc.want || tandem.ValidPreviewName(got) != nil {
			t.Errorf("PreviewName(%q, %d) = %q, want %q", tc.repo, tc.n, got, tc.want)
		}
	}
}

func TestMatchPath(t *testing.T) {
	patterns := []string{"frontend/**", "docker-compose.yml", "*.md"}
	for file, want := range map[string]bool{
		"frontend/app/page.js": true, "frontend": false, "frontendx/a": false, "docker-compose.yml": true,
		"README.md": true, "docs/x.md": false, "backend/api.py": false,
	} {
		if forge.MatchPath(patterns, file) != want {
			t.Errorf("%s: want %v", file, want)
		}
	}
}

// The webhook endpoint: the body limit, the signature before parsing (a
// refusal counted), a delivery recorded once, events nobody acts on let
// through, all without a preview manager being asked anything.
func TestWebhookHandler(t *testing.T) {
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "tandem.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	secret := []byte("s")
	c, _ := gitea.New(gitea.Config{URL: "http://127.0.0.1:1", Token: "t", WebhookSecret: secret})
	svc := forge.New(forge.Options{Store: store, Forges: map[string]forge.Client{"gitea": c}, MaxBody: 4096})
	srv := httptest.NewServer(svc.Handler("gitea"))
	defer srv.Close()
	post := func(event, delivery, body string, sign bool) int {
		req, _ := http.NewRequest("POST", srv.URL, strings.NewReader(body))
		req.Header.Set("X-Gitea-Event", event)
		req.Header.Set("X-Gitea-Delivery", delivery)
		if sign {
			m := hmac.New(sha256.New, secret)
			m.Write([]byte(body))
			req.Header.Set("X-Gitea-Signature", hex.EncodeToString(m.Sum(nil)))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	pr := `{"action":"opened","number":3,"pull_request":{"number":3,"head":{"sha":"abc","repo":{"full_name":"a/b"}},"base":{"repo":{"full_name":"a/b"}}},"repository":{"full_name":"a/b"},"sender":{"login":"x"}}`
	if code := post("pull_request", "1", pr, false); code != 401 {
		t.Errorf("unsigned: %d", code)
	}
	if code := post("pull_request", "1", "{not json", false); code != 401 {
		t.Errorf("unsigned garbage is refused before it is parsed: %d", code)
	}
	if got := svc.Refused("gitea"); got != 2 {
		t.Errorf("refused counted %v", got)
	}
	if code := post("pull_request", "1", strings.Repeat(" ", 5000)+pr, true); code != 413 {
		t.Errorf("over the limit: %d", code)
	}
	if code := post("pull_request", "1", "{not json", true); code != 400 {
		t.Errorf("signed garbage: %d", code)
	}
	if code := post("pull_request", "", pr, true); code != 400 {
		t.Errorf("no delivery ID: %d", code)
	}
	if code := post("push", "2", `{"ref":"refs/heads/main"}`, true); code != 200 {
		t.Errorf("an event previews ignore: %d", code)
	}
	if code := post("pull_request", "1", pr, true); code != 202 {
		t.Errorf("signed: %d", code)
	}
	if code := post("pull_request", "1", pr, true); code != 200 {
		t.Errorf("again: %d", code)
	}
	if code := post("pull_request", "3", pr, true); code != 202 {
		t.Errorf("another delivery of the same event: %d", code)
	}
	due, _ := store.DueDeliveries(context.Background(), time.Now().Add(time.Minute), 10)
	if len(due) != 2 || due[0].ID != "1" || due[1].ID != "3" || !strings.Contains(string(due[0].Event), `"head":"abc"`) {
		t.Errorf("queued: %+v", due)
	}
	req, _ := http.NewRequest("GET", srv.URL, nil)
	if resp, _ := http.DefaultClient.Do(req); resp.StatusCode != 405 {
		t.Errorf("GET: %d", resp.StatusCode)
	}
}

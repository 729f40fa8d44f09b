package access

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
)

// putToken stores an API token and returns its secret.
func putToken(t *testing.T, w *world, name, repo string, role tandem.Role) (*tandem.Token, string) {
	t.Helper()
	tok := &tandem.Token{ID: tandem.NewID("t_"), Name: name, Role: role, Repo: repo, CreatedBy: "root", CreatedAt: time.Now()}
	secret := tandem.NewSecret("tdm_")
	if err := w.store.PutToken(context.Background(), tok, tandem.HashSecret(secret)); err != nil {
		t.Fatal(err)
	}
	return tok, secret
}

// Automation gets in with an API token of the repository in
// X-Tandem-Bypass, which the application never sees.
func TestBypassHeader(t *testing.T) {
	w := newWorld(t, nil)
	ci, secret := putToken(t, w, "ci", "shop", tandem.RoleViewer)
	_, blog := putToken(t, w, "blog-ci", "blog", tandem.RoleAdmin)
	b := w.browser()
	b.follow = false
	p := b.get(w.url("pr-7", "/api/articles/"), BypassHeader, secret, "Authorization", "Token app-token")
	got := decodeApp(t, p)
	if got["tandem"] != nil || got["cookie"] != nil {
		t.Errorf("the application saw %v %v", got["tandem"], got["cookie"])
	}
	if a := got["authorization"].([]any); len(a) != 1 || a[0] != "Token app-token" {
		t.Errorf("Authorization %v", a)
	}
	eventually(t, "an attributed log line", func() bool {
		return strings.Contains(w.logs.String(), `"principal":"token ci (`+ci.ID+`)"`)
	})

	for _, c := range []struct {
		secret string
		status int
	}{{"tdm_wrong", 401}, {blog, 403}} {
		p := b.get(w.url("pr-7", "/"), BypassHeader, c.secret)
		var env map[string]any
		json.Unmarshal([]byte(p.body), &env)
		if p.status != c.status || env["status"] != "error" {
			t.Errorf("%s: %d %s", c.secret, p.status, p.body)
		}
	}
	if err := w.store.RevokeToken(context.Background(), ci.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if p := b.get(w.url("pr-7", "/"), BypassHeader, secret); p.status != http.StatusUnauthorized || !strings.Contains(p.body, "revoked") {
		t.Errorf("a revoked token: %d %s", p.status, p.body)
	}
}

// The first request of each principal to each generation is an event and
// an audit entry; the others are not, nor after a restart.
func TestFirstVisit(t *testing.T) {
	w := newWorld(t, nil)
	_, secret := putToken(t, w, "ci", "shop", tandem.RoleViewer)
	b := w.browser()
	b.signInOIDC(w.url("pr-7", "/"), "alice@corp.example")
	for range 5 {
		b.get(w.url("pr-7", "/x"))
		b.get(w.url("pr-7", "/"), BypassHeader, secret)
	}
	eventually(t, "two first visits", func() bool { return len(w.events("preview.visited")) == 2 })

	// A restart, and a new generation of pr-7.
	srv, err := New(w.config)
	if err != nil {
		t.Fatal(err)
	}
	w.srv = srv
	w.route()
	b.get(w.url("pr-7", "/"))
	w.srv.visits.wg.Wait()
	if n := len(w.events("preview.visited")); n != 2 {
		t.Errorf("%d visits after a restart", n)
	}
	w.route2(Preview{Name: "pr-7", Repo: "shop", Generation: 2})
	b.get(w.url("pr-7", "/"))
	eventually(t, "the visit of generation 2", func() bool { return len(w.events("preview.visited")) == 3 })
	ev := w.events("preview.visited")
	if ev[2].Actor != "alice@corp.example" || ev[2].Detail != "generation 2" {
		t.Errorf("%+v", ev[2])
	}
	w.srv.visits.wg.Wait() // the audit entry follows the event
	audit := strings.Join(w.audit.kinds(), "\n")
	if strings.Count(audit, "visit.first pr-7 alice@corp.example") != 2 {
		t.Errorf("audit:\n%s", audit)
	}
}

package git

import (
	"context"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tandem-dev/tandem"
)

// A private repository over HTTP (git's own http-backend): the mirror
// clones and fetches it with the header Credentials gives, asked at every
// fetch, and the secret shows in no command line and no error.
func TestCredentials(t *testing.T) {
	backend := "/usr/lib/git-core/git-http-backend"
	if _, err := os.Stat(backend); err != nil {
		t.Skip("no git-http-backend")
	}
	r := newRepo(t)
	bare := filepath.Join(t.TempDir(), "shop.git")
	run(t, "", "clone", "--quiet", "--bare", r.dir, bare)
	var mu sync.Mutex
	var seen []string // the Authorization headers requests carried
	cgiHandler := &cgi.Handler{Path: backend, Env: []string{"GIT_PROJECT_ROOT=" + filepath.Dir(bare), "GIT_HTTP_EXPORT_ALL=1"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		seen = append(seen, req.Header.Get("Authorization"))
		mu.Unlock()
		if req.Header.Get("Authorization") != "Bearer s3cret-token" {
			w.Header().Set("WWW-Authenticate", `Basic realm="private"`)
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		cgiHandler.ServeHTTP(w, req)
	}))
	defer srv.Close()
	url := srv.URL + "/shop.git"

	anonymous := NewMirror("shop", url, filepath.Join(t.TempDir(), "shop.git"))
	_, _, err := anonymous.Resolve(context.Background(), "main")
	wantCode(t, err, tandem.EUNAVAILABLE)

	m := NewMirror("shop", url, filepath.Join(t.TempDir(), "shop.git"))
	asked := 0
	m.Credentials = func(context.Context) (string, error) {
		asked++
		return "Bearer s3cret-token", nil
	}
	if sha, _, err := m.Resolve(context.Background(), "main"); err != nil || sha != r.main {
		t.Fatalf("clone with credentials: %s %v", sha, err)
	}
	r.write("page.txt", "three\n", 0o644)
	next := r.commit(t, "three")
	run(t, r.dir, "push", "--quiet", bare, "main")
	if sha, _, err := m.Resolve(context.Background(), "main"); err != nil || sha != next {
		t.Fatalf("fetch with credentials: %s %v", sha, err)
	}
	if asked != 2 {
		t.Errorf("credentials asked %d times for a clone and a fetch", asked)
	}
	mu.Lock()
	authorized := 0
	for _, h := range seen {
		if h == "Bearer s3cret-token" {
			authorized++
		}
	}
	mu.Unlock()
	if authorized < 2 {
		t.Errorf("requests with the header: %d of %d", authorized, len(seen))
	}

	// A wrong token fails, and says nothing of it.
	m.Credentials = func(context.Context) (string, error) { return "Bearer wrong-token", nil }
	r.write("page.txt", "four\n", 0o644)
	r.commit(t, "four")
	run(t, r.dir, "push", "--quiet", bare, "main")
	_, _, err = m.Resolve(context.Background(), "main")
	if err == nil || strings.Contains(err.Error(), "wrong-token") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("fetch with a wrong token: %v", err)
	}
	// Nothing in the mirror's config keeps a credential.
	if b, _ := os.ReadFile(filepath.Join(m.Dir, "config")); strings.Contains(string(b), "token") {
		t.Errorf("the mirror's config holds a credential:\n%s", b)
	}
}

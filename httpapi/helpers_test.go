package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/internal/testutil"
	"github.com/tandem-dev/tandem/preview"
	"github.com/tandem-dev/tandem/sqlite"
	"github.com/tandem-dev/tandem/supervisor"
)

// previewBook is the manager's side of the API as far as these tests need
// it: records of previews, kept in memory. What is under test here is who
// may ask; cmd/tandem's serve tests run the same API over the real manager.
type previewBook struct {
	mu        sync.Mutex
	previews  map[string]*tandem.Preview
	destroyed []string
}

var _ Previews = (*previewBook)(nil)

func (b *previewBook) Create(_ context.Context, req preview.CreateRequest) (*tandem.Preview, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if p, ok := b.previews[req.Name]; ok && p.Repo != req.Repo {
		return nil, tandem.Errorf(tandem.ECONFLICT, "preview %s is of repository %s", req.Name, p.Repo)
	}
	p := &tandem.Preview{Name: req.Name, Repo: req.Repo, Ref: req.Ref, State: tandem.PreviewQueued}
	b.previews[req.Name] = p
	return p, nil
}

func (b *previewBook) Get(_ context.Context, name string) (*tandem.Preview, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if p, ok := b.previews[name]; ok {
		return p, nil
	}
	return nil, tandem.Errorf(tandem.ENOTFOUND, "no preview %q", name)
}

func (b *previewBook) List(context.Context) ([]*tandem.Preview, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var list []*tandem.Preview
	for _, name := range []string{"pr-1", "pr-2", "pr-3", "pr-4"} {
		if p, ok := b.previews[name]; ok {
			list = append(list, p)
		}
	}
	return list, nil
}

func (b *previewBook) Destroy(_ context.Context, name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.previews, name)
	b.destroyed = append(b.destroyed, name)
	return nil
}

func (b *previewBook) Logs(context.Context, string, string, int) ([]string, error) {
	return []string{"a line"}, nil
}

func (b *previewBook) Follow(string, string) (<-chan supervisor.Line, func(), error) {
	ch := make(chan supervisor.Line)
	close(ch)
	return ch, func() {}, nil
}

func (b *previewBook) Events(_ context.Context, name string, _ int64) ([]tandem.Event, error) {
	return []tandem.Event{{ID: 1, Preview: name, Kind: "state", Detail: "ready"}}, nil
}

func (b *previewBook) Subscribe(string) (<-chan tandem.Event, func()) {
	ch := make(chan tandem.Event)
	close(ch)
	return ch, func() {}
}

// api is the TCP API of a server with two repositories, shop and blog, a
// preview of shop (pr-1) and one of blog (pr-2), over a real state
// database, with its log kept.
type api struct {
	t        *testing.T
	srv      *Server
	store    *sqlite.DB
	previews *previewBook
	url      string
	sockURL  string // the socket's handler, over TCP for the test
	log      *testutil.Buffer
	admin    string // an admin of every repository's token
}

func newAPI(t *testing.T) *api {
	t.Helper()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "tandem.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	a := &api{t: t, store: store, log: &testutil.Buffer{}, previews: &previewBook{previews: map[string]*tandem.Preview{
		"pr-1": {Name: "pr-1", Repo: "shop", State: tandem.PreviewReady},
		"pr-2": {Name: "pr-2", Repo: "blog", State: tandem.PreviewReady},
	}}}
	a.srv = &Server{Previews: a.previews, Access: store, Repos: []string{"shop", "blog"},
		VerificationURL: "https://auth.previews.example.com/device", Logger: slog.New(slog.NewJSONHandler(a.log, nil))}
	tcp := httptest.NewServer(a.srv.TCPHandler())
	t.Cleanup(tcp.Close)
	sock := httptest.NewServer(a.srv.SocketHandler())
	t.Cleanup(sock.Close)
	a.url, a.sockURL = tcp.URL, sock.URL
	a.admin = a.token(tandem.RoleAdmin, tandem.AllRepos)
	return a
}

// token makes a token of role in repo straight in the store.
func (a *api) token(role tandem.Role, repo string) string {
	a.t.Helper()
	secret := tandem.NewSecret(TokenPrefix)
	tok := &tandem.Token{ID: tandem.NewID("t_"), Name: string(role) + "-of-" + repo, Role: role, Repo: repo, CreatedBy: "test"}
	if err := a.store.PutToken(a.t.Context(), tok, tandem.HashSecret(secret)); err != nil {
		a.t.Fatal(err)
	}
	return secret
}

// do sends a request to the TCP API with token (none if ""), and decodes
// the answer into out, or into the error envelope it returns.
func (a *api) do(method, path, token string, body, out any) (int, errorBody) {
	a.t.Helper()
	return a.send(a.url, method, path, token, body, out)
}

func (a *api) send(base, method, path, token string, body, out any) (int, errorBody) {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, base+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e errorBody
	if resp.StatusCode >= 300 {
		if err := json.Unmarshal(b, &e); err != nil || e.Code == "" {
			a.t.Errorf("%s %s: %d without the error envelope: %s", method, path, resp.StatusCode, b)
		}
		if resp.StatusCode == 401 && resp.Header.Get("WWW-Authenticate") == "" {
			a.t.Errorf("%s %s: 401 without WWW-Authenticate", method, path)
		}
	} else if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			a.t.Errorf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode, e
}

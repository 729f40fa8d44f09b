package dashboard

import (
	"bufio"
	"context"
	"crypto/subtle"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/audit"
	"github.com/tandem-dev/tandem/httpapi"
	"github.com/tandem-dev/tandem/preview"
	"github.com/tandem-dev/tandem/review"
	"github.com/tandem-dev/tandem/sqlite"
	"github.com/tandem-dev/tandem/supervisor"
)

// previews is a preview manager for the handlers' tests: records kept in
// memory, events published as the manager publishes them, and output
// lines a test feeds. Nothing runs.
type previews struct {
	mu     sync.Mutex
	list   map[string]*tandem.Preview
	events []tandem.Event
	subs   map[chan tandem.Event]string
	lines  map[string][]string // by "preview/service"
	follow map[chan supervisor.Line]string
}

var (
	_ Previews         = (*previews)(nil)
	_ httpapi.Previews = (*previews)(nil)
)

func newPreviews() *previews {
	return &previews{list: map[string]*tandem.Preview{}, subs: map[chan tandem.Event]string{},
		lines: map[string][]string{}, follow: map[chan supervisor.Line]string{}}
}

func (m *previews) put(p tandem.Preview) {
	m.mu.Lock()
	now := time.Now().UTC()
	if p.CreatedAt.IsZero() {
		p.CreatedAt = now
	}
	p.UpdatedAt = now
	if p.URL == "" {
		p.URL = "http://" + p.Name + ".previews.example.com"
	}
	m.list[p.Name] = &p
	m.mu.Unlock()
	m.event(p.Name, "state", string(p.State))
}

func (m *previews) event(name, kind, detail string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := tandem.Event{ID: int64(len(m.events) + 1), Preview: name, Time: time.Now().UTC(), Kind: kind, Detail: detail}
	m.events = append(m.events, e)
	for ch, want := range m.subs {
		if want == "" || want == name {
			select {
			case ch <- e:
			default:
			}
		}
	}
}

func (m *previews) Get(_ context.Context, name string) (*tandem.Preview, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.list[name]
	if !ok {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "no preview %s", name)
	}
	c := *p
	return &c, nil
}

func (m *previews) List(context.Context) ([]*tandem.Preview, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*tandem.Preview
	for _, p := range m.list {
		c := *p
		out = append(out, &c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (m *previews) Create(ctx context.Context, req preview.CreateRequest) (*tandem.Preview, error) {
	p, err := m.Get(ctx, req.Name)
	if err != nil {
		p = &tandem.Preview{Name: req.Name}
	}
	p.Repo, p.Ref, p.PR, p.State = req.Repo, req.Ref, req.PR, tandem.PreviewQueued
	p.Generation++
	m.put(*p)
	return p, nil
}

func (m *previews) Destroy(_ context.Context, name string) error {
	m.mu.Lock()
	_, ok := m.list[name]
	delete(m.list, name)
	m.mu.Unlock()
	if !ok {
		return tandem.Errorf(tandem.ENOTFOUND, "no preview %s", name)
	}
	m.event(name, "destroyed", "")
	return nil
}

func (m *previews) Logs(_ context.Context, name, service string, n int) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p, ok := m.list[name]; !ok || p.State != tandem.PreviewReady {
		return nil, tandem.Errorf(tandem.EUNAVAILABLE, "preview %s has no running instance", name)
	}
	l := m.lines[name+"/"+service]
	return l[max(0, len(l)-n):], nil
}

func (m *previews) Follow(name, service string) (<-chan supervisor.Line, func(), error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p, ok := m.list[name]; !ok || p.State != tandem.PreviewReady {
		return nil, nil, tandem.Errorf(tandem.EUNAVAILABLE, "preview %s has no running instance", name)
	}
	ch := make(chan supervisor.Line, 16)
	m.follow[ch] = name + "/" + service
	return ch, func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if _, ok := m.follow[ch]; ok {
			delete(m.follow, ch)
			close(ch)
		}
	}, nil
}

// line is a new line of a service's output.
func (m *previews) line(name, service, text string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := name + "/" + service
	m.lines[key] = append(m.lines[key], text)
	for ch, want := range m.follow {
		if want == key {
			ch <- supervisor.Line{Service: service, Time: time.Now(), Text: text}
		}
	}
}

func (m *previews) Events(_ context.Context, name string, after int64) ([]tandem.Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []tandem.Event
	for _, e := range m.events {
		if e.Preview == name && e.ID > after {
			out = append(out, e)
		}
	}
	return out, nil
}

func (m *previews) Subscribe(name string) (<-chan tandem.Event, func()) {
	ch := make(chan tandem.Event, 256)
	m.mu.Lock()
	m.subs[ch] = name
	m.mu.Unlock()
	return ch, func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if _, ok := m.subs[ch]; ok {
			delete(m.subs, ch)
			close(ch)
		}
	}
}

func (m *previews) Instance(string) *preview.Instance { return nil }

// shares makes share links as package access does, without mail.
type shares struct {
	mu    sync.Mutex
	links []*tandem.ShareLink
}

func (s *shares) CreateShare(_ context.Context, by *tandem.Principal, preview, email string, ttl time.Duration, _ bool) (*tandem.ShareLink, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now().UTC()
	l := &tandem.ShareLink{ID: tandem.NewID("s_"), Repo: "shop", Preview: preview, Email: email, CreatedBy: by.String(), CreatedAt: now, ExpiresAt: now.Add(ttl)}
	s.links = append(s.links, l)
	return l, "http://auth.previews.example.com/share?k=" + tandem.NewSecret("tdmk_"), nil
}

func (s *shares) Shares(_ context.Context, preview string) ([]*tandem.ShareLink, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*tandem.ShareLink
	for _, l := range s.links {
		if l.Preview == preview {
			c := *l
			out = append(out, &c)
		}
	}
	return out, nil
}

func (s *shares) RevokeShare(_ context.Context, _ *tandem.Principal, preview, id string) (*tandem.ShareLink, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.links {
		if l.ID == id && l.Preview == preview {
			l.RevokedAt = time.Now().UTC()
			return l, nil
		}
	}
	return nil, tandem.Errorf(tandem.ENOTFOUND, "no share link %s", id)
}

// reauth checks signing codes as package access does: "246810" is the
// signer's authenticator app's code now. It captures nothing.
type reauth struct{}

func (reauth) ReviewerSession(context.Context, *tandem.Person, string) (*http.Cookie, func(), error) {
	return nil, nil, tandem.Errorf(tandem.EUNSUPPORTED, "no captures in these tests")
}
func (reauth) SendReauthCode(context.Context, *tandem.Person, string) error { return nil }
func (reauth) Reauthenticate(_ context.Context, _ *tandem.Person, code string) (string, time.Time, error) {
	if code != "246810" {
		return "", time.Time{}, tandem.Errorf(tandem.EUNAUTHORIZED, "that code is wrong")
	}
	return "totp", time.Now().UTC(), nil
}

// testAuth is the sign-in for the handlers' tests: a fixed anti-forgery
// token, which forms must carry back.
type testAuth struct{}

const testCSRF = "csrf-token-of-the-test-browser-0123456789"

func (testAuth) CSRF(http.ResponseWriter, *http.Request) string { return testCSRF }
func (testAuth) CheckCSRF(r *http.Request) bool {
	return subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(testCSRF)) == 1
}
func (testAuth) ReauthURL(u string) string {
	return "http://auth.previews.example.com/signin?reauth=1&rd=" + url.QueryEscape(u)
}

// world is a dashboard over real stores (SQLite, the audit log) and the
// fake manager, served by httptest. Requests say who they are from in a
// header only this test server reads.
type world struct {
	t     *testing.T
	srv   *httptest.Server
	dash  *Server
	pv    *previews
	store *sqlite.DB
	log   *audit.Log
	data  string
	who   map[string]*tandem.Principal
}

const whoHeader = "X-Test-Who"

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t, pv: newPreviews(), data: t.TempDir(), who: map[string]*tandem.Principal{}}
	db, err := sqlite.Open(filepath.Join(w.data, "tandem.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	w.store = db
	key, err := audit.EnsureKey(w.data, "previews.example.com/audit")
	if err != nil {
		t.Fatal(err)
	}
	w.log, err = audit.Open(context.Background(), db, key)
	if err != nil {
		t.Fatal(err)
	}
	reviews, err := review.New(review.Config{Store: db, Previews: w.pv, Log: w.log, Evidence: audit.EvidenceDirIn(w.data), Access: reauth{}})
	if err != nil {
		t.Fatal(err)
	}
	api := &httpapi.Server{Previews: w.pv, Access: db, Repos: []string{"shop", "blog"}, Shares: &shares{}, Reviews: reviews}
	w.dash, err = New(Config{URL: "http://tandem.previews.example.com", AuthURL: "http://auth.previews.example.com",
		API: api, Previews: w.pv, Auth: testAuth{}, Audit: w.log, Evidence: audit.EvidenceDirIn(w.data),
		Repos:       []Repo{{Name: "shop", URL: "/srv/git/shop.git", Compose: "docker-compose.yml", DefaultBranch: "main"}, {Name: "blog", URL: "/srv/git/blog.git", Compose: "compose.yml", DefaultBranch: "main", Access: tandem.AccessPublic}},
		Principal:   func(r *http.Request) *tandem.Principal { return w.who[r.Header.Get(whoHeader)] },
		StreamLimit: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	w.srv = httptest.NewServer(w.dash)
	t.Cleanup(w.srv.Close)
	w.person("admin@corp.example", map[string]tandem.Role{tandem.AllRepos: tandem.RoleAdmin})
	w.person("viewer@corp.example", map[string]tandem.Role{"shop": tandem.RoleViewer})
	w.person("reviewer@corp.example", map[string]tandem.Role{"shop": tandem.RoleReviewer})
	w.person("shopadmin@corp.example", map[string]tandem.Role{"shop": tandem.RoleAdmin})
	w.person("nobody@elsewhere.example", map[string]tandem.Role{})
	return w
}

// person makes someone known, with roles given by grants.
func (w *world) person(email string, roles map[string]tandem.Role) {
	ctx := context.Background()
	p := &tandem.Person{ID: tandem.NewID("p_"), Email: email, Name: strings.Split(email, "@")[0], CreatedAt: time.Now().UTC()}
	if err := w.store.PutPerson(ctx, p); err != nil {
		w.t.Fatal(err)
	}
	for repo, role := range roles {
		if _, err := w.store.AddGrant(ctx, tandem.Grant{Repo: repo, Role: role, Email: email, Source: "config"}); err != nil {
			w.t.Fatal(err)
		}
	}
	w.who[email] = &tandem.Principal{Kind: tandem.PrincipalPerson, Person: p, Roles: roles, Method: "oidc", AuthTime: time.Now()}
}

type response struct {
	status int
	header http.Header
	body   string
}

// do sends a request as who; a form is posted with the anti-forgery token
// unless it says csrf itself.
func (w *world) do(who, method, path string, form url.Values) response {
	w.t.Helper()
	var body io.Reader
	if form != nil {
		if _, ok := form["csrf"]; !ok {
			form.Set("csrf", testCSRF)
		}
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, w.srv.URL+path, body)
	req.Header.Set(whoHeader, who)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 30 * time.Second}
	res, err := c.Do(req)
	if err != nil {
		w.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, res.Header, string(b)}
}

func (w *world) get(who, path string) response { return w.do(who, http.MethodGet, path, nil) }

// sse is a stream of events read as they come.
type sse struct {
	events chan sseEvent
	cancel func()
}

type sseEvent struct{ name, id, data string }

func (w *world) stream(who, path string) *sse {
	w.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, w.srv.URL+path, nil)
	req.Header.Set(whoHeader, who)
	req.Header.Set("Accept", "text/event-stream")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		w.t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		cancel()
		w.t.Fatalf("%s: %d %s", path, res.StatusCode, res.Header.Get("Content-Type"))
	}
	s := &sse{events: make(chan sseEvent, 1000), cancel: cancel}
	w.t.Cleanup(cancel)
	go func() {
		defer close(s.events)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		var e sseEvent
		var data []string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if e.name != "" || data != nil {
					e.data = strings.Join(data, "\n")
					s.events <- e
				}
				e, data = sseEvent{}, nil
			case strings.HasPrefix(line, "event: "):
				e.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "id: "):
				e.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "data:"):
				data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
			}
		}
	}()
	return s
}

// next returns the next event called name that satisfies ok (nil: any),
// skipping others, or fails the test after a while.
func (s *sse) next(t *testing.T, name string, ok func(sseEvent) bool) sseEvent {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case e, open := <-s.events:
			if !open {
				t.Fatalf("the stream ended before a %s event", name)
			}
			if e.name == name && (ok == nil || ok(e)) {
				return e
			}
		case <-timeout:
			t.Fatalf("no %s event in 20s", name)
		}
	}
}

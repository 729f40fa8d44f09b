package review

import (
	"context"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/access"
	"github.com/tandem-dev/tandem/audit"
	"github.com/tandem-dev/tandem/capture"
	"github.com/tandem-dev/tandem/gateway"
	"github.com/tandem-dev/tandem/internal/testutil"
	"github.com/tandem-dev/tandem/sqlite"
)

const domain = "previews.example.com"

// plan is the review plan of the tests' repository.
const plan = `checklist:
  - id: home
    text: The home page lists the articles
    page: /
    viewport: 800x600
    requires_evidence: true
  - id: login
    text: Signing in works
stages:
  - name: qa
    groups: [qa]
  - name: product
    people: [pm@corp.example, qa1@corp.example]
`

// bench is a preview server's review side as tandem serve wires it: the
// real SQLite store and audit log, the real access server and gateway in
// front of an application, and people with authenticator apps.
type bench struct {
	t       *testing.T
	db      *sqlite.DB
	log     *audit.Log
	svc     *Service
	access  *access.Server
	app     *app
	gwLog   *testutil.Buffer
	port    string
	route   func()            // routes pr-7 behind its gate
	secrets map[string]string // person → TOTP secret
	people  map[string]*tandem.Person
	skew    atomic.Int64 // the access server's clock runs this far ahead: a step per code
}

// app is the preview's application: it says what it got.
type app struct {
	mu   sync.Mutex
	seen []string // paths
}

func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.seen = append(a.seen, r.URL.Path)
	a.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprint(w, `<!doctype html><title>Shop</title><h1>Articles</h1><ul><li>One Origin for Two Servers</li><li>CSRF Behind a Gateway</li></ul>`)
}

// previews adapts the store to Previews.
type previews struct{ *sqlite.DB }

func (p previews) Get(ctx context.Context, name string) (*tandem.Preview, error) {
	return p.Preview(ctx, name)
}

func newBench(t *testing.T, browser bool) *bench {
	t.Helper()
	dir := t.TempDir()
	db, err := sqlite.Open(filepath.Join(dir, "tandem.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	key, err := audit.EnsureKey(dir, domain+"/audit")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	log, err := audit.Open(ctx, db, key)
	if err != nil {
		t.Fatal(err)
	}
	b := &bench{t: t, db: db, log: log, app: &app{}, gwLog: &testutil.Buffer{}, secrets: map[string]string{}, people: map[string]*tandem.Person{}}
	if _, err := db.AddGrant(ctx, tandem.Grant{Repo: "shop", Role: tandem.RoleApprover, Domain: "corp.example", Source: "api"}); err != nil {
		t.Fatal(err)
	}
	for i, who := range []struct{ email, name, group string }{
		{"dev@corp.example", "Dana Developer", "qa"}, {"qa1@corp.example", "Quinn Analyst", "qa"},
		{"qa2@corp.example", "Quentin Second", "qa"}, {"pm@corp.example", "Pat Manager", "product"},
	} {
		p := &tandem.Person{ID: fmt.Sprintf("p_%d", i), Email: who.email, Name: who.name, Groups: []string{who.group}, TOTP: true, CreatedAt: time.Now()}
		secret := base32.StdEncoding.EncodeToString([]byte(fmt.Sprintf("secret of person %03d", i))) // 20 bytes
		if err := db.PutPerson(ctx, p); err != nil {
			t.Fatal(err)
		}
		if err := db.PutTOTPSecret(ctx, p.ID, secret); err != nil {
			t.Fatal(err)
		}
		b.people[who.email], b.secrets[who.email] = p, secret
	}
	b.startGateway(t)
	b.access, err = access.New(access.Config{Store: db, Previews: db, Domain: domain, Scheme: "http", Port: b.port,
		Logger: slog.New(slog.DiscardHandler), MaxTries: 3, Audit: log, Now: b.clock})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Store: db, Previews: previews{db}, Log: log, Evidence: audit.EvidenceDirIn(dir), Access: b.access, Gateway: "127.0.0.1:" + b.port}
	if browser {
		cfg.Browser = &capture.Browser{Path: chromium(t)}
	}
	if b.svc, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	b.makeGeneration(1, "1111111111111111111111111111111111111111")
	return b
}

// startGateway serves pr-7 behind its gate; the gate is set once the
// access server exists.
func (b *bench) startGateway(t *testing.T) {
	srv := httptest.NewServer(b.app)
	t.Cleanup(srv.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, b.port, _ = net.SplitHostPort(ln.Addr().String())
	gw := gateway.New(gateway.Options{Logger: slog.New(slog.NewJSONHandler(b.gwLog, nil))})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		gw.Shutdown(ctx)
	})
	go gw.Serve(ln)
	b.route = func() {
		dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, srv.Listener.Addr().String())
		}
		site := &gateway.Site{Name: "pr-7", Routes: []tandem.Route{{Path: "/", Service: "web", Port: 80}}, Dial: dial,
			Gate: b.access.Gate(access.Preview{Name: "pr-7", Repo: "shop", Generation: 1})}
		gw.Set(&gateway.Table{Previews: map[string]map[string]*gateway.Site{domain: {"pr-7": site}}})
	}
}

// makeGeneration makes generation gen of pr-7 at commit serve, with the
// plan read from a work tree, as the preview manager does.
func (b *bench) makeGeneration(gen int, commit string) {
	t := b.t
	ctx := context.Background()
	tree := t.TempDir()
	os.MkdirAll(filepath.Join(tree, ".tandem"), 0o755)
	if err := os.WriteFile(filepath.Join(tree, tandem.ReviewPlanFile), []byte(plan), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := b.db.Preview(ctx, "pr-7")
	if tandem.ErrorCode(err) == tandem.ENOTFOUND {
		p = &tandem.Preview{Name: "pr-7", Repo: "shop", Ref: "refs/pull/7/head", PR: 7, URL: "http://pr-7." + domain + ":" + b.port,
			Author: "dev@corp.example", CreatedAt: time.Now().Add(-time.Hour).UTC()}
	} else if err != nil {
		t.Fatal(err)
	}
	digest, err := b.svc.PlanOf(ctx, p, gen, tree, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.State, p.Generation, p.Serving, p.Commit = tandem.PreviewReady, gen, gen, commit
	p.Binding = tandem.Binding{Repo: "shop", Commit: commit, StackDigest: "sha256:" + fmt.Sprintf("%064d", gen), ReviewPlan: digest}
	if err := b.db.PutPreview(ctx, p); err != nil {
		t.Fatal(err)
	}
	if b.route != nil {
		b.route()
	}
}

// person is someone's principal through a token of their own, as the CLI
// after tandem login: it needs a code to sign.
func (b *bench) person(email string) *tandem.Principal {
	p := b.people[email]
	return &tandem.Principal{Kind: tandem.PrincipalPerson, Person: p, Roles: map[string]tandem.Role{"shop": tandem.RoleApprover},
		Token: &tandem.Token{ID: "t_" + p.ID, PersonID: p.ID}, Method: "token"}
}

// browser is someone's principal through a browser session that signed in
// with method at authTime.
func (b *bench) browser(email, method string, authTime time.Time) *tandem.Principal {
	p := b.people[email]
	return &tandem.Principal{Kind: tandem.PrincipalPerson, Person: p, Roles: map[string]tandem.Role{"shop": tandem.RoleApprover},
		Method: method, AuthTime: authTime}
}

// clock is the access server's: codes made one after the other are a
// time step apart, so each is new.
func (b *bench) clock() time.Time { return time.Now().Add(time.Duration(b.skew.Load())) }

// code is someone's authenticator's code now, once the clock moved a step.
func (b *bench) code(email string) string {
	b.skew.Add(int64(30 * time.Second))
	c, err := totp.GenerateCode(b.secrets[email], b.clock())
	if err != nil {
		b.t.Fatal(err)
	}
	return c
}

// entries are the audit log's predicates, in order.
func (b *bench) entries() []tandem.AuditEvent {
	recs, err := b.db.AuditRecords(context.Background(), tandem.AuditFilter{Preview: "pr-7"})
	if err != nil {
		b.t.Fatal(err)
	}
	var out []tandem.AuditEvent
	for _, r := range recs {
		var env struct{ Payload []byte }
		var st struct{ Predicate tandem.AuditEvent }
		if json.Unmarshal(r.Envelope, &env) != nil || json.Unmarshal(env.Payload, &st) != nil {
			b.t.Fatal("an entry that is not a DSSE envelope of a statement")
		}
		out = append(out, st.Predicate)
	}
	return out
}

// chromium finds the browser as the other browser tests do.
func chromium(t *testing.T) string {
	if p := os.Getenv("TANDEM_CHROMIUM"); p != "" {
		return p
	}
	if p := capture.FindChromium(); p != "" {
		return p
	}
	t.Skip("no Chromium")
	return ""
}

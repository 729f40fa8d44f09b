package access

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/audit"
	"github.com/tandem-dev/tandem/gateway"
	"github.com/tandem-dev/tandem/internal/testmail"
	"github.com/tandem-dev/tandem/internal/testoidc"
	"github.com/tandem-dev/tandem/internal/testutil"
	"github.com/tandem-dev/tandem/mail"
	"github.com/tandem-dev/tandem/sqlite"
)

const domain = "previews.example.com"

// world is a preview server's edge as tandem serve wires it: a real
// gateway on a loopback port in front of an application, private previews
// pr-7 and pr-8 of the repository shop and pr-9 of another, their gates,
// the sign-in host, a real OpenID Provider, a real SMTP server, and the
// real SQLite store.
type world struct {
	t      *testing.T
	store  *sqlite.DB
	srv    *Server
	gw     *gateway.Gateway
	addr   string // the gateway's
	port   string
	idp    *testoidc.Provider
	mail   *testmail.Server
	app    *app
	clock  *clock
	logs   *testutil.Buffer // the gateway's access log, JSON
	audit  *auditLog
	config Config
}

// clock is Config.Now, which tests move forward.
type clock struct{ skew atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.skew.Load())) }
func (c *clock) advance(d time.Duration) { c.skew.Add(int64(d)) }

// auditLog is the real audit log over the world's store, read back.
type auditLog struct {
	*audit.Log
	store *sqlite.DB
}

// kinds are the log's entries as "kind preview actor", read from their
// signed envelopes.
func (a *auditLog) kinds() []string {
	recs, err := a.store.AuditRecords(context.Background(), tandem.AuditFilter{})
	if err != nil {
		panic(err)
	}
	var out []string
	for _, r := range recs {
		var env struct{ Payload []byte }
		var st struct{ Predicate tandem.AuditEvent }
		if json.Unmarshal(r.Envelope, &env) != nil || json.Unmarshal(env.Payload, &st) != nil {
			panic("an audit entry that is not a DSSE envelope of a statement")
		}
		out = append(out, string(r.Kind)+" "+r.Preview+" "+st.Predicate.Actor)
	}
	return out
}

func newWorld(t *testing.T, tweak func(*Config)) *world {
	t.Helper()
	w := &world{t: t, clock: &clock{}, logs: &testutil.Buffer{}}
	dir := t.TempDir()
	db, err := sqlite.Open(filepath.Join(dir, "tandem.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	w.store = db
	ctx := context.Background()
	key, err := audit.EnsureKey(dir, domain)
	if err != nil {
		t.Fatal(err)
	}
	log, err := audit.Open(ctx, db, key)
	if err != nil {
		t.Fatal(err)
	}
	w.audit = &auditLog{Log: log, store: db}
	for _, p := range []tandem.Preview{{Name: "pr-7", Repo: "shop"}, {Name: "pr-8", Repo: "shop"}, {Name: "pr-9", Repo: "blog"}} {
		p.State, p.Generation, p.Serving, p.Binding = tandem.PreviewReady, 1, 1, tandem.Binding{Repo: p.Repo, Commit: "c0ffee"}
		if err := db.PutPreview(ctx, &p); err != nil {
			t.Fatal(err)
		}
	}
	for _, g := range []tandem.Grant{
		{Repo: "shop", Role: tandem.RoleViewer, Domain: "corp.example", Source: "api"},
		{Repo: "blog", Role: tandem.RoleReviewer, Group: "editors", Source: "api"},
	} {
		if _, err := db.AddGrant(ctx, g); err != nil {
			t.Fatal(err)
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w.addr = ln.Addr().String()
	_, w.port, _ = net.SplitHostPort(w.addr)

	w.idp = testoidc.Start(t,
		testoidc.User{Subject: "u-alice", Email: "alice@corp.example", Name: "Alice Example", Groups: []string{"editors"}},
		testoidc.User{Subject: "u-bob", Email: "bob@elsewhere.example", Name: "Bob"},
		testoidc.User{Subject: "u-eve", Email: "eve@corp.example", Unverified: true})
	w.idp.AddClient("tandem", "tandem-secret", "http://auth."+domain+":"+w.port+"/oidc/callback")
	w.idp.AddClient("app", "app-secret", "http://auth."+domain+":"+w.port+"/oauth/testidp/callback")
	w.mail = testmail.Start(t)
	sender, err := mail.New(mail.Config{Host: w.mail.Host, Port: w.mail.Port, TLS: "none", From: "tandem <previews@example.com>"})
	if err != nil {
		t.Fatal(err)
	}
	w.app = newApp(t, w)

	w.config = Config{
		Store: db, Previews: db, Domain: domain, Scheme: "http", Port: w.port,
		OIDC:     &OIDCConfig{Issuer: w.idp.Issuer, ClientID: "tandem", ClientSecret: "tandem-secret", Name: "Test SSO", Scopes: []string{"openid", "email", "profile", "groups"}},
		Mail:     sender,
		OAuth:    []OAuthRelay{{Provider: "testidp", AuthorizeURL: w.idp.Issuer + "/authorize"}},
		Audit:    w.audit,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		MaxTries: 3,
		Now:      w.clock.now,
	}
	if tweak != nil {
		tweak(&w.config)
	}
	w.srv, err = New(w.config)
	if err != nil {
		t.Fatal(err)
	}
	w.gw = gateway.New(gateway.Options{Logger: slog.New(slog.NewJSONHandler(w.logs, nil))})
	w.route()
	go w.gw.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		w.gw.Shutdown(ctx)
	})
	return w
}

// route sets the gateway's table: the sign-in host, and each preview
// behind its gate.
func (w *world) route() {
	routes := []tandem.Route{{Path: "/api/", Service: "app", Port: 80, StripPrefix: false, Errors: tandem.ErrorsJSON}, {Path: "/", Service: "app", Port: 80}}
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, w.app.addr)
	}
	sites := map[string]*gateway.Site{}
	for _, p := range []Preview{{"pr-7", "shop", 1}, {"pr-8", "shop", 1}, {"pr-9", "blog", 1}} {
		sites[p.Name] = &gateway.Site{Name: p.Name, Routes: routes, Dial: dial, Gate: w.srv.Gate(p)}
	}
	w.gw.Set(&gateway.Table{Hosts: map[string]*gateway.Site{w.srv.AuthHost(): w.srv.AuthSite()}, Previews: map[string]map[string]*gateway.Site{domain: sites}})
}

// url is an address on a host under the preview domain.
func (w *world) url(host, pathQuery string) string {
	return "http://" + host + "." + domain + ":" + w.port + pathQuery
}

// browser is an HTTP client with a cookie jar that reaches every host
// under the preview domain at the gateway, as DNS would, and anything
// else (the identity provider) where it is. It sends Accept as browsers
// do, and follows redirects unless told not to.
type browser struct {
	w      *world
	c      *http.Client
	jar    *cookiejar.Jar
	follow bool
}

func (w *world) browser() *browser {
	jar, _ := cookiejar.New(nil)
	b := &browser{w: w, jar: jar, follow: true}
	b.c = &http.Client{Jar: jar, Timeout: 30 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			if host, _, _ := net.SplitHostPort(addr); strings.HasSuffix(host, "."+domain) {
				return d.DialContext(ctx, network, w.addr)
			}
			return d.DialContext(ctx, network, addr)
		}},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if !b.follow {
				return http.ErrUseLastResponse
			}
			if len(via) > 15 {
				return fmt.Errorf("too many redirects")
			}
			return nil
		}}
	return b
}

// page is a response, read.
type page struct {
	status int
	url    string // where the browser ended
	header http.Header
	body   string
}

func (b *browser) do(method, u string, form url.Values, header ...string) page {
	b.w.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		b.w.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.w.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return page{status: res.StatusCode, url: res.Request.URL.String(), header: res.Header, body: string(data)}
}

func (b *browser) get(u string, header ...string) page {
	return b.do(http.MethodGet, u, nil, header...)
}

var (
	csrfField   = regexp.MustCompile(`name=csrf value="([^"]+)"`)
	hiddenField = regexp.MustCompile(`type=hidden name=(\w+) value=(?:"([^"]*)"|([^\s>"]+))`)
)

// submit posts the form at action on a page, with its hidden fields (the
// anti-forgery token among them) and fields.
func (b *browser) submit(p page, action string, fields ...string) page {
	b.w.t.Helper()
	i := strings.Index(p.body, `action=`+action)
	if i < 0 {
		b.w.t.Fatalf("no form to %s on %s: %.400s", action, p.url, p.body)
	}
	form := url.Values{}
	end := strings.Index(p.body[i:], "</form>")
	for _, m := range hiddenField.FindAllStringSubmatch(p.body[i:i+end], -1) {
		form.Set(m[1], htmlUnescape(m[2]+m[3]))
	}
	for j := 0; j+1 < len(fields); j += 2 {
		form.Set(fields[j], fields[j+1])
	}
	base, _ := url.Parse(p.url)
	to, _ := base.Parse(action)
	return b.do(http.MethodPost, to.String(), form)
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">", "&#x2f;", "/").Replace(s)
}

// cookies are the browser's cookies for a host under the domain.
func (b *browser) cookies(host string) []*http.Cookie {
	u, _ := url.Parse(b.w.url(host, "/"))
	return b.jar.Cookies(u)
}

// signInOIDC signs in as user at the identity provider, from a preview's
// page, and returns the page the browser ends on.
func (b *browser) signInOIDC(start, user string) page {
	b.w.t.Helper()
	p := b.get(start)
	if strings.Contains(p.url, "/signin") {
		i := strings.Index(p.body, `href="/oidc/start`)
		if i < 0 {
			b.w.t.Fatalf("no single sign-on on %s: %.400s", p.url, p.body)
		}
		href := p.body[i+6 : i+6+strings.Index(p.body[i+6:], `"`)]
		p = b.get(b.w.url("auth", htmlUnescape(href)))
	}
	if strings.Contains(p.body, "Test provider") {
		p = b.submit(p, "/login", "username", user)
	}
	return p
}

// signInEmail signs in with a code mailed to addr.
func (b *browser) signInEmail(start, addr string) page {
	b.w.t.Helper()
	p := b.get(start)
	n := len(b.w.mail.Messages(b.w.t, addr))
	p = b.submit(p, "/signin/email", "email", addr)
	code := b.w.mail.Wait(b.w.t, addr, n).Code(b.w.t)
	return b.submit(p, "/signin/code", "code", code)
}

// app is the application in the previews: it reports what it received,
// and signs people in with OAuth at the test provider through tandem's
// relay.
type app struct {
	addr string
	seen atomic.Int32
}

func newApp(t *testing.T, w *world) *app {
	a := &app{}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(rw http.ResponseWriter, r *http.Request) {
		a.seen.Add(1)
		var tandemHeaders []string
		for k := range r.Header {
			if strings.HasPrefix(strings.ToLower(k), "x-tandem") {
				tandemHeaders = append(tandemHeaders, k)
			}
		}
		rw.Header().Set("Content-Type", "application/json")
		json.NewEncoder(rw).Encode(map[string]any{"app": true, "host": r.Host, "path": r.URL.Path,
			"cookie": r.Header.Values("Cookie"), "authorization": r.Header.Values("Authorization"), "tandem": tandemHeaders})
	})
	oauthRoutes(mux, w)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	a.addr = srv.Listener.Addr().String()
	return a
}

// decodeApp reads what the application saw.
func decodeApp(t *testing.T, p page) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.NewDecoder(bytes.NewReader([]byte(p.body))).Decode(&m); err != nil || m["app"] != true {
		t.Fatalf("not the application's answer (%d at %s): %.500s", p.status, p.url, p.body)
	}
	return m
}

// events are the store's access events, as "kind actor preview".
func (w *world) events(kind string) []tandem.AccessEvent {
	w.t.Helper()
	all, err := w.store.AccessEvents(context.Background(), 0, 0)
	if err != nil {
		w.t.Fatal(err)
	}
	var out []tandem.AccessEvent
	for _, e := range all {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// eventually waits for cond to be true.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// route2 routes one preview to a new generation's gate.
func (w *world) route2(p Preview) {
	routes := []tandem.Route{{Path: "/", Service: "app", Port: 80}}
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, w.app.addr)
	}
	site := &gateway.Site{Name: p.Name, Routes: routes, Dial: dial, Gate: w.srv.Gate(p)}
	w.gw.Set(&gateway.Table{Hosts: map[string]*gateway.Site{w.srv.AuthHost(): w.srv.AuthSite()}, Previews: map[string]map[string]*gateway.Site{domain: {p.Name: site}}})
}

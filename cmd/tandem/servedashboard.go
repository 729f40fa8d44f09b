package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/access"
	"github.com/tandem-dev/tandem/audit"
	"github.com/tandem-dev/tandem/dashboard"
	"github.com/tandem-dev/tandem/gateway"
	"github.com/tandem-dev/tandem/httpapi"
	"github.com/tandem-dev/tandem/preview"
)

// dashConfig is tandem.yaml's dashboard: the web dashboard's host.
type dashConfig struct {
	Host string `yaml:"host"` // default tandem.DOMAIN
}

// dashboardHost is where the dashboard answers.
func (c *serveConfig) dashboardHost() string {
	if c.Dashboard != nil && c.Dashboard.Host != "" {
		return strings.ToLower(strings.TrimSuffix(c.Dashboard.Host, "."))
	}
	return "tandem." + c.Domain
}

// publicURL is an origin of the server's own hosts as browsers reach them.
func (c *serveConfig) publicURL(host string) string {
	if c.PublicPort != "" {
		host += ":" + c.PublicPort
	}
	return c.PublicScheme + "://" + host
}

// checkDashboard checks the dashboard's host: a host name of its own.
func (c *serveConfig) checkDashboard(fail failFunc) {
	host := c.dashboardHost()
	switch {
	case c.Dashboard != nil && c.Dashboard.Host != "" && !domainName.MatchString(host):
		fail(c.line("dashboard", "host"), "dashboard: host %q is not a host name", c.Dashboard.Host)
	case host == c.authHost():
		fail(c.line("dashboard", "host"), "dashboard: host %s is the sign-in host's: give one of them another", host)
	}
}

// mountDashboard serves the dashboard on its host, behind the sign-in:
// the gateway routes the host to an HTTP server in this process, over
// in-memory connections, so that the dashboard streams its live updates
// through the gateway as any site's responses stream (a gate's own
// answers do not), and no port is opened for it.
func mountDashboard(cfg *serveConfig, router *previewRouter, signIn *access.Server, api *httpapi.Server, m *preview.Manager,
	auditLog *audit.Log, logger *slog.Logger, stderr io.Writer) (func(context.Context), error) {
	host := cfg.dashboardHost()
	repos := make([]dashboard.Repo, len(cfg.Repos))
	for i, r := range cfg.Repos {
		repos[i] = dashboard.Repo{Name: r.Name, URL: r.URL, Compose: r.Compose, DefaultBranch: r.DefaultBranch, Access: tandem.PreviewAccess(r.Access)}
	}
	dash, err := dashboard.New(dashboard.Config{
		URL: cfg.publicURL(host), AuthURL: cfg.publicURL(cfg.authHost()),
		API: api, Previews: m, Auth: signIn, Audit: auditLog, Evidence: audit.EvidenceDirIn(cfg.Data),
		Repos: repos, Logger: logger,
	})
	if err != nil {
		return nil, err
	}
	ln := newPipeListener()
	srv := &http.Server{Handler: signIn.Site(host, dash), ReadHeaderTimeout: 30 * time.Second,
		ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(ln)
	router.mount(host, &gateway.Site{Name: "dashboard",
		Routes: []tandem.Route{{Path: "/", Service: "dashboard", Port: 80, Errors: tandem.ErrorsHTML}},
		Dial:   ln.dial,
	})
	fmt.Fprintf(stderr, "tandem: dashboard at %s\n", cfg.publicURL(host))
	return func(ctx context.Context) {
		srv.Shutdown(ctx)
		ln.Close()
	}, nil
}

// mount adds a site of tandem's own to the gateway's table, at host.
func (r *previewRouter) mount(host string, site *gateway.Site) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.own == nil {
		r.own = map[string]*gateway.Site{}
	}
	r.own[host] = site
	r.publish()
}

// pipeListener is a listener of in-memory connections: net.Pipe's, whose
// deadlines behave as a socket's (net/http's server relies on them to
// tell a request's end from its client's going).
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

// dial connects to the listener, as gateway.Site.Dial.
func (l *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	server, client := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-l.done:
		return nil, net.ErrClosed
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "dashboard" }

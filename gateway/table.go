package gateway

import (
	"context"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"sort"
	"strings"

	"github.com/tandem-dev/tandem"
)

// Site is one stack instance behind the gateway: "local" under tandem up,
// "pr-7" under tandem serve.
//
// Set reads Routes each time it is called; Name, Dial and Ready must not
// change once a Site has been Set. Passing the same *Site to a later Set
// keeps its upstream connections.
type Site struct {
	Name   string // for logs
	Routes []tandem.Route

	// Dial connects to addr written as the stack writes it ("api:8000"),
	// inside the instance's network (tandem.Sandbox.DialContext). nil dials
	// with net.Dialer, for runtimes whose service names resolve on the host.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)

	// Ready reports whether service can take traffic now: nil, or an error
	// whose message says why not in words fit for a browser ("api is
	// starting"). It runs on every request, so it must be cheap. nil means
	// always try the service.
	Ready func(service string) error
}

// Table is what the gateway serves, swapped as a whole by Set.
type Table struct {
	// Default answers requests for any host. (Routing by host, previews at
	// <name>.<domain>, will sit beside it.)
	Default *Site
}

// table is a Table compiled by Set: immutable, shared by every request.
type table struct {
	def *site
}

// lookup returns the site that answers host, or nil.
func (t *table) lookup(host string) *site { return t.def }

type site struct {
	name   string
	ready  func(service string) error
	routes []*route // longest Path first
}

// route is a tandem.Route ready to serve: its proxy, transport and error page
// are built once per Set.
type route struct {
	tandem.Route
	site     *site
	target   string // "api:8000", the address the site's Dial receives
	slash    bool   // Path ends with "/": a request for Path without it gets a 301
	location string // escaped Path, for that 301
	base     string // Path without its trailing slash, put back before a stripped service's Location
	page     []byte // ErrorPage's content; nil serves the built-in page
	proxy    *httputil.ReverseProxy
}

// match returns the route for the clean path p: the one with the longest
// Path that prefixes p. redirect is true when p is a route's Path without its
// trailing slash and no route's Path is p itself: nginx answers those with a
// 301 to the slashed Path, even when a shorter prefix ("/") would match.
func (s *site) match(p string) (rt *route, redirect bool) {
	var slashed *route
	for _, r := range s.routes {
		if strings.HasPrefix(p, r.Path) {
			if slashed != nil && len(r.Path) < len(p) {
				return slashed, true
			}
			return r, false
		}
		if slashed == nil && r.slash && len(r.Path) == len(p)+1 && strings.HasPrefix(r.Path, p) {
			slashed = r
		}
	}
	return slashed, slashed != nil
}

// compile builds s for one Set. tr is the site's transport, kept across Sets
// while the same *Site is passed; pages caches the error pages read so far.
func (g *Gateway) compile(s *Site, tr *http.Transport, pages map[string][]byte) *site {
	cs := &site{name: s.Name, ready: s.Ready}
	for _, r := range s.Routes {
		rt := &route{
			Route:    r,
			site:     cs,
			target:   r.Target(),
			slash:    strings.HasSuffix(r.Path, "/"),
			location: (&url.URL{Path: r.Path}).EscapedPath(),
			base:     strings.TrimSuffix(r.Path, "/"),
		}
		if r.ErrorPage != "" {
			rt.page = g.readPage(s.Name, r.ErrorPage, pages)
		}
		rt.proxy = g.newProxy(rt, tr)
		cs.routes = append(cs.routes, rt)
	}
	sort.SliceStable(cs.routes, func(i, j int) bool {
		return len(cs.routes[i].Path) > len(cs.routes[j].Path)
	})
	return cs
}

// readPage reads an error page once per Set. A page that cannot be read is
// reported and replaced by the built-in one: a missing file must not take
// routing down.
func (g *Gateway) readPage(siteName, file string, pages map[string][]byte) []byte {
	if b, ok := pages[file]; ok {
		return b
	}
	b, err := os.ReadFile(file)
	if err != nil {
		g.warn("error page not readable; serving the built-in page", "site", siteName, "error", err)
		b = nil
	}
	pages[file] = b
	return b
}

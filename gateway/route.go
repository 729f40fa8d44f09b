package gateway

import (
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/tandem-dev/tandem"
)

// site is a Site compiled by Set: immutable; a later Set that keeps the
// *Site with other Routes compiles a new one sharing pool.
type site struct {
	name   string
	ready  func(service string) error
	gate   Gate
	inUse  func(delta int)
	routes []*route       // longest Path first
	src    []tandem.Route // the Routes compiled, to tell whether they changed
	pool   *sitePool      // connections and health, kept while the *Site is
}

// route is a tandem.Route ready to serve.
type route struct {
	tandem.Route
	site     *site
	target   string // "api:8000", the address the site's Dial receives
	slash    bool   // Path ends with "/": a request for Path without it gets a 301
	location string // escaped Path, for that 301
	base     string // Path without its trailing slash, put back before a stripped service's Location
	page     []byte // ErrorPage's content; nil serves the built-in page

	up atomic.Pointer[upstream] // the pool of target, fetched on first use
}

// upstream returns the connection pool of the route's service, created on
// first use: most of ten thousand previews never get a request.
func (rt *route) upstream() *upstream {
	if u := rt.up.Load(); u != nil {
		return u
	}
	u := rt.site.pool.get(rt.Service, rt.target)
	rt.up.Store(u)
	return u
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

// compile builds s for one Set; pages caches the error pages read so far.
func (g *Gateway) compile(s *Site, pool *sitePool, pages map[string][]byte) *site {
	cs := &site{name: s.Name, ready: s.Ready, gate: s.Gate, inUse: s.InUse, src: slices.Clone(s.Routes), pool: pool}
	cs.routes = make([]*route, 0, len(s.Routes))
	for _, r := range s.Routes {
		rt := &route{
			Route:    r,
			site:     cs,
			target:   r.Target(),
			slash:    strings.HasSuffix(r.Path, "/"),
			location: (&url.URL{Path: r.Path}).EscapedPath(),
			base:     strings.TrimSuffix(r.Path, "/"),
		}
		switch {
		case r.ErrorPageBody != "":
			// Read and checked when the stack was loaded: the path a stack
			// file names is never opened here.
			rt.page = []byte(r.ErrorPageBody)
		case r.ErrorPage != "":
			rt.page = g.readPage(s.Name, r.ErrorPage, pages)
		}
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

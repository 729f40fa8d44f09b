package gateway

import (
	"context"
	"net"
	"slices"

	"github.com/tandem-dev/tandem"
)

// Site is one stack instance behind the gateway: "local" under tandem up,
// "pr-7" under tandem serve.
//
// Set reads Routes each time it is called; Name, Dial, Ready and Gate
// must not change once a Site has been Set. Passing the same *Site to a
// later Set keeps its upstream connections and passive-health state, and,
// while its Routes are unchanged, its compiled routes and error pages.
type Site struct {
	Name   string // for logs and metrics
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

	// Gate, when set, decides first whether a request may reach the site
	// at all (see Gate): nil lets every request through at no cost.
	Gate Gate

	// InUse, when set, is told of every request for the site: +1 when it
	// comes, -1 once it is answered, or, for a WebSocket, once its tunnel
	// closes. A stream or a WebSocket open for an hour is an hour of use.
	// It runs on every request, so it must be cheap.
	InUse func(delta int)
}

// Table is what the gateway serves, swapped as a whole by Set. A request's
// host (without case, port or trailing dot) is looked up in this order:
// Hosts, then Previews, then a wildcard in Hosts, then Default. Lookups cost
// the same with ten sites or ten thousand.
type Table struct {
	// Default answers requests whose host matches nothing below. nil: 404.
	Default *Site

	// Hosts maps host names to sites: "app.example.com", or
	// "*.example.com" for any single label under example.com
	// ("x.example.com", not "y.x.example.com", as a wildcard certificate).
	Hosts map[string]*Site

	// Previews maps a preview domain to the sites under it by name:
	// Previews["previews.example.com"]["pr-7"] answers
	// pr-7.previews.example.com.
	Previews map[string]map[string]*Site
}

// table is a Table compiled by Set: immutable, shared by every request.
type table struct {
	def      *site
	exact    map[string]*site
	wild     map[string]*site            // by the domain under "*."
	previews map[string]map[string]*site // domain → name → site
}

// lookup returns the site that answers host (a Host header or authority),
// or nil.
func (t *table) lookup(host []byte) *site {
	var buf [128]byte
	return t.lookupKey(hostKey(buf[:0], host))
}

// lookupKey is lookup of a key made by hostKey. Map lookups through
// string(b) do not allocate.
func (t *table) lookupKey(k []byte) *site {
	if len(t.exact) > 0 {
		if s, ok := t.exact[string(k)]; ok {
			return s
		}
	}
	if i := indexByte(k, '.'); i > 0 && (len(t.previews) > 0 || len(t.wild) > 0) {
		name, domain := k[:i], k[i+1:]
		if d, ok := t.previews[string(domain)]; ok {
			if s, ok := d[string(name)]; ok {
				return s
			}
		}
		if s, ok := t.wild[string(domain)]; ok {
			return s
		}
	}
	return t.def
}

// Set compiles t and makes it the table every new request is routed by.
// Requests already in flight finish on the table they started with, and
// tunnels (WebSockets) stay open. A *Site present in the previous table
// keeps its connections; the idle connections of sites that left are
// closed. nil serves nothing (404).
func (g *Gateway) Set(t *Table) {
	g.mu.Lock()
	defer g.mu.Unlock()

	b := builder{g: g, next: make(map[*Site]*site, len(g.sites)), pages: map[string][]byte{}}
	next := &table{}
	if t != nil {
		next.def = b.site(t.Default)
		for h, s := range t.Hosts {
			cs := b.site(s)
			if cs == nil {
				continue
			}
			k := keyOf(h)
			if len(k) > 2 && k[0] == '*' && k[1] == '.' {
				if next.wild == nil {
					next.wild = map[string]*site{}
				}
				next.wild[k[2:]] = cs
				continue
			}
			if next.exact == nil {
				next.exact = make(map[string]*site, len(t.Hosts))
			}
			next.exact[k] = cs
		}
		for d, names := range t.Previews {
			m := make(map[string]*site, len(names))
			for name, s := range names {
				if cs := b.site(s); cs != nil {
					m[keyOf(name)] = cs
				}
			}
			if next.previews == nil {
				next.previews = make(map[string]map[string]*site, len(t.Previews))
			}
			next.previews[keyOf(d)] = m
		}
	}
	g.table.Store(next)

	for s, cs := range g.sites {
		if kept, ok := b.next[s]; !ok || kept.pool != cs.pool {
			cs.pool.close()
		}
	}
	g.sites = b.next
	if g.obs != nil {
		g.obs.SitesChanged(len(b.next))
	}
}

// builder compiles the sites of one Set.
type builder struct {
	g     *Gateway
	next  map[*Site]*site
	pages map[string][]byte // error pages read during this Set, by file
}

// site returns s compiled: from this Set, from the last one if s and its
// routes are unchanged, or anew (keeping s's connections).
func (b *builder) site(s *Site) *site {
	if s == nil {
		return nil
	}
	if cs, ok := b.next[s]; ok {
		return cs
	}
	prev := b.g.sites[s]
	if prev != nil && slices.Equal(prev.src, s.Routes) {
		b.next[s] = prev
		return prev
	}
	var pool *sitePool
	if prev != nil {
		pool = prev.pool
	} else {
		pool = newSitePool(b.g, s)
	}
	cs := b.g.compile(s, pool, b.pages)
	b.next[s] = cs
	return cs
}

// keyOf is hostKey for a table's own keys, without allocating for those
// already written as keys are (ten thousand preview names per Set).
func keyOf(h string) string {
	clean := h != "" && h[len(h)-1] != '.'
	for i := 0; clean && i < len(h); i++ {
		c := h[i]
		clean = c != ':' && c != '[' && (c < 'A' || c > 'Z')
	}
	if clean {
		return h
	}
	return string(hostKey(nil, []byte(h)))
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

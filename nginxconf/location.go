package nginxconf

import (
	"fmt"
	"strings"

	"github.com/tufanbarisyildirim/gonginx/config"

	"github.com/tandem-dev/tandem"
)

// loc is a location of a server block, read.
type loc struct {
	d     *config.Location
	pos   tandem.Pos
	mod   string // "", "=", "^~", "~", "~*", or "@" for a named location
	path  string
	proxy config.IDirective // its proxy_pass, nil if none
	ret   config.IDirective // its return, which answers before proxy_pass would
	alias string
	what  string // what it does instead of proxying: "serves files from /srv"
	sc    scope  // its own scope, inheriting the server's
}

// readLoc splits a location's modifier from its path, as nginx does for
// "location = /x" and "location =/x" alike.
func readLoc(l *config.Location) (mod, path string) {
	p := params(l)
	if len(p) == 2 {
		return p[0], p[1]
	}
	if len(p) == 0 {
		return "", ""
	}
	m := p[0]
	for _, mod := range []string{"=", "^~", "~*", "~", "@"} {
		if strings.HasPrefix(m, mod) {
			if mod == "@" {
				return "@", m
			}
			return mod, m[len(mod):]
		}
	}
	return "", m
}

// locations turns the server's locations into routes.
func (t *translator) locations(st *site, ls []*config.Location, sc scope) {
	var locs []*loc
	for _, l := range ls {
		if lc := t.readLocation(l, sc); lc != nil {
			locs = append(locs, lc)
		}
	}
	pages := t.errorPages(locs, sc)
	type pending struct {
		note int
		path string
	}
	var unrouted []pending // notes to finish once the routes are known
	prefixAt := map[string]*loc{}
	for _, lc := range locs {
		if lc.mod != "=" && prefixAt[lc.path] == nil {
			prefixAt[lc.path] = lc
		}
	}
	seen := map[string]*loc{}
	for _, lc := range locs {
		if p := prefixAt[lc.path]; lc.mod == "=" && p != nil {
			t.warn(lc.d, "location = %s has the path of the location at line %d: tandem routes are prefixes and cannot tell an exact match from a prefix; not converted", lc.path, p.pos.Line)
			continue
		}
		if prev, dup := seen[lc.path]; dup {
			t.warn(lc.d, "location %s%s is already defined at line %d: nginx refuses this; not converted", modText(lc.mod), lc.path, prev.pos.Line)
			continue
		}
		seen[lc.path] = lc
		if lc.proxy == nil || lc.ret != nil {
			if pages.target[lc] {
				continue // it serves error pages, which the routes carry
			}
			t.warn(lc.d, "location %s%s %s: not converted", modText(lc.mod), lc.path, lc.what)
			unrouted = append(unrouted, pending{len(t.notes) - 1, lc.path})
			continue
		}
		if !t.route(st, lc, pages) {
			unrouted = append(unrouted, pending{len(t.notes) - 1, lc.path})
		}
	}
	for _, u := range unrouted {
		t.notes[u.note].Message += "; " + fallback(st.routes, u.path)
	}
	if len(st.routes) > 0 && !hasRoot(st.routes) {
		t.notes = append(t.notes, Note{Pos: st.pos, Route: -1, Message: "no location / is converted: nginx answers the paths no location takes itself (files from its root, or 404); tandem answers them 404 until a route for / is added"})
	}
}

func hasRoot(routes []tandem.Route) bool {
	for _, r := range routes {
		if r.Path == "/" {
			return true
		}
	}
	return false
}

func modText(mod string) string {
	if mod == "" {
		return ""
	}
	return mod + " "
}

// fallback says where tandem sends requests for path instead.
func fallback(routes []tandem.Route, path string) string {
	best := -1
	for i, r := range routes {
		if strings.HasPrefix(path, r.Path) && (best < 0 || len(r.Path) > len(routes[best].Path)) {
			best = i
		}
	}
	if best < 0 {
		return "tandem answers these requests 404"
	}
	return "tandem sends these requests to the route for " + routes[best].Path + " (" + routes[best].Target() + ")"
}

// readLocation reads a location's body. It returns nil for a location no
// route can stand for (a regular expression, a named location), which it
// reports.
func (t *translator) readLocation(l *config.Location, sc scope) *loc {
	lc := &loc{d: l, pos: t.pos(l)}
	lc.mod, lc.path = readLoc(l)
	switch {
	case lc.mod == "~" || lc.mod == "~*":
		t.warn(l, "location %s %s is a regular expression: not converted; tandem routes are path prefixes, so requests it matches go to the prefix routes", lc.mod, clean(lc.path))
		return nil
	case lc.mod == "@":
		t.warn(l, "named location %s not converted: tandem routes have no fallbacks (try_files, error_page to @name)", clean(lc.path))
		return nil
	case !strings.HasPrefix(lc.path, "/"):
		t.warn(l, "location %q does not start with /: not converted", lc.path)
		return nil
	case strings.ContainsAny(lc.path, "$\x00\r\n\t") || clean(lc.path) != lc.path:
		t.warn(l, "location %q: not converted: a route path cannot hold \"$\" or control characters", lc.path)
		return nil
	}
	lc.sc = sc
	var pages, hdrs []config.IDirective
	for _, d := range l.GetDirectives() {
		t.locDirective(lc, d, &pages, &hdrs)
	}
	if len(pages) > 0 {
		lc.sc.pages = pages
	}
	if len(hdrs) > 0 {
		lc.sc.hdrs = hdrs
	}
	switch {
	case lc.ret != nil:
		lc.what = "answers with " + show(lc.ret)
	case lc.what == "" && lc.proxy == nil:
		lc.what = "does not proxy_pass"
	}
	return lc
}

// locDirective reads one directive of a location into lc.
func (t *translator) locDirective(lc *loc, d config.IDirective, pages, hdrs *[]config.IDirective) {
	p := params(d)
	switch name := d.GetName(); name {
	case "proxy_pass":
		lc.proxy = d
	case "error_page":
		*pages = append(*pages, d)
	case "proxy_set_header":
		*hdrs = append(*hdrs, d)
		t.header(d)
	case "proxy_intercept_errors":
		lc.sc.intercept = len(p) > 0 && p[0] == "on"
	case "location":
		t.warn(d, "nested location not converted: write it as a location of its own")
	case "include":
		t.include(d)
	case "return":
		lc.ret = d
	case "rewrite", "if", "limit_except":
		t.warn(d, "%s: not converted: tandem routes by path prefix only", show(d))
	case "root", "alias":
		if len(p) > 0 {
			lc.what = "serves files from " + clean(p[0])
			if name == "alias" {
				lc.alias = p[0]
			} else {
				lc.sc.root = p[0]
			}
		}
	case "try_files", "autoindex":
		if lc.what == "" {
			lc.what = "serves files (" + show(d) + ")"
		}
	default:
		t.other(d)
	}
}

// route turns a proxying location into a route, and reports whether it
// did; if not, its last note says why.
func (t *translator) route(st *site, lc *loc, pages *pageSet) bool {
	tg, why := t.target(lc.proxy)
	if why != "" {
		t.warn(lc.proxy, "%s; location %s%s not converted", why, modText(lc.mod), lc.path)
		return false
	}
	r := tandem.Route{Path: lc.path, Service: tg.service, Port: tg.port, Errors: tandem.ErrorsHTML, Pos: lc.pos}
	var attached []Note
	switch {
	case !tg.hasURI || tg.uri == lc.path:
	case tg.uri == "/":
		r.StripPrefix = true
		if lc.mod != "=" && !strings.HasSuffix(lc.path, "/") {
			attached = append(attached, Note{Pos: t.pos(lc.proxy), Message: fmt.Sprintf(
				"nginx sends %s/x upstream as //x (the URI / replaces %s); with strip_prefix tandem sends /x", lc.path, lc.path)})
		}
	default:
		t.warn(lc.proxy, "%s replaces %s with %s, which a route cannot say (it passes the path as it is, or strip_prefix replaces the prefix with /); location %s not converted",
			show(lc.proxy), lc.path, clean(tg.uri), lc.path)
		return false
	}
	if lc.mod == "=" {
		attached = append(attached, Note{Pos: lc.pos, Message: fmt.Sprintf(
			"location = %s is an exact match; tandem routes are prefixes, so this route also takes %s/... and %sx, which nginx would send elsewhere", lc.path, strings.TrimSuffix(lc.path, "/"), lc.path)})
	}
	attached = append(attached, tg.notes...)
	attached = append(attached, t.hostNote(lc, tg)...)
	page, notes := pages.forLoc(t, lc)
	r.ErrorPage = page
	attached = append(attached, notes...)
	if strings.HasPrefix(r.Path, "/api") {
		attached = append(attached, Note{Pos: lc.pos, Hint: true, Message: "errors: json would answer this route's failures (service down, starting, timed out) with JSON instead of an HTML page"})
	}
	i := len(st.routes)
	st.routes = append(st.routes, r)
	for _, n := range attached {
		n.Route, n.Message = i, clean(n.Message)
		t.notes = append(t.notes, n)
	}
	return true
}

// hostNote says what the service sees as Host when nginx did not pass the
// browser's: tandem always does.
func (t *translator) hostNote(lc *loc, tg target) []Note {
	for _, h := range lc.sc.hdrs {
		p := params(h)
		if len(p) < 2 || !strings.EqualFold(p[0], "host") {
			continue
		}
		if p[1] == "$host" || p[1] == "$http_host" {
			return nil
		}
		return []Note{{Pos: t.pos(h), Message: fmt.Sprintf("nginx sends Host: %s here; tandem passes the browser's Host, which %s must accept (Django: ALLOWED_HOSTS)", p[1], tg.service)}}
	}
	return []Note{{Pos: t.pos(lc.proxy), Message: fmt.Sprintf(
		"nginx sends Host: %s here (no proxy_set_header Host); tandem passes the browser's Host, which %s must accept (Django: ALLOWED_HOSTS)", tg.proxyHost, tg.service)}}
}

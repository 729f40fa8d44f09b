package nginxconf

import (
	"path"
	"strings"

	"github.com/tufanbarisyildirim/gonginx/config"
)

// pageSet is what a server's error_page directives come to.
type pageSet struct {
	locs   []*loc
	root   string                       // the server's root
	target map[*loc]bool                // exact locations that only serve error pages
	done   map[config.IDirective]string // error_page → the project file, "" for none
}

// errorPages finds the locations that serve the server's error pages.
func (t *translator) errorPages(locs []*loc, sc scope) *pageSet {
	ps := &pageSet{locs: locs, root: sc.root, target: map[*loc]bool{}, done: map[config.IDirective]string{}}
	all := sc.pages
	for _, lc := range locs {
		all = append(all, lc.sc.pages...)
	}
	for _, d := range all {
		p := params(d)
		if len(p) == 0 {
			continue
		}
		if l := ps.serving(p[len(p)-1]); l != nil && l.mod == "=" && l.proxy == nil {
			ps.target[l] = true
		}
	}
	return ps
}

// serving returns the location nginx picks for uri: the exact match, else
// the longest prefix (regular expressions are not among locs).
func (ps *pageSet) serving(uri string) *loc {
	var best *loc
	for _, l := range ps.locs {
		if l.mod == "=" {
			if l.path == uri {
				return l
			}
			continue
		}
		if strings.HasPrefix(uri, l.path) && (best == nil || len(l.path) > len(best.path)) {
			best = l
		}
	}
	return best
}

// forLoc returns the error page of the route made from lc, and notes about
// it; each error_page directive is reported once, where it is written.
func (ps *pageSet) forLoc(t *translator, lc *loc) (string, []Note) {
	var notes []Note
	if lc.sc.intercept {
		notes = append(notes, Note{Pos: lc.pos, Message: "proxy_intercept_errors on: nginx replaces the service's own error responses with its error pages; tandem passes them through"})
	}
	page := ""
	for _, d := range lc.sc.pages {
		file, seen := ps.done[d]
		if !seen {
			file = ps.resolve(t, d)
			ps.done[d] = file
		}
		if page == "" {
			page = file
		}
	}
	return page, notes
}

// resolve finds the project file an error_page serves for the failures the
// gateway answers itself (502, 503, 504), or reports why there is none.
func (ps *pageSet) resolve(t *translator, d config.IDirective) string {
	p := params(d)
	if len(p) < 2 {
		t.warn(d, "error_page needs status codes and a page")
		return ""
	}
	uri, covered, change := p[len(p)-1], false, ""
	for _, c := range p[:len(p)-1] {
		switch {
		case strings.HasPrefix(c, "="):
			change = c
		case c == "502" || c == "503" || c == "504":
			covered = true
		}
	}
	if !covered {
		t.warn(d, "%s: not converted: a route's error_page replaces only the gateway's own 502, 503 and 504 pages", show(d))
		return ""
	}
	if !strings.HasPrefix(uri, "/") {
		t.warn(d, "%s: not converted: a route's error_page is a file of the project", show(d))
		return ""
	}
	file, why := ps.file(uri)
	if why != "" {
		t.warn(d, "%s: %s: not converted; copy the page into the project and set error_page on the routes", show(d), why)
		return ""
	}
	page, ok := "", false
	if t.opts.ErrorPage != nil {
		page, ok = t.opts.ErrorPage(file)
		ok = ok && page != "" && clean(page) == page // a name with a line break would break the YAML
	}
	if !ok {
		t.warn(d, "%s: the page is %s inside the nginx container and tandem found no project file mounted there: copy it into the project and set error_page on the routes", show(d), clean(file))
		return ""
	}
	if change != "" {
		t.warn(d, "%s: the %s status change is not converted: tandem answers with the failure's own status", show(d), change)
	}
	return page
}

// file is the path, inside nginx's container, of the file nginx serves for
// uri; why says why there is none.
func (ps *pageSet) file(uri string) (file, why string) {
	l := ps.serving(uri)
	root := ps.root
	switch {
	case l != nil && l.proxy != nil:
		return "", "nginx serves " + clean(uri) + " by " + show(l.proxy)
	case l != nil && l.alias != "":
		return path.Clean(l.alias + "/" + strings.TrimPrefix(uri, l.path)), ""
	case l != nil:
		root = l.sc.root
	}
	if root == "" {
		return "", "nginx serves " + clean(uri) + " from its default root"
	}
	if !strings.HasPrefix(root, "/") {
		root = "/etc/nginx/" + root // relative to the prefix of the official image
	}
	return path.Clean(root + "/" + uri), ""
}

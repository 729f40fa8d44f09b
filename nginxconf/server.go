package nginxconf

import (
	"strings"

	"github.com/tufanbarisyildirim/gonginx/config"

	"github.com/tandem-dev/tandem"
)

// site is one server block, translated.
type site struct {
	pos       tandem.Pos
	names     []string // server_name
	listen    []string
	isDefault bool // listen ... default_server
	routes    []tandem.Route
	notes     []Note
}

// describe names the server block in a message.
func (s *site) describe() string {
	var parts []string
	if len(s.names) > 0 {
		parts = append(parts, "server_name "+strings.Join(s.names, " "))
	}
	if len(s.listen) > 0 {
		parts = append(parts, "listen "+strings.Join(s.listen, ", "))
	}
	if len(parts) == 0 {
		return ""
	}
	return "(" + strings.Join(parts, "; ") + ")"
}

// scope is what a location inherits from its server (and the server from
// http): nginx takes these from the nearest level that sets any.
type scope struct {
	root      string
	pages     []config.IDirective // error_page
	hdrs      []config.IDirective // proxy_set_header
	intercept bool                // proxy_intercept_errors on
}

// server translates one server block; its notes are the site's.
func (t *translator) server(s *config.Server) *site {
	st := &site{pos: t.pos(s)}
	outer := t.notes
	t.notes = nil
	defer func() { st.notes, t.notes = t.notes, outer }()

	sc := scope{pages: t.httpPages, hdrs: t.httpHdrs}
	var locs []*config.Location
	var pages, hdrs []config.IDirective
	stops := false // a server-level return answers every request itself
	for _, d := range s.GetDirectives() {
		p := params(d)
		switch d.GetName() {
		case "location":
			if l, ok := d.(*config.Location); ok {
				locs = append(locs, l)
			}
		case "listen":
			if len(p) > 0 {
				st.listen = append(st.listen, p[0])
			}
			st.isDefault = st.isDefault || hasParam(p, "default_server") || hasParam(p, "default")
		case "server_name":
			st.names = append(st.names, p...)
		case "error_page":
			pages = append(pages, d)
		case "proxy_set_header":
			hdrs = append(hdrs, d)
			t.header(d)
		case "proxy_intercept_errors":
			sc.intercept = len(p) > 0 && p[0] == "on"
		case "root":
			if len(p) > 0 {
				sc.root = p[0]
			}
		case "include":
			t.include(d)
		case "return":
			stops = true
			t.warn(d, "the server block answers every request with %s: not converted", show(d))
		case "rewrite":
			t.warn(d, "%s rewrites paths before nginx picks a location: not converted; the routes see paths as the browser sent them", show(d))
		case "if":
			t.warn(d, "if block not converted: tandem routes by path prefix only")
		default:
			t.other(d)
		}
	}
	if len(pages) > 0 {
		sc.pages = pages
	}
	if len(hdrs) > 0 {
		sc.hdrs = hdrs
	}
	if !stops {
		t.locations(st, locs, sc)
	}
	return st
}

func hasParam(p []string, want string) bool {
	for _, s := range p {
		if s == want {
			return true
		}
	}
	return false
}

// forwarded are the request headers tandem's gateway sets by itself, as
// the usual proxy_set_header lines do.
var forwarded = map[string]bool{
	"host": true, "x-real-ip": true, "x-forwarded-for": true, "x-forwarded-proto": true,
	"x-forwarded-host": true, "x-forwarded-port": true, "forwarded": true, "upgrade": true, "connection": true,
}

// header warns about a proxy_set_header the gateway does not do.
func (t *translator) header(d config.IDirective) {
	if p := params(d); len(p) >= 1 && !forwarded[strings.ToLower(p[0])] {
		t.warn(d, "%s: not converted: tandem's gateway sets Host, X-Real-IP and X-Forwarded-* itself and adds no other header", show(d))
	}
}

// quiet are directives whose effect tandem's gateway has by itself: it
// speaks HTTP/1.1 with keep-alive to services, streams without buffering
// or caching, and keeps its own logs.
var quiet = map[string]bool{
	"proxy_http_version": true, "proxy_buffering": true, "proxy_request_buffering": true,
	"proxy_buffer_size": true, "proxy_buffers": true, "proxy_busy_buffers_size": true,
	"client_body_buffer_size": true, "proxy_cache_bypass": true, "proxy_no_cache": true,
	"access_log": true, "error_log": true, "server_tokens": true, "index": true,
}

var timeouts = map[string]bool{
	"proxy_read_timeout": true, "proxy_connect_timeout": true, "proxy_send_timeout": true,
	"send_timeout": true, "keepalive_timeout": true, "client_body_timeout": true, "client_header_timeout": true,
}

// other reports a directive of a server or location the routes do not say.
func (t *translator) other(d config.IDirective) {
	name := d.GetName()
	p := params(d)
	switch {
	case quiet[name]:
	case name == "proxy_redirect" && len(p) == 1 && p[0] == "default":
		// What the gateway does for a stripped route's Location.
	case timeouts[name]:
		t.warn(d, "%s: not converted: tandem's gateway has its own timeouts, the same for every route (tandem gateway's timeouts:)", show(d))
	case strings.HasSuffix(name, "_pass"):
		t.warn(d, "%s: not converted: tandem's gateway speaks HTTP to services; run the app behind an HTTP server", show(d))
	default:
		t.warn(d, "%s: not converted: tandem routes have no such setting", show(d))
	}
}

// show writes a directive for a message, shortened.
func show(d config.IDirective) string {
	s := strings.Join(append([]string{d.GetName()}, params(d)...), " ")
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return clean(s)
}

// clean replaces control characters, so that a hostile config cannot
// write escape sequences to a terminal or break a YAML comment.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}

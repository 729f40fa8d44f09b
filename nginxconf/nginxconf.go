// Package nginxconf translates the reverse-proxy part of an nginx
// configuration into tandem routes: what `tandem routes --from-nginx`
// prints, so a Compose stack that puts nginx in front of its services can
// give that job to tandem's gateway.
//
// It reads a server block as mounted at /etc/nginx/conf.d/default.conf, or
// a whole nginx.conf with http { server { ... } }, and its upstream blocks.
// Prefix locations that proxy_pass to a service become routes; the rest —
// regular expressions, rewrites, static files, other server blocks — comes
// back as notes naming file:line, never dropped silently.
package nginxconf

import (
	"cmp"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/tufanbarisyildirim/gonginx/config"
	"github.com/tufanbarisyildirim/gonginx/parser"

	"github.com/tandem-dev/tandem"
)

// Note is something the routes do not say as nginx does, at the place of
// the nginx config that says it.
type Note struct {
	Pos     tandem.Pos
	Message string
	// Route is the index in Result.Routes of the route the note is about,
	// or -1 for none.
	Route int
	// Hint marks a suggestion rather than a difference: the YAML carries
	// it as a comment, and it is no warning.
	Hint bool
}

// String formats the note as tandem check does: "file:line: warning: ..."
// ("note:" for a hint).
func (n Note) String() string {
	if n.Hint {
		return n.Pos.String() + ": note: " + n.Message
	}
	return tandem.Problem{Pos: n.Pos, Severity: tandem.SeverityWarning, Message: n.Message}.String()
}

// Result is a translated nginx config.
type Result struct {
	File string
	// Routes are in the order the config writes its locations; tandem
	// picks the longest matching prefix whatever the order, as nginx does.
	// Pos is the location's. ErrorPage is as Options.ErrorPage returned
	// it, relative to the project directory.
	Routes []tandem.Route
	Notes  []Note // sorted by line
}

// Warnings returns the notes that are not hints.
func (r *Result) Warnings() []Note {
	var out []Note
	for _, n := range r.Notes {
		if !n.Hint {
			out = append(out, n)
		}
	}
	return out
}

// Options tune a translation.
type Options struct {
	// ErrorPage maps a file nginx serves for error_page, a path inside
	// nginx's container, to that file in the project, relative to the
	// project directory; false if it is not there. nil: error pages stay
	// comments. See MountResolver.
	ErrorPage func(containerPath string) (string, bool)
}

// ReadFile translates the nginx config in file.
func ReadFile(file string, opts Options) (*Result, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "%v", err)
	}
	return Translate(file, src, opts)
}

// maxSize bounds the config read: nginx configs are kilobytes, and the
// parser holds the whole tree.
const maxSize = 4 << 20

// Translate translates src, the content of file. A config nginx could not
// read is an error "file:line: message"; what it says that routes cannot
// comes back as notes.
func Translate(file string, src []byte, opts Options) (*Result, error) {
	if len(src) > maxSize {
		return nil, tandem.Errorf(tandem.EINVALID, "%s: %d bytes is too large for an nginx config", file, len(src))
	}
	stmts, err := scan(string(src))
	if err != nil {
		e := err.(*scanError)
		return nil, tandem.Errorf(tandem.EINVALID, "%s:%d: %s", file, e.line, e.msg)
	}
	// Directives of modules the parser does not know are still nginx.
	conf, err := parser.NewStringParser(string(src), parser.WithSkipValidDirectivesErr(), parser.WithSkipComments()).Parse()
	if err != nil {
		return nil, parseError(file, err)
	}
	t := &translator{file: file, opts: opts, starts: newStarts(stmts), upstreams: map[string]*config.Upstream{}}
	servers := t.collect(conf.GetDirectives())
	res := &Result{File: file}
	if s := t.choose(servers); s != nil {
		res.Routes = s.routes
		t.notes = append(t.notes, s.notes...)
	}
	res.Notes = t.notes
	slices.SortStableFunc(res.Notes, func(a, b Note) int { return cmp.Compare(a.Pos.Line, b.Pos.Line) })
	return res, nil
}

var parserLine = regexp.MustCompile(`^(.*?)(?: starting at| on)? line (\d+), column \d+$`)

// parseError puts the parser's "... on line 3, column 5" as "file:3: ...".
func parseError(file string, err error) error {
	msg := strings.ReplaceAll(err.Error(), "\n", "; ")
	if m := parserLine.FindStringSubmatch(msg); m != nil {
		return tandem.Errorf(tandem.EINVALID, "%s:%s: %s", file, m[2], m[1])
	}
	return tandem.Errorf(tandem.EINVALID, "%s: %s", file, msg)
}

type translator struct {
	file      string
	opts      Options
	starts    starts
	upstreams map[string]*config.Upstream // by lower-case name
	httpPages []config.IDirective         // error_page at http level, inherited by servers
	httpHdrs  []config.IDirective         // proxy_set_header at http level
	notes     []Note
}

// pos is where d starts.
func (t *translator) pos(d config.IDirective) tandem.Pos {
	k := stmtKey{end: d.GetLine(), key: d.GetName()}
	if d.GetBlock() != nil {
		k.block = true
		for _, p := range d.GetParameters() {
			k.key += " " + p.GetValue()
		}
	}
	for p := d.GetParent(); p != nil; p = p.GetParent() {
		k.depth++
	}
	return tandem.Pos{File: t.file, Line: t.starts.of(k)}
}

func (t *translator) warn(d config.IDirective, format string, args ...any) {
	t.notes = append(t.notes, Note{Pos: t.pos(d), Route: -1, Message: clean(fmt.Sprintf(format, args...))})
}

// collect reads the top level (or an http block): upstreams, what servers
// inherit, and the server blocks, which it returns.
func (t *translator) collect(dirs []config.IDirective) []*config.Server {
	var servers []*config.Server
	for _, d := range dirs {
		switch v := d.(type) {
		case *config.Upstream:
			name := strings.ToLower(v.UpstreamName)
			if _, dup := t.upstreams[name]; dup {
				t.warn(d, "upstream %q is defined twice: nginx refuses this; the first one is used", v.UpstreamName)
				continue
			}
			t.upstreams[name] = v
		case *config.Server:
			servers = append(servers, v)
		case *config.HTTP:
			servers = append(servers, t.collect(v.GetDirectives())...)
		default:
			switch d.GetName() {
			case "include":
				t.include(d)
			case "error_page":
				t.httpPages = append(t.httpPages, d)
			case "proxy_set_header":
				t.httpHdrs = append(t.httpHdrs, d)
			case "stream", "mail":
				t.warn(d, "%s block not converted: tandem's gateway routes HTTP only", d.GetName())
			case "location", "proxy_pass", "return", "rewrite":
				t.warn(d, "%s outside a server block: nginx refuses this; not converted", d.GetName())
			}
			// Anything else here (events, map, log_format, gzip, ...) tunes
			// nginx itself, not where requests go.
		}
	}
	return servers
}

// include warns about a file the translation does not read, unless it is
// one that only sets MIME types or the usual proxy headers.
func (t *translator) include(d config.IDirective) {
	p := params(d)
	if len(p) == 1 {
		base := p[0][strings.LastIndexByte(p[0], '/')+1:]
		if base == "mime.types" || base == "proxy_params" {
			return
		}
	}
	t.warn(d, "include %s is not read: convert that file too (tandem routes --from-nginx FILE)", strings.Join(p, " "))
}

// choose picks the server block the routes come from: the default server
// if it proxies, else the first one that does. Each other server block is
// reported once.
func (t *translator) choose(servers []*config.Server) *site {
	sites := make([]*site, len(servers))
	best := -1
	for i, s := range servers {
		sites[i] = t.server(s)
		if len(sites[i].routes) == 0 {
			continue
		}
		if best < 0 || (sites[i].isDefault && !sites[best].isDefault) {
			best = i
		}
	}
	if best < 0 {
		for _, s := range sites {
			t.notes = append(t.notes, s.notes...)
		}
		return nil
	}
	for i, s := range sites {
		if i == best {
			continue
		}
		if len(s.routes) == 0 {
			t.notes = append(t.notes, s.notes...) // they say why
			continue
		}
		chosen := sites[best]
		if sameRoutes(s.routes, chosen.routes) {
			t.notes = append(t.notes, Note{Pos: s.pos, Route: -1, Hint: true, Message: fmt.Sprintf("server block %s routes as the one at line %d does", s.describe(), chosen.pos.Line)})
			continue
		}
		t.notes = append(t.notes, Note{Pos: s.pos, Route: -1, Message: fmt.Sprintf(
			"server block %s not converted: x-tandem.routes route every host alike, and these come from the server block at line %d; convert it on its own (tandem gateway's sites route by host)",
			s.describe(), chosen.pos.Line)})
	}
	return sites[best]
}

func sameRoutes(a, b []tandem.Route) bool {
	return slices.EqualFunc(a, b, func(x, y tandem.Route) bool {
		x.Pos, y.Pos = tandem.Pos{}, tandem.Pos{}
		return x == y
	})
}

// params returns d's parameters as nginx reads them: without their quotes.
func params(d config.IDirective) []string {
	ps := d.GetParameters()
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = unquote(p.GetValue())
	}
	return out
}

// unquote removes the quotes of a quoted token and resolves its escapes.
func unquote(s string) string {
	if len(s) < 2 || (s[0] != '"' && s[0] != '\'' && s[0] != '`') || s[len(s)-1] != s[0] {
		return s
	}
	s = s[1 : len(s)-1]
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch c := s[i+1]; c {
		case '"', '\'', '\\':
			b.WriteByte(c)
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'n':
			b.WriteByte('\n')
		default:
			b.WriteByte('\\')
			b.WriteByte(c)
		}
		i++
	}
	return b.String()
}

package nginxconf

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/tufanbarisyildirim/gonginx/config"
)

// target is where a proxy_pass sends requests, as a route names it.
type target struct {
	service   string
	port      int
	hasURI    bool   // proxy_pass has a URI part ("http://api/" has "/")
	uri       string // that part
	proxyHost string // the Host nginx sends by default: proxy_pass's host[:port]
	notes     []Note // about the route (an upstream of several servers)
}

// serviceName is a name Compose services reach each other by. Names with
// dots are taken for outside hosts.
var serviceName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]*$`)

// target reads a proxy_pass; why says what stops it from becoming a route.
func (t *translator) target(d config.IDirective) (tg target, why string) {
	p := params(d)
	if len(p) != 1 {
		return tg, show(d) + ": proxy_pass takes one address"
	}
	raw := p[0]
	show := clean(raw)
	if strings.Contains(raw, "$") {
		return tg, fmt.Sprintf("proxy_pass %s uses variables, which a route cannot say", show)
	}
	rest, ok := cutPrefixFold(raw, "http://")
	if !ok {
		if _, tls := cutPrefixFold(raw, "https://"); tls {
			return tg, fmt.Sprintf("proxy_pass %s: tandem's gateway speaks plain HTTP to services", show)
		}
		return tg, fmt.Sprintf("proxy_pass %s is not an http:// address", show)
	}
	if strings.HasPrefix(rest, "unix:") {
		return tg, fmt.Sprintf("proxy_pass %s is a unix socket: a route names a service and a port", show)
	}
	hostport := rest
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		hostport, tg.uri, tg.hasURI = rest[:i], rest[i:], true
	}
	tg.proxyHost = hostport
	host, port, hasPort := splitHostPort(hostport)
	if hasPort && port == 0 {
		return tg, fmt.Sprintf("proxy_pass %s: bad port", show)
	}
	if up := t.upstreams[strings.ToLower(host)]; up != nil {
		if hasPort {
			return tg, fmt.Sprintf("nginx refuses proxy_pass %s: upstream %q may not have a port", show, up.UpstreamName)
		}
		return t.viaUpstream(up, tg)
	}
	if !hasPort {
		port = 80
	}
	tg.service, tg.port = host, port
	return tg, serviceProblem(host, clean(hostport))
}

// viaUpstream routes to an upstream block's first server that is neither
// a backup nor down: tandem does not balance.
func (t *translator) viaUpstream(up *config.Upstream, tg target) (target, string) {
	var usable []*config.UpstreamServer
	for _, s := range up.UpstreamServers {
		if !hasParam(s.Flags, "backup") && !hasParam(s.Flags, "down") {
			usable = append(usable, s)
		}
	}
	name := clean(up.UpstreamName)
	if len(usable) == 0 {
		return tg, fmt.Sprintf("upstream %q has no server to route to", name)
	}
	addr := unquote(usable[0].Address)
	if strings.HasPrefix(addr, "unix:") {
		return tg, fmt.Sprintf("upstream %q: %s is a unix socket: a route names a service and a port", name, clean(addr))
	}
	host, port, hasPort := splitHostPort(addr)
	if hasPort && port == 0 {
		return tg, fmt.Sprintf("upstream %q: server %s has a bad port", name, clean(addr))
	}
	if !hasPort {
		port = 80
	}
	tg.service, tg.port = host, port
	if n := len(up.UpstreamServers); n > 1 {
		tg.notes = append(tg.notes, Note{Pos: t.pos(up), Message: fmt.Sprintf(
			"upstream %q has %d servers; tandem routes to the first, %s:%d (it does not balance between services)", name, n, clean(host), port)})
	}
	return tg, serviceProblem(host, fmt.Sprintf("%s (upstream %q)", clean(addr), name))
}

// serviceProblem says why host is not a Compose service name, or "".
func serviceProblem(host, what string) string {
	if _, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil || strings.EqualFold(host, "localhost") {
		return fmt.Sprintf("proxy_pass to %s, an address rather than a Compose service: write the route to the service that listens there", what)
	}
	if !serviceName.MatchString(host) {
		return fmt.Sprintf("proxy_pass to %s: %q is not a Compose service name, which is what routes reach services by", what, clean(host))
	}
	return ""
}

// splitHostPort splits "host:port", "host", "[::1]:80". A port that is not
// a number from 1 to 65535 comes back as 0 with hasPort true.
func splitHostPort(s string) (host string, port int, hasPort bool) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 || strings.HasSuffix(s, "]") {
		return s, 0, false
	}
	n, err := strconv.Atoi(s[i+1:])
	if err != nil || n < 1 || n > 65535 || s[i+1] == '+' || s[i+1] == '-' {
		n = 0
	}
	return s[:i], n, true
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

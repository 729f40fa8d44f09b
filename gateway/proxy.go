package gateway

import (
	"net/http"
	"net/http/httputil"
	"strings"
)

// newProxy builds the reverse proxy of one route, once per Set.
func (g *Gateway) newProxy(rt *route, tr *http.Transport) *httputil.ReverseProxy {
	p := &httputil.ReverseProxy{
		Rewrite:    func(pr *httputil.ProxyRequest) { g.rewrite(pr, rt) },
		Transport:  tr,
		BufferPool: &g.pool,
		ErrorLog:   g.errLog,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			g.proxyError(w, r, rt, err)
		},
		// FlushInterval stays 0: ReverseProxy already flushes every write of
		// a text/event-stream or unknown-length (chunked) response.
	}
	if rt.StripPrefix && rt.base != "" {
		p.ModifyResponse = func(res *http.Response) error {
			rt.fixLocation(res)
			return nil
		}
	}
	return p
}

// rewrite turns the browser's request into the service's. ReverseProxy has
// already removed hop-by-hop headers and the client's Forwarded and
// X-Forwarded-* headers.
func (g *Gateway) rewrite(pr *httputil.ProxyRequest, rt *route) {
	in, out := pr.In, pr.Out

	p, changed, _ := cleanPath(in.URL.Path)
	raw := in.URL.RawPath // the client's escaping, kept unless dots were resolved
	if changed {
		raw = ""
	}
	if rt.StripPrefix {
		p = stripPrefix(p, rt.Path)
		if strings.HasPrefix(raw, rt.Path) {
			raw = stripPrefix(raw, rt.Path)
		} else {
			raw = "" // escaped differently from Path: let net/url escape p
		}
	}
	out.URL.Scheme = "http"
	out.URL.Host = rt.target
	out.URL.Opaque = ""
	out.URL.Path = p
	out.URL.RawPath = raw
	out.Host = in.Host // exactly as the browser sent it: Django's ALLOWED_HOSTS, absolute URLs

	g.setForwarded(in, out.Header)
}

// fixLocation puts the route's prefix back into a Location from a service
// that only sees stripped paths, as nginx's default proxy_redirect does.
func (rt *route) fixLocation(res *http.Response) {
	loc := res.Header.Get("Location")
	if loc == "" {
		return
	}
	host := ""
	if res.Request != nil {
		host = res.Request.Host
	}
	if v, ok := rewriteLocation(loc, rt.base, host, rt.target); ok {
		res.Header.Set("Location", v)
	}
}

// rewriteLocation maps a Location written by a service mounted at base back
// to the browser's view: "/users/2/" and "http://<host>/users/2/" gain base,
// and "http://api:8000/users/2/" (the service's own address) becomes
// "/api/users/2/". Other locations are left alone.
func rewriteLocation(loc, base, host, target string) (string, bool) {
	if strings.HasPrefix(loc, "//") { // scheme-relative
		auth, rest := splitAuthority(loc[2:])
		if host != "" && strings.EqualFold(auth, host) {
			return "//" + auth + base + rootPath(rest), true
		}
		return loc, false
	}
	if strings.HasPrefix(loc, "/") {
		return base + loc, true
	}
	after, ok := cutScheme(loc)
	if !ok {
		return loc, false // relative: the browser resolves it under the prefix already
	}
	auth, rest := splitAuthority(after)
	switch {
	case host != "" && strings.EqualFold(auth, host):
		return loc[:len(loc)-len(rest)] + base + rootPath(rest), true
	case strings.EqualFold(auth, target):
		return base + rootPath(rest), true
	}
	return loc, false
}

// cutScheme returns what follows "http://" or "https://" in loc.
func cutScheme(loc string) (string, bool) {
	for _, s := range [...]string{"http://", "https://"} {
		if len(loc) >= len(s) && strings.EqualFold(loc[:len(s)], s) {
			return loc[len(s):], true
		}
	}
	return "", false
}

// splitAuthority splits "host:port/path?q" into "host:port" and "/path?q".
func splitAuthority(s string) (auth, rest string) {
	if i := strings.IndexAny(s, "/?#"); i >= 0 {
		return s[:i], s[i:]
	}
	return s, ""
}

// rootPath makes the path part of a URL absolute: "" or "?q" become "/", "/?q".
func rootPath(rest string) string {
	if strings.HasPrefix(rest, "/") {
		return rest
	}
	return "/" + rest
}

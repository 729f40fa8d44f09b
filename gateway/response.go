package gateway

import (
	"bytes"
	"net/http"
	"strings"

	"github.com/valyala/fasthttp"
)

var http11 = []byte("HTTP/1.1")

// cleanResponseHeader drops the hop-by-hop headers of a service's response
// (a 101 keeps its upgrade) and reports whether the service keeps the
// connection open for another request.
func cleanResponseHeader(h *fasthttp.ResponseHeader) (keepAlive bool) {
	keepAlive = !h.ConnectionClose()
	if !bytes.Equal(h.Protocol(), http11) {
		keepAlive = false // HTTP/1.0: closes unless it says otherwise; not worth the trouble
		h.SetProtocol(http11)
	}
	upgrade := h.StatusCode() == http.StatusSwitchingProtocols
	// One pass to learn whether there is anything to drop at all: most
	// responses have nothing hop-by-hop. "Connection: close", which
	// gunicorn's sync workers send on every response, fasthttp keeps as a
	// flag that VisitAll reports as this very pair: the flag alone is
	// cleared, without the slow path.
	special := false
	h.VisitAll(func(k, v []byte) {
		special = special || isHopName(k) && !(string(k) == "Connection" && string(v) == "close")
	})
	if !special {
		h.ResetConnectionClose()
		if upgrade {
			h.Set("Connection", "Upgrade")
		}
		return keepAlive
	}
	conn := h.PeekAll("Connection")
	for _, v := range conn {
		if hasToken(v, "close") {
			keepAlive = false
		}
	}
	dropConnectionHeaders(h, conn, upgrade)
	h.ResetConnectionClose()
	for _, k := range hopHeaders {
		h.Del(k)
	}
	h.Del("Te")
	if upgrade {
		h.Set("Connection", "Upgrade")
	} else {
		h.Del("Upgrade")
	}
	return keepAlive
}

// fixLocation puts the route's prefix back into a Location from a service
// that only sees stripped paths, as nginx's default proxy_redirect does.
func (rt *route) fixLocation(h *fasthttp.ResponseHeader, host []byte) {
	if !rt.StripPrefix || rt.base == "" {
		return
	}
	loc := h.Peek("Location")
	if len(loc) == 0 {
		return
	}
	if v, ok := rewriteLocation(string(loc), rt.base, string(host), rt.target); ok {
		h.Set("Location", v)
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

package gateway

import (
	"bytes"
	"net/url"
	"strings"

	"github.com/valyala/fasthttp"
)

// target is a request-target split for routing.
type target struct {
	path     string // escaped, as the client sent it; "" for "http://host"
	query    string // after '?'
	hasQuery bool
	host     string // the authority of an absolute-form target ("GET http://host/x"), which wins over Host
	absolute bool
	ok       bool // origin-form or absolute-form; "*" (OPTIONS *) is neither
}

func splitTarget(t string) target {
	var tg target
	if t != "" && t[0] != '/' {
		rest, ok := cutScheme(t)
		if !ok {
			return tg
		}
		tg.absolute = true
		tg.host, t = splitAuthority(rest)
	}
	if i := strings.IndexByte(t, '?'); i >= 0 {
		t, tg.query, tg.hasQuery = t[:i], t[i+1:], true
	}
	tg.path, tg.ok = t, true
	return tg
}

// decodePath is the path matched against routes: percent-decoded, as
// net/url decodes it, so that an escaped dot segment is resolved too.
func decodePath(p string) (string, bool) {
	if strings.IndexByte(p, '%') < 0 {
		return p, true
	}
	d, err := url.PathUnescape(p)
	return d, err == nil
}

// appendUpstreamURI appends the request-target the service receives to
// dst: the client's escaping kept unless dot segments were resolved, the
// route's prefix stripped if it says so, the query as sent. It reports
// false when the client's target can go as it is.
func appendUpstreamURI(dst []byte, tg target, clean string, changed bool, rt *route) ([]byte, bool) {
	if !changed && !rt.StripPrefix && !tg.absolute && tg.path != "" {
		return dst, false
	}
	raw := tg.path
	if changed {
		raw = "" // escape the resolved path
	}
	p := clean
	if rt.StripPrefix {
		p = stripPrefix(clean, rt.Path)
		if raw != "" && strings.HasPrefix(raw, rt.Path) {
			raw = stripPrefix(raw, rt.Path)
		} else {
			raw = "" // escaped differently from Path
		}
	}
	if raw == "" {
		raw = (&url.URL{Path: p}).EscapedPath()
	}
	dst = append(dst, raw...)
	if tg.hasQuery {
		dst = append(dst, '?')
		dst = append(dst, tg.query...)
	}
	return dst, true
}

// upgradeRequested reports whether the request asks to switch protocols
// (a WebSocket). "Upgrade: h2c" never counts: tunneling it would let a
// client speak HTTP/2 to the service behind the gateway's back (h2c
// smuggling), so that header is dropped like any other hop-by-hop one.
func upgradeRequested(h *fasthttp.RequestHeader) bool {
	up := h.Peek("Upgrade")
	if len(up) == 0 || hasToken(up, "h2c") {
		return false
	}
	for _, v := range h.PeekAll("Connection") {
		if hasToken(v, "upgrade") {
			return true
		}
	}
	return false
}

// hasToken reports whether the comma-separated list v holds tok (ASCII
// case-insensitive).
func hasToken(v []byte, tok string) bool {
	for len(v) > 0 {
		var t []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			t, v = v[:i], v[i+1:]
		} else {
			t, v = v, nil
		}
		if strings.EqualFold(string(bytes.TrimSpace(t)), tok) {
			return true
		}
	}
	return false
}

// Hop-by-hop headers: they belong to one connection and never cross the
// gateway (RFC 9110 section 7.6.1, and those nginx and net/http drop).
var hopHeaders = [...]string{"Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization", "Trailer", "Http2-Settings"}

// dropConnectionHeaders removes Connection and every header it names,
// except the upgrade a tunnel needs.
func dropConnectionHeaders(h interface{ Del(string) }, values [][]byte, keepUpgrade bool) {
	if len(values) == 0 {
		return
	}
	var names []string
	for _, v := range values {
		for _, t := range bytes.Split(v, []byte{','}) {
			t = bytes.TrimSpace(t)
			switch {
			case len(t) == 0, keepUpgrade && strings.EqualFold(string(t), "upgrade"):
			default:
				names = append(names, string(t))
			}
		}
	}
	h.Del("Connection")
	for _, n := range names {
		h.Del(n)
	}
}

// prepareRequest turns the client's request head into the service's:
// hop-by-hop headers out (the upgrade of a tunnel kept), forwarding
// headers set, HTTP/1.1 whatever the client spoke.
//
// special says which kinds of header the request may hold (see
// specialHeaders): most carry none of those to drop, and one pass over the
// raw head saves a dozen lookups each.
func (g *Gateway) prepareRequest(h *fasthttp.RequestHeader, c clientInfo, upgrade bool, special int) {
	if special&hopByHop != 0 {
		dropConnectionHeaders(h, h.PeekAll("Connection"), upgrade)
		for _, k := range hopHeaders {
			h.Del(k)
		}
		// The client's 100-continue has been answered by the server already.
		h.Del("Expect")
		if te := h.Peek("Te"); len(te) > 0 {
			if hasToken(te, "trailers") {
				h.Set("Te", "trailers")
			} else {
				h.Del("Te")
			}
		}
		if upgrade {
			h.Set("Connection", "Upgrade")
		} else {
			h.Del("Upgrade")
		}
	}
	h.ResetConnectionClose() // the client's connection, not the service's
	if !bytes.Equal(h.Protocol(), []byte("HTTP/1.1")) {
		h.SetProtocol("HTTP/1.1")
	}
	h.SetNoDefaultContentType(true)
	g.setForwarded(h, c, special&forwarding != 0)
}

// Kinds of header specialHeaders finds.
const (
	hopByHop   = 1 << iota // Connection, Keep-Alive, Proxy-*, TE, Trailer, Upgrade, Expect, HTTP2-Settings
	forwarding             // X-Forwarded-*, X-Real-IP, Forwarded
)

// specialHeaders reports which kinds of header a raw request head holds
// (conservatively: a name that only starts like one counts).
func specialHeaders(raw []byte) int {
	kinds := 0
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			continue
		}
		name := line[:colon]
		switch name[0] | 0x20 {
		case 'c', 'k', 'p', 't', 'u', 'e', 'h':
			if isHopName(name) {
				kinds |= hopByHop
			}
		case 'x', 'f':
			if hasPrefixFold(name, "x-forwarded-") || hasPrefixFold(name, "x-real-ip") || hasPrefixFold(name, "forwarded") {
				kinds |= forwarding
			}
		}
	}
	return kinds
}

var hopNames = [...]string{"connection", "keep-alive", "proxy-", "te", "trailer", "upgrade", "expect", "http2-settings", "transfer-encoding"}

func isHopName(name []byte) bool {
	for _, n := range hopNames {
		if n[len(n)-1] == '-' && hasPrefixFold(name, n) || len(name) == len(n) && hasPrefixFold(name, n) {
			return true
		}
	}
	return false
}

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && strings.EqualFold(string(b[:len(prefix)]), prefix)
}

package gateway

import (
	"bytes"
	"net/netip"
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
	ok       bool // origin-form or absolute-form over http(s), without control bytes: anything else is a 400
}

func splitTarget(t string) target {
	var tg target
	if !visible(t) {
		return tg // a raw NUL or CTL, which a service may cut the path at
	}
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

// visible reports whether t holds only visible ASCII and bytes beyond it:
// no space, no control byte (NUL among them).
func visible(t string) bool {
	for i := 0; i < len(t); i++ {
		if c := t[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// decodePath is the path matched against routes: percent-decoded, as
// net/url decodes it, so that an escaped dot segment is resolved too. A
// "%00" fails, as in nginx: a service in C (or a file system) would end
// the path there, where the gateway did not.
func decodePath(p string) (string, bool) {
	if strings.IndexByte(p, '%') < 0 {
		return p, true
	}
	d, err := url.PathUnescape(p)
	return d, err == nil && strings.IndexByte(d, 0) < 0
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
// special says which kinds of header the request may hold (see scanHead);
// cookie names a gate's cookie to remove ("": none).
func (g *Gateway) prepareRequest(h *fasthttp.RequestHeader, c clientInfo, upgrade bool, special int, cookie string) {
	if special&gateHeaders != 0 {
		dropGateHeaders(h)
	}
	if cookie != "" {
		dropCookie(h, cookie)
	}
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

// Kinds of header scanHead finds.
const (
	hopByHop    = 1 << iota // Connection, Keep-Alive, Proxy-*, TE, Trailer, Upgrade, Expect, HTTP2-Settings
	forwarding              // X-Forwarded-*, X-Real-IP, Forwarded
	gateHeaders             // X-Tandem-*: tandem's own, never a client's
)

// headInfo is what one pass over a raw HTTP/1 request head finds.
type headInfo struct {
	special int // kinds of header (conservatively: a name that only starts like one counts)
	hosts   int // Host lines
	te, cl  int // Transfer-Encoding and Content-Length lines
}

// scanHead reads the header names of a raw request head once: most heads
// carry nothing to drop, and one pass saves a dozen lookups each. It also
// counts the lines fasthttp folds into one value (the last Host wins
// there) or lets stand side by side (Transfer-Encoding with
// Content-Length).
func scanHead(raw []byte) headInfo {
	var hi headInfo
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
		case 'h':
			if len(name) == 4 && hasPrefixFold(name, "host") {
				hi.hosts++
			} else if isHopName(name) {
				hi.special |= hopByHop
			}
		case 't':
			if len(name) == len("transfer-encoding") && hasPrefixFold(name, "transfer-encoding") {
				hi.te++
			}
			if isHopName(name) {
				hi.special |= hopByHop
			}
		case 'c':
			if len(name) == len("content-length") && hasPrefixFold(name, "content-length") {
				hi.cl++
			} else if isHopName(name) {
				hi.special |= hopByHop
			}
		case 'k', 'p', 'u', 'e':
			if isHopName(name) {
				hi.special |= hopByHop
			}
		case 'x', 'f':
			if hasPrefixFold(name, "x-forwarded-") || hasPrefixFold(name, "x-real-ip") || hasPrefixFold(name, "forwarded") {
				hi.special |= forwarding
			} else if isGateHeader(name) {
				hi.special |= gateHeaders
			}
		}
	}
	return hi
}

// request is a request head as a front-end read it: what the checks every
// front-end shares (request.check, exchange.resolve) look at.
type request struct {
	tg      target
	host    []byte // the Host header (HTTP/1) or :authority (HTTP/2)
	head    headInfo
	hdr     headerSource // the header fields, for a Gate
	peer    netip.Addr
	tls     bool
	chunked bool // the body's framing is chunked
	http10  bool
	connect bool
}

// check applies the rules of RFC 9112 a strict gateway enforces, and
// returns the host the request is routed by and forwarded with, or the
// gateway's refusal (nginx refuses the same, bar the hosts validHost
// names).
func (r *request) check() ([]byte, *answer) {
	switch {
	case r.connect:
		return nil, &noConnect // its target is a bare authority
	case !r.tg.ok:
		return nil, &badRequest // "*", a scheme other than http(s), a control byte
	case r.head.hosts > 1:
		return nil, &badRequest // which one would the service believe?
	case r.head.te > 1 || r.head.te > 0 && (r.head.cl > 0 || r.http10):
		return nil, &badRequest // the shapes of request smuggling (RFC 9112 section 6.1)
	case r.head.te > 0 && !r.chunked:
		return nil, &notImplemented // "Transfer-Encoding: identity"
	case !validHost(r.host):
		// No Host (HTTP/1.0 too, where nginx uses its server_name: the
		// gateway routes by host and has none of its own), or one a
		// browser could not have sent.
		return nil, &badRequest
	}
	if !r.tg.absolute {
		return r.host, nil
	}
	// RFC 9112 section 3.2.2: the target's authority is the host, not the
	// Host header; routing, the Host the service receives and
	// X-Forwarded-Host all say the same.
	if !validHost(r.tg.host) {
		return nil, &badRequest // "http:///x", "http://user@host/x"
	}
	return s2b(r.tg.host), nil
}

var hopNames = [...]string{"connection", "keep-alive", "proxy-", "te", "trailer", "upgrade", "expect", "http2-settings", "transfer-encoding"}

func isHopName(name []byte) bool {
	if len(name) == 0 {
		return false
	}
	for _, n := range hopNames {
		if name[0]|0x20 != n[0] {
			continue // every response header is asked about: most differ here
		}
		if n[len(n)-1] == '-' && hasPrefixFold(name, n) || len(name) == len(n) && hasPrefixFold(name, n) {
			return true
		}
	}
	return false
}

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && strings.EqualFold(string(b[:len(prefix)]), prefix)
}

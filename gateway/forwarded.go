package gateway

import (
	"net"
	"net/netip"
	"strings"

	"github.com/valyala/fasthttp"
)

// clientInfo is what the forwarding headers say about the client.
type clientInfo struct {
	peer netip.Addr // invalid when the peer is not an IP (a unix socket)
	tls  bool
	host []byte // the Host the client sent
}

// peerOf returns the IP of a connection's remote address.
func peerOf(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	if a == nil {
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

var (
	hdrRealIP = []byte("X-Real-Ip")
	hdrXFF    = []byte("X-Forwarded-For")
	hdrProto  = []byte("X-Forwarded-Proto")
	hdrXFHost = []byte("X-Forwarded-Host")
	protoHTTP = []byte("http")
	protoTLS  = []byte("https")
)

// setForwarded sets X-Real-IP and X-Forwarded-For, -Proto and -Host. A
// client's own values are believed only from a trusted proxy; otherwise
// anyone could claim any address to Django.
// present says whether the client sent any forwarding header at all.
func (g *Gateway) setForwarded(h *fasthttp.RequestHeader, c clientInfo, present bool) {
	if !c.peer.IsValid() {
		for _, k := range [...]string{"X-Real-Ip", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Forwarded"} {
			h.Del(k)
		}
		return // nothing true to say
	}
	proto := protoHTTP
	if c.tls {
		proto = protoTLS
	}
	var ipb [64]byte
	ip := c.peer.AppendTo(ipb[:0])
	if !g.trustedAddr(c.peer) {
		// The hot path. Set alone would replace only the first of several
		// values the client sent: delete them all first.
		for _, kv := range [...]struct{ k, v []byte }{{hdrRealIP, ip}, {hdrXFF, ip}, {hdrProto, proto}, {hdrXFHost, c.host}} {
			if present {
				h.DelBytes(kv.k)
			}
			h.SetCanonical(kv.k, kv.v)
		}
		if present {
			h.Del("Forwarded")
		}
		return
	}

	var prior []string
	for _, v := range h.PeekAll("X-Forwarded-For") {
		prior = append(prior, string(v))
	}
	xff := string(ip)
	if len(prior) > 0 {
		xff = strings.Join(prior, ", ") + ", " + xff
	}
	h.Del("X-Forwarded-For")
	h.Set("X-Forwarded-For", xff)
	h.Del("X-Real-Ip")
	h.Set("X-Real-Ip", g.realIP(prior, string(ip)))
	if len(h.Peek("X-Forwarded-Proto")) == 0 {
		h.SetCanonical(hdrProto, proto)
	}
	if len(h.Peek("X-Forwarded-Host")) == 0 {
		h.SetCanonical(hdrXFHost, c.host)
	}
}

// clientIP is the address the access log reports: the peer, or behind a
// trusted proxy the client it forwarded for.
func (g *Gateway) clientIP(peer netip.Addr, xff [][]byte) string {
	if !peer.IsValid() {
		return ""
	}
	if !g.trustedAddr(peer) {
		return peer.String()
	}
	prior := make([]string, len(xff))
	for i, v := range xff {
		prior[i] = string(v)
	}
	return g.realIP(prior, peer.String())
}

// realIP walks X-Forwarded-For from the right, past trusted proxies, to the
// first address that is not one (nginx's real_ip_recursive). A malformed
// entry stops the walk at the last address known to be good.
func (g *Gateway) realIP(xff []string, peer string) string {
	client := peer
	for i := len(xff) - 1; i >= 0; i-- {
		parts := strings.Split(xff[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return client
			}
			client = a.Unmap().String()
			if !g.trustedAddr(a) {
				return client
			}
		}
	}
	return client
}

func (g *Gateway) trustedAddr(a netip.Addr) bool {
	if len(g.opts.TrustedProxies) == 0 {
		return false
	}
	a = a.Unmap().WithZone("")
	for _, p := range g.opts.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

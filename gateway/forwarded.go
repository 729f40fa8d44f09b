package gateway

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// setForwarded sets X-Real-IP and X-Forwarded-For, -Proto and -Host on the
// outbound header h. A client's own values are believed only from a
// trusted proxy; otherwise anyone could claim any address to Django.
func (g *Gateway) setForwarded(in *http.Request, h http.Header) {
	peer := peerIP(in.RemoteAddr)
	h.Del("X-Real-Ip")
	if peer == "" {
		return // not an IP peer (a unix socket): nothing true to say
	}

	proto := "http"
	if in.TLS != nil {
		proto = "https"
	}
	if !g.trusted(peer) {
		// The hot path: one allocation for the four values, capped so
		// that an append to one cannot overwrite the next.
		v := []string{peer, peer, proto, in.Host}
		h["X-Real-Ip"] = v[0:1:1]
		h["X-Forwarded-For"] = v[1:2:2]
		h["X-Forwarded-Proto"] = v[2:3:3]
		h["X-Forwarded-Host"] = v[3:4:4]
		return
	}

	xff := peer
	if prior := in.Header["X-Forwarded-For"]; len(prior) > 0 {
		xff = strings.Join(prior, ", ") + ", " + peer
	}
	h.Set("X-Forwarded-For", xff)
	h.Set("X-Real-Ip", g.realIP(in.Header["X-Forwarded-For"], peer))
	keep(h, in.Header, "X-Forwarded-Proto", proto)
	keep(h, in.Header, "X-Forwarded-Host", in.Host)
	if v := in.Header["Forwarded"]; len(v) > 0 {
		h["Forwarded"] = append([]string(nil), v...)
	}
}

// keep copies key from the trusted proxy's header, or sets def.
func keep(h, from http.Header, key, def string) {
	if v := from[key]; len(v) > 0 {
		h[key] = append([]string(nil), v...)
		return
	}
	h.Set(key, def)
}

// clientIP is the address the access log and X-Real-IP report.
func (g *Gateway) clientIP(r *http.Request) string {
	peer := peerIP(r.RemoteAddr)
	if peer == "" || !g.trusted(peer) {
		return peer
	}
	return g.realIP(r.Header["X-Forwarded-For"], peer)
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

func (g *Gateway) trusted(ip string) bool {
	if len(g.opts.TrustedProxies) == 0 {
		return false
	}
	a, err := netip.ParseAddr(ip)
	return err == nil && g.trustedAddr(a)
}

func (g *Gateway) trustedAddr(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	for _, p := range g.opts.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peerIP returns the IP of a RemoteAddr ("192.0.2.1:5000", "[::1]:5000"),
// or "" when it is not one.
func peerIP(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return ""
	}
	return host
}

package gateway

// hostKey appends to dst the form of host that the table is keyed by:
// ASCII lower-case, without a port and without trailing dots, so that
// "PR-7.Previews.Example.com.:8443" and "pr-7.previews.example.com" are
// one site. An IPv6 literal keeps its brackets ("[::1]").
func hostKey(dst, host []byte) []byte {
	h := host
	if len(h) > 0 && h[0] == '[' {
		if i := indexByte(h, ']'); i > 0 {
			h = h[:i+1]
		}
	} else if i := lastIndexByte(h, ':'); i >= 0 && indexByte(h[:i], ':') < 0 && digits(h[i+1:]) {
		h = h[:i]
	}
	for len(h) > 0 && h[len(h)-1] == '.' {
		h = h[:len(h)-1]
	}
	for _, c := range h {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

func digits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func lastIndexByte(b []byte, c byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == c {
			return i
		}
	}
	return -1
}

// hostBytes are those of a name or IPv4 address in RFC 3986 section 3.2.2:
// unreserved, sub-delims and pct-encoded.
var hostBytes = func() (t [256]bool) {
	for _, c := range []byte("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=%") {
		t[c] = true
	}
	return t
}()

// validHost reports whether h (a Host header or an authority) is a host
// the gateway routes: a name or IPv4 address, or an IPv6 literal in
// brackets, then an optional ":port" of digits. Empty, "a b", "a/b",
// "user@a", `a\b`, "a..b", "a:xx", "[::1" and bytes beyond ASCII are not:
// a service builds its links, redirects and cookies from this name.
// (nginx lets "user@a", "a:xx" and "[::1" through.)
func validHost[T string | []byte](h T) bool {
	i := 0
	if len(h) > 0 && h[0] == '[' {
		for i = 1; i < len(h) && h[i] != ']'; i++ {
			if c := h[i]; !(c == ':' || c == '.' || '0' <= c && c <= '9' || 'a' <= c|0x20 && c|0x20 <= 'f') {
				return false
			}
		}
		if i == len(h) || i == 1 {
			return false
		}
		i++
	} else {
		name := false // something other than dots
		for ; i < len(h) && h[i] != ':'; i++ {
			c := h[i]
			if !hostBytes[c] || c == '.' && i > 0 && h[i-1] == '.' {
				return false
			}
			name = name || c != '.'
		}
		if !name {
			return false
		}
	}
	if i == len(h) {
		return true
	}
	if h[i] != ':' {
		return false
	}
	for i++; i < len(h); i++ {
		if h[i] < '0' || h[i] > '9' {
			return false
		}
	}
	return true
}

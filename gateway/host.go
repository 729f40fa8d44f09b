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

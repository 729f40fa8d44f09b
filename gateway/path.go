package gateway

import "strings"

// cleanPath resolves the dot segments of a decoded request path, as nginx
// does before it picks a location, so that "/api/../admin/" is routed (and
// sent upstream) as "/admin/". Matching runs on the decoded path, so an
// encoded "%2e%2e" or "..%2f" is resolved too and cannot climb out of a
// prefix behind the gateway's back. Duplicate slashes are kept.
//
// changed reports whether the path differs from p; ok is false for a path
// that is not origin-form ("*" of OPTIONS *), which no route matches.
func cleanPath(p string) (clean string, changed, ok bool) {
	if p == "" {
		return "/", true, true // absolute-form "GET http://host HTTP/1.1"
	}
	if p[0] != '/' {
		return p, false, false
	}
	if !hasDotSegment(p) {
		return p, false, true // the common case: no allocation
	}
	return removeDotSegments(p), true, true
}

// hasDotSegment reports whether some segment of p is "." or "..".
func hasDotSegment(p string) bool {
	for i := 0; i < len(p); i++ {
		if p[i] != '/' || i+1 >= len(p) || p[i+1] != '.' {
			continue
		}
		j := i + 2
		if j < len(p) && p[j] == '.' {
			j++
		}
		if j == len(p) || p[j] == '/' {
			return true
		}
	}
	return false
}

// removeDotSegments is RFC 3986 section 5.2.4 for an absolute path: ".."
// never climbs above the root, and a final "." or ".." leaves a trailing
// slash ("/api/x/.." is "/api/").
func removeDotSegments(p string) string {
	segs := strings.Split(p[1:], "/")
	out := segs[:0] // in place: out never runs ahead of the reading index
	for i, s := range segs {
		last := i == len(segs)-1
		switch s {
		case ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, s)
			continue
		}
		if last {
			out = append(out, "")
		}
	}
	return "/" + strings.Join(out, "/")
}

// stripPrefix returns what a stripped route's service sees: the path after
// prefix, always starting with "/" ("/api/users/" → "/users/", "/api/" → "/").
func stripPrefix(p, prefix string) string {
	if strings.HasSuffix(prefix, "/") {
		return p[len(prefix)-1:] // keep the prefix's own slash: no allocation
	}
	rest := p[len(prefix):]
	if strings.HasPrefix(rest, "/") {
		return rest
	}
	return "/" + rest
}

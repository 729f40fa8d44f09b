package check

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/tandem-dev/tandem"
)

// assetPath is what a Next.js page asks for its scripts and styles.
const assetPath = "/_next/static/chunks/main.js"

// nextjs warns about a Next.js service served under a sub-path whose
// /_next/ assets go elsewhere: its pages render, then load no scripts or
// styles. A basePath equal to the sub-path moves the assets under it.
func (c *checker) nextjs() {
	assets := match(c.st.Routes, assetPath)
	for _, svc := range c.st.Services {
		if !isNext(svc) {
			continue
		}
		if assets >= 0 && c.st.Routes[assets].Service == svc.Name {
			continue
		}
		base, hasBase := basePath(svc)
		for i, r := range c.st.Routes {
			if r.Service != svc.Name {
				continue
			}
			sub := strings.TrimSuffix(r.Path, "/")
			if hasBase && base == sub {
				if r.StripPrefix {
					c.warnf(c.routePos(i, ""), "service %q sets basePath %q in its next.config, which strip_prefix removes before the app sees it: drop strip_prefix", svc.Name, base)
				}
				continue
			}
			goes := "no route serves /_next/"
			if assets >= 0 {
				goes = "/_next/ goes to " + c.st.Routes[assets].Target()
			}
			c.warnf(c.routePos(i, ""), "service %q is a Next.js app served under %q, but %s: its pages will load without scripts and styles; set basePath: %q in its next.config or route /_next/ to %s",
				svc.Name, r.Path, goes, sub, r.Target())
		}
	}
}

// match returns the index of the route a request for path reaches, the
// longest prefix, as the gateway picks it; -1 for none.
func match(routes []tandem.Route, path string) int {
	best := -1
	for i, r := range routes {
		if strings.HasPrefix(path, r.Path) && (best < 0 || len(r.Path) > len(routes[best].Path)) {
			best = i
		}
	}
	return best
}

// isNext reports whether svc is a Next.js app: its package.json depends on
// next, or its command runs next.
func isNext(svc *tandem.Service) bool {
	for _, arg := range svc.Argv() {
		for _, word := range strings.Fields(arg) {
			if filepath.Base(word) == "next" {
				return true
			}
		}
	}
	for _, dir := range dirs(svc) {
		b, err := os.ReadFile(filepath.Join(dir, "package.json"))
		if err != nil {
			continue
		}
		var pkg map[string]json.RawMessage
		if json.Unmarshal(b, &pkg) != nil {
			continue
		}
		for _, field := range []string{"dependencies", "devDependencies", "peerDependencies"} {
			var deps map[string]any
			if json.Unmarshal(pkg[field], &deps) == nil && deps["next"] != nil {
				return true
			}
		}
	}
	return false
}

// basePathRe finds a literal basePath: basePath: '/shop' (any quotes).
var basePathRe = regexp.MustCompile("basePath\\s*:\\s*(['\"`])([^'\"`]*)['\"`]")

// basePath returns the basePath a service's next.config sets, if it sets
// one as a literal.
func basePath(svc *tandem.Service) (string, bool) {
	for _, dir := range dirs(svc) {
		for _, name := range []string{"next.config.js", "next.config.mjs", "next.config.cjs", "next.config.ts", "next.config.mts"} {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				continue
			}
			if m := basePathRe.FindSubmatch(b); m != nil {
				return strings.TrimSuffix(string(m[2]), "/"), true
			}
		}
	}
	return "", false
}

// dirs are where a service's package.json may be: its working directory
// and its build context.
func dirs(svc *tandem.Service) []string {
	var out []string
	for _, d := range []string{svc.WorkingDir, svc.Context} {
		if d != "" && (len(out) == 0 || out[0] != d) {
			out = append(out, d)
		}
	}
	return out
}

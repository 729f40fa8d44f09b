package compose

import (
	"encoding/json"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/compose-spec/compose-go/v2/schema"
)

// closest returns the known key a misspelt key most likely meant, or "".
func closest(key string, known []string) string {
	best, bestDist := "", -1
	for _, k := range known {
		d := distance(strings.ToLower(key), strings.ToLower(k))
		if bestDist < 0 || d < bestDist || (d == bestDist && k < best) {
			best, bestDist = k, d
		}
	}
	// Close enough to be a typo: "stripprefix", "prots", "helthcheck".
	if best == "" || bestDist > max(2, len(best)/3) || bestDist >= len(key) {
		return ""
	}
	return best
}

// distance is the Levenshtein distance between a and b, in bytes.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

var (
	specOnce sync.Once
	spec     map[string]any
)

// schemaKeys returns the keys the Compose schema allows at a dotted path
// ("services.api", "services.api.healthcheck"), for suggestions.
func schemaKeys(path string) []string {
	specOnce.Do(func() { _ = json.Unmarshal([]byte(schema.Schema), &spec) })
	if spec == nil {
		return nil
	}
	var segs []string
	if path != "" {
		segs = strings.Split(path, ".")
	}
	set := map[string]bool{}
	collectKeys(spec, segs, set, 0)
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func collectKeys(node any, segs []string, out map[string]bool, depth int) {
	n, ok := node.(map[string]any)
	if !ok || depth > 30 {
		return
	}
	if ref, ok := n["$ref"].(string); ok {
		collectKeys(resolveRef(ref), segs, out, depth+1)
	}
	for _, comb := range []string{"allOf", "oneOf", "anyOf"} {
		list, _ := n[comb].([]any)
		for _, sub := range list {
			collectKeys(sub, segs, out, depth+1)
		}
	}
	if len(segs) == 0 {
		props, _ := n["properties"].(map[string]any)
		for k := range props {
			out[k] = true
		}
		return
	}
	seg, rest := segs[0], segs[1:]
	if props, ok := n["properties"].(map[string]any); ok {
		if child, ok := props[seg]; ok {
			collectKeys(child, rest, out, depth+1)
			return
		}
	}
	if pats, ok := n["patternProperties"].(map[string]any); ok {
		for pat, child := range pats {
			if re, err := regexp.Compile(pat); err == nil && re.MatchString(seg) {
				collectKeys(child, rest, out, depth+1)
			}
		}
	}
	if _, err := strconv.Atoi(seg); err == nil {
		collectKeys(n["items"], rest, out, depth+1)
	}
}

func resolveRef(ref string) any {
	var node any = spec
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		m, ok := node.(map[string]any)
		if !ok {
			return nil
		}
		node = m[part]
	}
	return node
}

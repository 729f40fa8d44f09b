package nginxconf

import (
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/tandem-dev/tandem"
)

// WriteYAML writes the routes as the x-tandem block to paste into a Compose
// file, with each note as a comment beside what it is about.
func WriteYAML(w io.Writer, res *Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# From %s by tandem routes --from-nginx: paste into the Compose file\n", clean(res.File))
	b.WriteString("# (into its x-tandem block, if it has one). Longest prefix wins, as in nginx.\n")
	b.WriteString("x-tandem:\n")
	if len(res.Routes) == 0 {
		b.WriteString("  routes: []\n")
	} else {
		b.WriteString("  routes:\n")
	}
	attached := map[int][]Note{}
	var loose []Note
	for _, n := range res.Notes {
		if n.Route >= 0 && n.Route < len(res.Routes) {
			attached[n.Route] = append(attached[n.Route], n)
		} else {
			loose = append(loose, n)
		}
	}
	next := 0
	for i, r := range res.Routes {
		for ; next < len(loose) && loose[next].Pos.Line <= r.Pos.Line; next++ {
			comment(&b, loose[next])
		}
		for _, n := range attached[i] {
			comment(&b, n)
		}
		b.WriteString("    - " + routeYAML(r) + "\n")
	}
	for ; next < len(loose); next++ {
		comment(&b, loose[next])
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func comment(b *strings.Builder, n Note) {
	b.WriteString("    # " + clean(n.String()) + "\n")
}

// routeYAML writes r as a flow mapping, as the docs write routes.
func routeYAML(r tandem.Route) string {
	s := "{ path: " + scalar(r.Path) + ", to: " + scalar(r.Target())
	if r.StripPrefix {
		s += ", strip_prefix: true"
	}
	if r.Errors == tandem.ErrorsJSON {
		s += ", errors: json"
	}
	if r.ErrorPage != "" {
		s += ", error_page: " + scalar(r.ErrorPage)
	}
	return s + " }"
}

// plain is what a flow scalar may hold unquoted and still be that string
// (with a "/" or ":" in it, it is no number, boolean or null).
var plain = regexp.MustCompile(`^[A-Za-z0-9/_.][A-Za-z0-9/_.~%+=@:-]*$`)

// scalar quotes s for a flow mapping where it must be. "$" is doubled:
// Compose interpolates the whole file.
func scalar(s string) string {
	s = strings.ReplaceAll(s, "$", "$$")
	if plain.MatchString(s) && strings.ContainsAny(s, "/:") && !strings.Contains(s, "::") && !strings.HasSuffix(s, ":") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// Package check finds what is wrong with a loaded stack beyond what loading
// it rejects: routes that lead nowhere, assets a sub-path hides, images the
// runtime cannot run. It is what `tandem check` reports.
package check

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tandem-dev/tandem"
)

// Stack returns the problems of a loaded stack, sorted by file and line.
// supported reports whether the runtime can run a service (nil = yes); it
// may be nil.
func Stack(st *tandem.Stack, supported func(*tandem.Service) error) []tandem.Problem {
	c := &checker{st: st}
	c.routes()
	c.nextjs()
	c.services(supported)
	c.paths()
	c.dockerfiles()
	c.proxies()
	c.origins()
	c.sort()
	return c.problems
}

type checker struct {
	st       *tandem.Stack
	problems []tandem.Problem
}

func (c *checker) errorf(pos tandem.Pos, format string, args ...any) {
	c.problems = append(c.problems, tandem.Problem{Pos: pos, Severity: tandem.SeverityError, Message: fmt.Sprintf(format, args...)})
}

func (c *checker) warnf(pos tandem.Pos, format string, args ...any) {
	c.problems = append(c.problems, tandem.Problem{Pos: pos, Severity: tandem.SeverityWarning, Message: fmt.Sprintf(format, args...)})
}

// sort orders problems by file, in the order the stack names its files,
// then by line.
func (c *checker) sort() {
	order := func(f string) int {
		if i := slices.Index(c.st.Files, f); i >= 0 {
			return i
		}
		return len(c.st.Files)
	}
	slices.SortStableFunc(c.problems, func(a, b tandem.Problem) int {
		if d := order(a.Pos.File) - order(b.Pos.File); d != 0 {
			return d
		}
		if d := strings.Compare(a.Pos.File, b.Pos.File); d != 0 {
			return d
		}
		return a.Pos.Line - b.Pos.Line
	})
}

// routePos returns where route i, or its key ("to", "error_page"), was
// written: the stack's positions when they agree with the route's own.
func (c *checker) routePos(i int, key string) tandem.Pos {
	r := c.st.Routes[i]
	item := fmt.Sprintf("x-tandem.routes.%d", i)
	if p, ok := c.st.Pos[item]; r.Pos.File != "" && (!ok || p != r.Pos) {
		return r.Pos // positions of another list: trust the route
	}
	if key == "" {
		return c.st.PosOf(item)
	}
	return c.st.PosOf(item + "." + key)
}

// at names pos for a message about something at here: "line 3" in the
// same file, "base.yml:3" in another.
func at(pos, here tandem.Pos) string {
	if pos.File == here.File && pos.Line > 0 {
		return fmt.Sprintf("line %d", pos.Line)
	}
	return pos.String()
}

// quoteList writes "a", "b" or "c".
func quoteList(items []string, conj string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = fmt.Sprintf("%q", s)
	}
	return joinList(q, conj)
}

// joinList writes a, b and c.
func joinList(items []string, conj string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " " + conj + " " + items[len(items)-1]
}

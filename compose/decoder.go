package compose

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/tandem-dev/tandem"
)

// decoder decodes x-tandem blocks strictly, collecting every problem with
// the place it was written.
type decoder struct {
	ps    *positions
	files []string
	errs  []tandem.Problem
}

func (d *decoder) fail(path, format string, args ...any) {
	pos, ok := d.ps.in("", path)
	if !ok && len(d.files) > 0 {
		pos = tandem.Pos{File: d.files[0]}
	}
	d.errs = append(d.errs, tandem.Problem{Pos: pos, Message: fmt.Sprintf(format, args...)})
}

// err returns the problems as one error, one "file:line: message" a line.
func (d *decoder) err() error {
	if len(d.errs) == 0 {
		return nil
	}
	order := map[string]int{}
	for i, f := range d.files {
		order[f] = i
	}
	sort.SliceStable(d.errs, func(i, j int) bool {
		a, b := d.errs[i], d.errs[j]
		if a.Pos.File != b.Pos.File {
			return order[a.Pos.File] < order[b.Pos.File]
		}
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line < b.Pos.Line
		}
		return a.Message < b.Message
	})
	lines := make([]string, len(d.errs))
	for i, p := range d.errs {
		lines[i] = p.String()
	}
	return &tandem.Error{Code: tandem.EINVALID, Message: strings.Join(lines, "\n")}
}

// mapping checks that v is a mapping with only known keys; what names it
// in messages ("route", "x-tandem.preview").
func (d *decoder) mapping(v any, path, what string, known []string) (map[string]any, bool) {
	if v == nil {
		return map[string]any{}, true
	}
	m, ok := v.(map[string]any)
	if !ok {
		d.fail(path, "%s must be a mapping, not %s", what, typeName(v))
		return nil, false
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if slices.Contains(known, k) {
			continue
		}
		msg := fmt.Sprintf("unknown key %q in %s", k, what)
		if s := closest(k, known); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		d.fail(join(path, k), "%s", msg)
	}
	return m, true
}

func (d *decoder) str(v any, path, what string) (string, bool) {
	s, ok := v.(string)
	if !ok {
		d.fail(path, "%s must be a string, not %s", what, typeName(v))
	}
	return s, ok
}

// strings decodes a string or a list of strings; split turns the string
// form into a list.
func (d *decoder) strings(v any, path, what string, split func(string) ([]string, error)) ([]string, bool) {
	switch v := v.(type) {
	case string:
		list, err := split(v)
		if err != nil {
			d.fail(path, "%s: %v", what, err)
			return nil, false
		}
		return list, true
	case []any:
		list := make([]string, 0, len(v))
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				d.fail(join(path, strconv.Itoa(i)), "%s must be a string or a list of strings, not a list of %s", what, typeName(e))
				return nil, false
			}
			list = append(list, s)
		}
		return list, true
	}
	d.fail(path, "%s must be a string or a list of strings, not %s", what, typeName(v))
	return nil, false
}

// boolean accepts true and false, and their strings, which interpolation
// (strip_prefix: ${STRIP:-true}) produces.
func (d *decoder) boolean(v any, path, what string) bool {
	switch v := v.(type) {
	case bool:
		return v
	case string:
		switch v {
		case "true":
			return true
		case "false":
			return false
		}
	}
	d.fail(path, "%s must be true or false, not %s", what, describe(v))
	return false
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "empty"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int, int64, uint64, float64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprintf("a %T", v)
}

func describe(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return typeName(v)
}

func hasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}

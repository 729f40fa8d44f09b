package compose

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"

	"github.com/tandem-dev/tandem"
	"go.yaml.in/yaml/v4"
)

// maxVisits bounds the walk of one file, so that aliases expanding into
// each other (a "billion laughs" file) cannot make loading hang.
const maxVisits = 200_000

// positions records where each dotted path of the stack file was written.
type positions struct {
	merged map[string]tandem.Pos            // last file that writes a path wins
	byFile map[string]map[string]tandem.Pos // file as given → path → pos
	// items are the raw values of the list items under x- extensions so far,
	// by list path: Compose appends such lists across files without
	// duplicates, and the merged index of an item depends on them.
	items map[string][]any
}

func newPositions() *positions {
	return &positions{
		merged: map[string]tandem.Pos{},
		byFile: map[string]map[string]tandem.Pos{},
		items:  map[string][]any{},
	}
}

// add parses one file's YAML documents and records their positions. A
// syntax error is returned as "file:line: message".
func (ps *positions) add(file string, content []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(content))
	w := &walker{ps: ps, file: file, own: map[string]tandem.Pos{}}
	ps.byFile[file] = w.own
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return yamlError(file, err)
		}
		if root := doc.Content; len(root) > 0 && root[0].Kind != yaml.MappingNode && root[0].Tag != "!!null" {
			return invalid(tandem.Pos{File: file, Line: root[0].Line}, "top-level object must be a mapping")
		}
		w.node(&doc, "", 0)
	}
}

// in returns where path was written in file, or in the merged files.
func (ps *positions) in(file, path string) (tandem.Pos, bool) {
	for p := path; p != ""; {
		if pos, ok := ps.byFile[file][p]; ok {
			return pos, true
		}
		if pos, ok := ps.merged[p]; ok && file == "" {
			return pos, true
		}
		i := strings.LastIndexByte(p, '.')
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return tandem.Pos{}, false
}

type walker struct {
	ps     *positions
	file   string
	own    map[string]tandem.Pos
	visits int
}

func (w *walker) set(path string, line int) {
	pos := tandem.Pos{File: w.file, Line: line}
	w.own[path] = pos
	w.ps.merged[path] = pos
}

// forget drops what earlier files said under path, for !reset and !override.
func (w *walker) forget(path string) {
	for p := range w.ps.merged {
		if p == path || strings.HasPrefix(p, path+".") {
			delete(w.ps.merged, p)
		}
	}
	for p := range w.ps.items {
		if p == path || strings.HasPrefix(p, path+".") {
			delete(w.ps.items, p)
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// node records the positions below n, which sits at path.
func (w *walker) node(n *yaml.Node, path string, depth int) {
	w.visits++
	if n == nil || depth > 100 || w.visits > maxVisits {
		return
	}
	if path != "" && (n.Tag == "!reset" || n.Tag == "!override") {
		w.forget(path)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			w.node(c, path, depth+1)
		}
	case yaml.AliasNode:
		w.node(n.Alias, path, depth+1)
	case yaml.MappingNode:
		w.mapping(n, path, depth, map[string]bool{})
	case yaml.SequenceNode:
		w.sequence(n, path, depth)
	}
}

// mapping records the keys of n not in seen, then those its merge keys
// ("<<") bring in: keys written in a mapping win over merged ones, and
// earlier merge sources over later ones, as YAML merges them.
func (w *walker) mapping(n *yaml.Node, path string, depth int, seen map[string]bool) {
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.AliasNode && k.Alias != nil {
			k = k.Alias
		}
		if k.Value == "<<" && k.Tag != "!!str" {
			merges = append(merges, v)
			continue
		}
		if seen[k.Value] {
			continue
		}
		seen[k.Value] = true
		p := join(path, k.Value)
		w.set(p, k.Line)
		w.node(v, p, depth+1)
	}
	for _, m := range merges {
		for _, src := range mergeSources(m) {
			w.visits++
			if depth > 100 || w.visits > maxVisits {
				return
			}
			w.mapping(src, path, depth+1, seen)
		}
	}
}

func mergeSources(n *yaml.Node) []*yaml.Node {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil {
		return nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		return []*yaml.Node{n}
	case yaml.SequenceNode:
		var out []*yaml.Node
		for _, c := range n.Content {
			if c.Kind == yaml.AliasNode {
				c = c.Alias
			}
			if c != nil && c.Kind == yaml.MappingNode {
				out = append(out, c)
			}
		}
		return out
	}
	return nil
}

func (w *walker) sequence(n *yaml.Node, path string, depth int) {
	if !isExtension(path) {
		for i, c := range n.Content {
			p := join(path, strconv.Itoa(i))
			w.set(p, c.Line)
			w.node(c, p, depth+1)
		}
		return
	}
	// Compose appends the lists of x- extensions across files, dropping
	// items equal to one already there: index them as the merged list does.
	seen := w.ps.items[path]
	for _, c := range n.Content {
		var v any
		_ = c.Decode(&v)
		if containsEqual(seen, v) {
			continue
		}
		p := join(path, strconv.Itoa(len(seen)))
		seen = append(seen, v)
		w.set(p, c.Line)
		w.node(c, p, depth+1)
	}
	w.ps.items[path] = seen
}

func containsEqual(list []any, v any) bool {
	for _, e := range list {
		if reflect.DeepEqual(e, v) {
			return true
		}
	}
	return false
}

// isExtension reports whether path lies inside an x- extension.
func isExtension(path string) bool {
	for _, part := range strings.Split(path, ".") {
		if strings.HasPrefix(part, "x-") {
			return true
		}
	}
	return false
}

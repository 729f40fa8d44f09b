package nginxconf

import (
	"fmt"
	"strings"
)

// statement is where one nginx directive was written: from the line of its
// name to the line of its ";" or of its block's "}".
type statement struct {
	start, end int
	block      bool
	depth      int    // how many blocks hold it
	key        string // its name, and a block's parameters as written
}

// scanError is a syntax error the scan found, at a line of the file.
type scanError struct {
	line int
	msg  string
}

func (e *scanError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

// scan reads src as nginx (and the parser) tokenize it, for two things the
// parser does not give: the line each directive starts on (it records the
// line of the ";" or "}" that ends it), and two mistakes it lets through
// silently — a block without a name ("{ listen 80; }") and a stray "}",
// after which it stops reading the file.
func scan(src string) ([]statement, error) {
	s := &scanner{src: src, line: 1}
	for s.i < len(s.src) {
		if err := s.step(); err != nil {
			return nil, err
		}
	}
	if n := len(s.open); n > 0 {
		return nil, &scanError{s.open[n-1].line, fmt.Sprintf("block %q is never closed", s.open[n-1].toks[0])}
	}
	if s.inStmt {
		return nil, &scanError{s.start, fmt.Sprintf("directive %q has no \";\"", s.toks[0])}
	}
	return s.stmts, nil
}

// maxDepth bounds nesting, which the parser follows by recursion: real
// configs nest four or five deep.
const maxDepth = 64

type scanner struct {
	src    string
	i      int
	line   int
	inStmt bool     // a directive has started and not ended
	start  int      // its first line
	toks   []string // its tokens so far, as written
	open   []openBlock
	stmts  []statement
}

type openBlock struct {
	line int
	toks []string
}

func (s *scanner) step() error {
	c := s.src[s.i]
	switch {
	case c == '\n':
		s.line++
		s.i++
	case c == ' ' || c == '\t' || c == '\r':
		s.i++
	case c == '#':
		s.skipLine()
	case c == ';':
		if s.inStmt {
			s.stmts = append(s.stmts, statement{start: s.start, end: s.line, depth: len(s.open), key: s.toks[0]})
			s.inStmt = false
		}
		s.i++
	case c == '{':
		if !s.inStmt {
			return &scanError{s.line, `a block without a name: nginx wants "server {" (or "location /path/ {")`}
		}
		if len(s.open) == maxDepth {
			return &scanError{s.line, fmt.Sprintf("blocks nested more than %d deep", maxDepth)}
		}
		s.open = append(s.open, openBlock{s.start, s.toks})
		s.inStmt = false
		s.i++
		if strings.HasSuffix(s.toks[0], "_by_lua_block") {
			s.skipLua()
		}
	case c == '}':
		if s.inStmt {
			return &scanError{s.line, fmt.Sprintf("directive %q has no \";\"", s.toks[0])}
		}
		n := len(s.open)
		if n == 0 {
			return &scanError{s.line, `"}" closes no block`}
		}
		b := s.open[n-1]
		s.stmts = append(s.stmts, statement{start: b.line, end: s.line, block: true, depth: n - 1, key: strings.Join(b.toks, " ")})
		s.open = s.open[:n-1]
		s.i++
	case c == '"' || c == '\'' || c == '`':
		return s.quoted(c)
	default:
		s.word()
	}
	return nil
}

// token notes a token of a directive, which starts at line with its first.
func (s *scanner) token(tok string, line int) {
	if !s.inStmt {
		s.inStmt, s.start, s.toks = true, line, nil
	}
	s.toks = append(s.toks, tok)
}

func (s *scanner) skipLine() {
	for s.i < len(s.src) && s.src[s.i] != '\n' {
		s.i++
	}
}

func (s *scanner) quoted(q byte) error {
	line, from := s.line, s.i
	for s.i++; s.i < len(s.src); s.i++ {
		switch s.src[s.i] {
		case '\\':
			if s.i+1 < len(s.src) && s.src[s.i+1] == q {
				s.i++
			}
		case '\n':
			s.line++
		case q:
			s.i++
			s.token(s.src[from:s.i], line)
			return nil
		}
	}
	return &scanError{line, "quoted string is never closed"}
}

// word reads a bare token: it ends at a space, ";", a line end or a brace,
// except the braces of a "${var}" reference.
func (s *scanner) word() {
	from, inVar := s.i, false
	for ; s.i < len(s.src); s.i++ {
		c := s.src[s.i]
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ';' {
			break
		}
		if c == '{' {
			if s.i > from && s.src[s.i-1] == '$' {
				inVar = true
				continue
			}
			if !inVar {
				break
			}
		}
		if c == '}' {
			if !inVar {
				break
			}
			inVar = false
		}
	}
	if s.i == from { // a lone brace the switch did not take: cannot happen, but never loop
		s.i++
		return
	}
	s.token(s.src[from:s.i], s.line)
}

// skipLua passes over the Lua code of a *_by_lua_block up to its closing
// brace, as the parser does: braces nest, "#" comments to the line's end.
func (s *scanner) skipLua() {
	depth := 0
	for ; s.i < len(s.src); s.i++ {
		switch s.src[s.i] {
		case '\n':
			s.line++
		case '#':
			s.skipLine()
			s.i--
		case '{':
			depth++
		case '}':
			if depth == 0 {
				return // the "}" is the block's: step takes it
			}
			depth--
		}
	}
}

// starts maps the line a directive ends on (what the parser records) to
// the line it starts on, where that is unambiguous.
type starts map[stmtKey][]int

type stmtKey struct {
	end   int
	block bool
	depth int
	key   string
}

func newStarts(stmts []statement) starts {
	m := starts{}
	for _, st := range stmts {
		k := stmtKey{st.end, st.block, st.depth, st.key}
		m[k] = append(m[k], st.start)
	}
	return m
}

// of returns the start line of the directive k stands for: its end line
// itself when several such directives end there and started on different
// lines.
func (m starts) of(k stmtKey) int {
	lines := m[k]
	if len(lines) == 0 {
		return k.end
	}
	for _, l := range lines[1:] {
		if l != lines[0] {
			return k.end
		}
	}
	return lines[0]
}

// Package dockerfile reads, with buildkit's own parser, what a Dockerfile
// says about the program its image runs: the entrypoint and command, the
// healthcheck, the environment and the ports, as `docker build` would leave
// them in the image of the target stage. It also names, by line, what a
// local program started from the source tree cannot honour: RUN steps,
// USER, a WORKDIR the sources are not copied to, and the like.
package dockerfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// MaxSize bounds what Parse reads: a Dockerfile is a few kilobytes, and
// the file may be anything a stack file names.
const MaxSize = 1 << 20

// Options says which image of the Dockerfile to read.
type Options struct {
	// Target is the stage to build (Compose build.target); "" is the last.
	Target string
	// Args are the build arguments (Compose build.args); they win over the
	// defaults of ARG.
	Args map[string]string
	// Context is the build context. Parse only looks at whether a path in
	// it is a directory, to tell how COPY lays it out; nil: assume files.
	Context fs.FS
}

// Image is what the target stage's image would say.
type Image struct {
	// Entrypoint and Cmd are the image's, shell forms already wrapped in
	// the shell (/bin/sh -c unless SHELL says otherwise). A shell-form
	// ENTRYPOINT ignores CMD, as Docker's does, so Cmd is then nil.
	Entrypoint []string
	Cmd        []string
	// Healthcheck is nil when the Dockerfile has none; HEALTHCHECK NONE
	// is a Healthcheck whose Test is ["NONE"].
	Healthcheck *Healthcheck
	Env         []Var // in the order first set; ARG values are not here
	Ports       []int // EXPOSE, sorted, whatever the protocol
	StopSignal  string
	User        string
	WorkingDir  string // "" when no WORKDIR is set
	// Notes are the instructions a local program run in the build context
	// cannot honour, by line.
	Notes []Note
}

// Var is one ENV variable, with the line of the ENV that last set it.
type Var struct {
	Key, Value string
	Line       int
}

// Healthcheck is a HEALTHCHECK; zero durations and retries mean Docker's
// defaults, as in the image config.
type Healthcheck struct {
	Test          []string // ["CMD", argv...], ["CMD-SHELL", "command"] or ["NONE"]
	Interval      time.Duration
	Timeout       time.Duration
	StartPeriod   time.Duration
	StartInterval time.Duration
	Retries       int
}

// Note is an instruction that a local program does not honour, and why.
type Note struct {
	Line        int
	Instruction string // as written, on one line and shortened
	Why         string // follows Instruction in a sentence
}

func (n Note) String() string { return n.Instruction + " " + n.Why }

// Error is a Dockerfile that cannot be read, at the line buildkit names
// (0 when it names none).
type Error struct {
	Line   int
	Msg    string
	Target bool // the target stage is not in the file
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return e.Msg
}

// Parse reads a Dockerfile and returns the image of its target stage.
// Every error is an *Error.
func Parse(r io.Reader, opt Options) (*Image, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, &Error{Msg: err.Error()}
	}
	if len(data) > MaxSize {
		return nil, &Error{Msg: fmt.Sprintf("larger than %d bytes", MaxSize)}
	}
	res, err := parser.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, located(err)
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, located(err)
	}
	if len(stages) == 0 {
		return nil, &Error{Msg: "no FROM instruction"}
	}
	b := &builder{
		stages: stages,
		lex:    shell.NewLex(res.EscapeToken),
		args:   opt.Args,
		ctx:    opt.Context,
		done:   make([]*state, len(stages)),
	}
	if err := b.metaArgs(metaArgs); err != nil {
		return nil, err
	}
	target := len(stages) - 1
	if opt.Target != "" {
		i, ok := instructions.HasStage(stages, opt.Target)
		if !ok {
			return nil, &Error{Msg: fmt.Sprintf("target stage %q could not be found", opt.Target), Target: true}
		}
		target = i
	}
	st, err := b.eval(target)
	if err != nil {
		return nil, err
	}
	return b.image(target, st), nil
}

// located turns a buildkit error into an *Error at its first line.
func located(err error) *Error {
	e := &Error{Msg: err.Error()}
	var le *parser.LocationError
	if errors.As(err, &le) {
		if len(le.Locations) > 0 && len(le.Locations[0]) > 0 {
			e.Line = le.Locations[0][0].Start.Line
		}
		if inner := le.Unwrap(); inner != nil {
			e.Msg = inner.Error()
		}
	}
	// instructions.Parse says the line again in its message.
	if _, rest, ok := strings.Cut(e.Msg, fmt.Sprintf("dockerfile parse error on line %d: ", e.Line)); ok {
		e.Msg = rest
	}
	return e
}

// image assembles the result from the target's state and the notes of
// every stage its build needs.
func (b *builder) image(target int, st *state) *Image {
	img := &Image{
		Entrypoint:  st.entrypoint,
		Cmd:         st.cmd,
		Healthcheck: st.health,
		Env:         st.env,
		StopSignal:  st.stopSignal,
		User:        st.user,
		WorkingDir:  st.workdir,
	}
	if st.entrypointShell {
		img.Cmd = nil
	}
	for p := range st.ports {
		img.Ports = append(img.Ports, p)
	}
	slices.Sort(img.Ports)
	for _, i := range b.needed(target) {
		img.Notes = append(img.Notes, b.done[i].runs...)
	}
	img.Notes = append(img.Notes, st.layoutNotes(b.ctx)...)
	slices.SortStableFunc(img.Notes, func(a, b Note) int { return a.Line - b.Line })
	return img
}

// needed lists the stages building target runs: itself, the stages it is
// built FROM and those it copies from, as buildkit builds only those.
func (b *builder) needed(target int) []int {
	seen := map[int]bool{}
	var walk func(int)
	walk = func(i int) {
		if seen[i] || b.done[i] == nil {
			return
		}
		seen[i] = true
		if b.done[i].base >= 0 {
			walk(b.done[i].base)
		}
		for _, j := range b.done[i].froms {
			walk(j)
		}
	}
	walk(target)
	out := make([]int, 0, len(seen))
	for i := range seen {
		out = append(out, i)
	}
	slices.Sort(out)
	return out
}

// oneLine shortens an instruction as written for a message.
func oneLine(code string) string {
	code = strings.Join(strings.Fields(strings.ReplaceAll(code, "\\\n", " ")), " ")
	if r := []rune(code); len(r) > 72 {
		code = string(r[:69]) + "..."
	}
	return code
}

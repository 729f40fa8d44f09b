package dockerfile

import (
	"fmt"
	"io/fs"
	"path"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// builder follows the stages as buildkit's dispatcher does, keeping only
// the image config and what the notes need.
type builder struct {
	stages  []instructions.Stage
	lex     *shell.Lex
	args    map[string]string // build args
	globals []string          // meta ARGs (before the first FROM), KEY=value
	ctx     fs.FS
	done    []*state // by stage index, once evaluated
}

// state is a stage's image config so far.
type state struct {
	vars []string // what $VAR expands to: ENV and ARG values, KEY=value
	env  []Var

	entrypoint, cmd []string
	entrypointShell bool
	cmdShell        bool
	cmdSet          bool // this stage set CMD: a later ENTRYPOINT keeps it
	entrypointLine  int
	cmdLine         int
	health          *Healthcheck
	shell           []string
	ports           map[int]bool
	stopSignal      string
	user            string
	userLine        int
	workdir         string
	workdirLine     int

	copies []copyOp // COPY and ADD along the FROM chain
	runs   []Note   // this stage's RUNs
	base   int      // the stage this one is built FROM, or -1
	froms  []int    // the stages it copies from
}

type copyOp struct {
	line     int
	code     string
	from     string // --from, as given
	fromIdx  int    // its stage, or -1 for an image
	srcs     []string
	contents bool   // heredoc sources
	dest     string // absolute, cleaned
	destDir  bool   // dest names a directory (trailing slash, several sources)
}

// metaArgs evaluates the ARGs before the first FROM, over the platform
// arguments buildkit predefines.
func (b *builder) metaArgs(args []instructions.ArgCommand) error {
	platform := "linux/" + runtime.GOARCH
	b.globals = []string{
		"TARGETPLATFORM=" + platform, "TARGETOS=linux", "TARGETARCH=" + runtime.GOARCH, "TARGETVARIANT=",
		"BUILDPLATFORM=" + platform, "BUILDOS=linux", "BUILDARCH=" + runtime.GOARCH, "BUILDVARIANT=",
	}
	for _, c := range args {
		for _, kv := range c.Args {
			if v, ok := b.args[kv.Key]; ok {
				b.globals = setVar(b.globals, kv.Key, v)
				continue
			}
			if kv.Value == nil {
				continue
			}
			v, err := b.expand(*kv.Value, b.globals, &c)
			if err != nil {
				return err
			}
			b.globals = setVar(b.globals, kv.Key, v)
		}
	}
	return nil
}

// eval dispatches stage i, after the stage it is built FROM. A stage
// names only earlier ones (a later name is an image), so there is no cycle.
func (b *builder) eval(i int) (*state, error) {
	if b.done[i] != nil {
		return b.done[i], nil
	}
	st := b.stages[i]
	s := &state{base: -1, ports: map[int]bool{}}
	base, _, err := b.lex.ProcessWord(st.BaseName, shell.EnvsFromSlice(b.globals))
	if err != nil {
		return nil, &Error{Line: line(st.Location), Msg: err.Error()}
	}
	if j, ok := instructions.HasStage(b.stages[:i], base); ok {
		parent, err := b.eval(j)
		if err != nil {
			return nil, err
		}
		s = parent.inherit()
		s.base = j
	}
	for _, c := range st.Commands {
		if err := b.dispatch(s, c, i); err != nil {
			return nil, err
		}
	}
	b.done[i] = s
	return s, nil
}

// inherit starts a stage FROM this one: its image config, not what the
// stage itself did.
func (s *state) inherit() *state {
	c := *s
	c.vars = slices.Clone(s.vars)
	c.env = slices.Clone(s.env)
	c.ports = map[int]bool{}
	for p := range s.ports {
		c.ports[p] = true
	}
	c.copies = slices.Clone(s.copies)
	c.cmdSet, c.runs, c.froms = false, nil, nil
	return &c
}

func (b *builder) dispatch(s *state, c instructions.Command, stage int) error {
	ln := line(c.Location())
	// As buildkit does, every word-expanding instruction but ARG sees the
	// variables set so far.
	if ex, ok := c.(instructions.SupportsSingleWordExpansion); ok {
		if _, isArg := c.(*instructions.ArgCommand); !isArg {
			err := ex.Expand(func(word string) (string, error) { return b.expand(word, s.vars, c) })
			if err != nil {
				return err
			}
		}
	}
	switch c := c.(type) {
	case *instructions.EnvCommand:
		for _, kv := range c.Env {
			s.vars = setVar(s.vars, kv.Key, kv.Value)
			s.setEnv(Var{Key: kv.Key, Value: kv.Value, Line: ln})
		}
	case *instructions.ArgCommand:
		return b.arg(s, c)
	case *instructions.CmdCommand:
		s.cmd, s.cmdShell, s.cmdSet, s.cmdLine = commandLine(c.ShellDependantCmdLine, s.shell), c.PrependShell, true, ln
	case *instructions.EntrypointCommand:
		s.entrypoint, s.entrypointShell, s.entrypointLine = commandLine(c.ShellDependantCmdLine, s.shell), c.PrependShell, ln
		if !s.cmdSet {
			s.cmd, s.cmdShell = nil, false
		}
	case *instructions.HealthCheckCommand:
		s.health = healthcheck(c)
	case *instructions.ExposeCommand:
		return b.expose(s, c)
	case *instructions.ShellCommand:
		s.shell = slices.Clone(c.Shell)
	case *instructions.StopSignalCommand:
		s.stopSignal = c.Signal
	case *instructions.UserCommand:
		s.user, s.userLine = c.User, ln
	case *instructions.WorkdirCommand:
		s.workdir, s.workdirLine = resolve(s.workdir, c.Path), ln
	case *instructions.RunCommand:
		s.runs = append(s.runs, runNote(c, ln))
	case *instructions.CopyCommand:
		return b.copy(s, c, ln, stage, c.From, c.SourcePaths, len(c.SourceContents) > 0, c.DestPath)
	case *instructions.AddCommand:
		return b.copy(s, c, ln, stage, "", c.SourcePaths, len(c.SourceContents) > 0, c.DestPath)
	}
	return nil
}

// arg defines build arguments as buildkit's dispatchArg does: a build
// arg wins, then the default, then a meta ARG of the same name.
func (b *builder) arg(s *state, c *instructions.ArgCommand) error {
	for _, kv := range c.Args {
		if v, ok := b.args[kv.Key]; ok {
			s.vars = setVar(s.vars, kv.Key, v)
			continue
		}
		if kv.Value != nil {
			v, err := b.expand(*kv.Value, s.vars, c)
			if err != nil {
				return err
			}
			s.vars = setVar(s.vars, kv.Key, v)
			continue
		}
		if v, ok := shell.EnvsFromSlice(b.globals).Get(kv.Key); ok {
			s.vars = setVar(s.vars, kv.Key, v)
		}
	}
	return nil
}

// expose reads EXPOSE entries: 8000, 8000/tcp, 8000-8002/udp.
func (b *builder) expose(s *state, c *instructions.ExposeCommand) error {
	for _, p := range c.Ports {
		words, err := b.lex.ProcessWords(p, shell.EnvsFromSlice(s.vars))
		if err != nil {
			return &Error{Line: line(c.Location()), Msg: err.Error()}
		}
		for _, w := range words {
			lo, hi, ok := portRange(w)
			if !ok {
				return &Error{Line: line(c.Location()), Msg: fmt.Sprintf("EXPOSE %q: not a port or a port range", w)}
			}
			for port := lo; port <= hi; port++ {
				s.ports[port] = true
			}
		}
	}
	return nil
}

// portRange parses 8000, 8000/tcp or 8000-8002/udp.
func portRange(s string) (int, int, bool) {
	s, _, _ = strings.Cut(s, "/")
	a, z, isRange := strings.Cut(s, "-")
	lo, err := strconv.Atoi(a)
	if err != nil || lo < 1 || lo > 65535 {
		return 0, 0, false
	}
	if !isRange {
		return lo, lo, true
	}
	hi, err := strconv.Atoi(z)
	if err != nil || hi < lo || hi > 65535 {
		return 0, 0, false
	}
	return lo, hi, true
}

func (b *builder) copy(s *state, c instructions.Command, ln, stage int, from string, srcs []string, contents bool, dest string) error {
	op := copyOp{line: ln, code: code(c), from: from, fromIdx: -1, srcs: slices.Clone(srcs), contents: contents}
	op.destDir = strings.HasSuffix(dest, "/") || dest == "." || len(srcs) > 1
	op.dest = resolve(s.workdir, dest)
	if from != "" {
		name, _, err := b.lex.ProcessWord(from, shell.EnvsFromSlice(b.globals))
		if err != nil {
			return &Error{Line: ln, Msg: err.Error()}
		}
		j, ok := instructions.HasStage(b.stages[:stage], name)
		if n, err := strconv.Atoi(name); err == nil && n >= 0 && n < stage {
			j, ok = n, true
		}
		if ok {
			if _, err := b.eval(j); err != nil {
				return err
			}
			op.fromIdx = j
			s.froms = append(s.froms, j)
		}
	}
	s.copies = append(s.copies, op)
	return nil
}

func (b *builder) expand(word string, vars []string, c instructions.Command) (string, error) {
	v, _, err := b.lex.ProcessWord(word, shell.EnvsFromSlice(vars))
	if err != nil {
		return "", &Error{Line: line(c.Location()), Msg: err.Error()}
	}
	return v, nil
}

func (s *state) setEnv(v Var) {
	for i, e := range s.env {
		if shell.EqualEnvKeys(e.Key, v.Key) {
			s.env[i] = v
			return
		}
	}
	s.env = append(s.env, v)
}

// setVar sets key in a KEY=value list, replacing an earlier value.
func setVar(vars []string, key, value string) []string {
	for i, kv := range vars {
		if k, _, _ := strings.Cut(kv, "="); shell.EqualEnvKeys(k, key) {
			vars[i] = key + "=" + value
			return vars
		}
	}
	return append(vars, key+"="+value)
}

// commandLine is CMD or ENTRYPOINT as the image keeps it: the exec form
// as is, the shell form as one argument to the shell.
func commandLine(c instructions.ShellDependantCmdLine, sh []string) []string {
	if !c.PrependShell {
		return slices.Clone(c.CmdLine)
	}
	if len(sh) == 0 {
		sh = []string{"/bin/sh", "-c"}
	}
	return append(slices.Clone(sh), strings.Join(c.CmdLine, " "))
}

func healthcheck(c *instructions.HealthCheckCommand) *Healthcheck {
	h := c.Health
	return &Healthcheck{
		Test:          slices.Clone(h.Test),
		Interval:      h.Interval,
		Timeout:       h.Timeout,
		StartPeriod:   h.StartPeriod,
		StartInterval: h.StartInterval,
		Retries:       h.Retries,
	}
}

// resolve is WORKDIR's and COPY's destination rule: relative to the
// working directory, which starts at /.
func resolve(wd, p string) string {
	if wd == "" {
		wd = "/"
	}
	if path.IsAbs(p) {
		return path.Clean(p)
	}
	return path.Join(wd, p)
}

// line is where an instruction starts.
func line(loc []parser.Range) int {
	if len(loc) == 0 {
		return 0
	}
	return loc[0].Start.Line
}

// code is the instruction as written.
func code(c instructions.Command) string {
	if s, ok := c.(fmt.Stringer); ok {
		return s.String()
	}
	return c.Name()
}

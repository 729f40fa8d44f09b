package dockerfile

import (
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// What a RUN does, as far as its programs tell.
const (
	kindSystem = "system packages"
	kindPython = "Python packages"
	kindNode   = "Node packages"
	kindUsers  = "users or file owners"
)

var programKinds = map[string]string{
	"apt-get": kindSystem, "apt": kindSystem, "aptitude": kindSystem, "apk": kindSystem,
	"yum": kindSystem, "dnf": kindSystem, "microdnf": kindSystem, "zypper": kindSystem,
	"dpkg": kindSystem, "rpm": kindSystem, "pacman": kindSystem, "emerge": kindSystem,
	"pip": kindPython, "pip3": kindPython, "pipx": kindPython, "pipenv": kindPython,
	"poetry": kindPython, "uv": kindPython, "conda": kindPython, "mamba": kindPython,
	"micromamba": kindPython, "easy_install": kindPython,
	"useradd": kindUsers, "adduser": kindUsers, "groupadd": kindUsers, "addgroup": kindUsers,
	"usermod": kindUsers, "chown": kindUsers, "chgrp": kindUsers, "chmod": kindUsers,
}

// runNote says why a RUN is not run, and what it does as far as its
// programs tell: every RUN changes the image, and none of it happens when
// the service runs from its source tree.
func runNote(c *instructions.RunCommand, ln int) Note {
	script := strings.Join(c.CmdLine, " ")
	for _, f := range c.Files {
		script += "\n" + f.Data
	}
	kinds := runKinds(script)
	why := "is not run by the process runtime"
	if len(kinds) > 0 {
		why += " (it " + describe(kinds) + ")"
	}
	switch {
	case len(kinds) == 1 && kinds[0] == kindUsers:
		why += ": the service runs as the user that runs tandem, on the files as they are"
	case len(kinds) == 1 && kinds[0] == kindNode:
		why += ": run it in x-tandem.build, which runs in the build context before the service starts"
	case contains(kinds, kindSystem):
		why += ": install what it installs on this machine"
	case len(kinds) > 0:
		why += ": install what it installs on this machine, or run it in x-tandem.build"
	default:
		why += ": do what it does on this machine, or run it in x-tandem.build"
	}
	return Note{Line: ln, Instruction: oneLine(code(c)), Why: why}
}

// describe says what the kinds of a RUN do: "installs system packages
// and Python packages and changes users or file owners".
func describe(kinds []string) string {
	var installs []string
	changes := ""
	for _, k := range kinds {
		if k == kindUsers {
			changes = "changes " + k
		} else {
			installs = append(installs, k)
		}
	}
	if len(installs) == 0 {
		return changes
	}
	s := "installs " + joinList(installs)
	if changes != "" {
		s += ", and " + changes
	}
	return s
}

// runKinds names what the commands of a shell script do, in the order
// first seen.
func runKinds(script string) []string {
	for _, sep := range []string{"&&", "||", ";", "|", "(", ")", "`", "$("} {
		script = strings.ReplaceAll(script, sep, "\n")
	}
	var kinds []string
	for _, cmd := range strings.Split(script, "\n") {
		words := strings.Fields(cmd)
		// Skip what comes before the program: sudo, VAR=value, env.
		for len(words) > 0 && (words[0] == "sudo" || words[0] == "env" || words[0] == "exec" || strings.Contains(words[0], "=")) {
			words = words[1:]
		}
		if len(words) == 0 {
			continue
		}
		kind := programKinds[path.Base(words[0])]
		switch prog := path.Base(words[0]); {
		case strings.HasPrefix(prog, "python") && len(words) > 2 && words[1] == "-m" && (words[2] == "pip" || words[2] == "venv" || words[2] == "ensurepip"):
			kind = kindPython
		case prog == "npm" || prog == "yarn" || prog == "pnpm" || prog == "bun":
			if len(words) == 1 || words[1] == "install" || words[1] == "i" || words[1] == "ci" || words[1] == "add" {
				kind = kindNode
			}
		}
		if kind != "" && !contains(kinds, kind) {
			kinds = append(kinds, kind)
		}
	}
	return kinds
}

// layoutNotes are the final image's instructions that running in the
// build context does not honour: USER, a WORKDIR the build context is not
// copied to, COPY and ADD that put files where the context does not have
// them, and a command named by its path in the image.
func (s *state) layoutNotes(ctx fs.FS) []Note {
	var notes []Note
	w := s.workdir
	if w == "" {
		w = "/"
	}
	if s.user != "" && !isRoot(s.user) {
		notes = append(notes, Note{Line: s.userLine, Instruction: "USER " + s.user,
			Why: "is not honoured by the process runtime: the service runs as the user that runs tandem"})
	}
	mapped := false
	for _, op := range s.copies {
		if why := op.unhonoured(w, ctx); why != "" {
			notes = append(notes, Note{Line: op.line, Instruction: oneLine(op.code), Why: why})
		} else if op.dest == w || strings.HasPrefix(op.dest, strings.TrimSuffix(w, "/")+"/") {
			mapped = true
		}
	}
	if s.workdir != "" && !mapped {
		notes = append(notes, Note{Line: s.workdirLine, Instruction: "WORKDIR " + s.workdir,
			Why: "is a path in the image and no COPY puts the build context there: the process runtime runs the command in the build context"})
	}
	if mapped && w != "/" {
		notes = append(notes, commandPathNote("ENTRYPOINT", s.entrypoint, s.entrypointShell, s.entrypointLine, w)...)
		if !s.entrypointShell {
			notes = append(notes, commandPathNote("CMD", s.cmd, s.cmdShell, s.cmdLine, w)...)
		}
	}
	return notes
}

// unhonoured says why a COPY or ADD does not hold when the command runs in
// the build context, or "" when the context already has its files where
// it puts them (COPY . . into the WORKDIR, COPY package.json ./).
func (op copyOp) unhonoured(w string, ctx fs.FS) string {
	switch {
	case op.fromIdx >= 0:
		return fmt.Sprintf("copies from stage %q, which the process runtime does not build: what it copies must already be in the build context (x-tandem.build can make it)", op.from)
	case op.from != "":
		return fmt.Sprintf("copies from image %q, which the process runtime does not pull", op.from)
	case op.contents:
		return "writes a file the build context does not have: the process runtime runs the command with the build context as it is"
	}
	for _, src := range op.srcs {
		if strings.Contains(src, "://") || strings.HasPrefix(src, "git@") {
			return "downloads at build time, which the process runtime does not: the command runs with the build context as it is"
		}
		p := strings.TrimPrefix(path.Clean("/"+src), "/") // relative to the context; "" is all of it
		switch {
		case p == "" && op.dest == w:
		case p != "" && op.dest == path.Join(w, p):
		case p != "" && op.dest == w && !strings.Contains(p, "/") && !isDir(ctx, p):
		default:
			return fmt.Sprintf("puts files at %s, where the build context does not have them: the process runtime runs the command in the build context, with its files where they are", op.dest)
		}
	}
	return ""
}

// commandPathNote names a command whose program is a path in the image
// under the WORKDIR the build context is copied to.
func commandPathNote(what string, argv []string, shellForm bool, ln int, w string) []Note {
	if len(argv) == 0 {
		return nil
	}
	prog := argv[0]
	if shellForm {
		if f := strings.Fields(argv[len(argv)-1]); len(f) > 0 {
			prog = f[0]
		}
	}
	rel, ok := strings.CutPrefix(prog, strings.TrimSuffix(w, "/")+"/")
	if !ok || rel == "" {
		return nil
	}
	return []Note{{Line: ln, Instruction: what + " " + prog,
		Why: fmt.Sprintf("names a path in the image: the process runtime runs the command in the build context, where it is ./%s (name it so in the service's entrypoint: or command:, which Docker runs in the WORKDIR too)", rel)}}
}

func isRoot(user string) bool {
	name, _, _ := strings.Cut(user, ":")
	return name == "root" || name == "0"
}

func isDir(ctx fs.FS, p string) bool {
	if ctx == nil || !fs.ValidPath(p) {
		return false
	}
	fi, err := fs.Stat(ctx, p)
	return err == nil && fi.IsDir()
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// joinList writes a, b and c.
func joinList(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

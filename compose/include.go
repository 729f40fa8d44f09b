package compose

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/template"
	"go.yaml.in/yaml/v4"

	"github.com/tandem-dev/tandem"
)

// maxDepth bounds how deep include and extends lead.
const maxDepth = 16

// follower walks the files compose-go will read for include and extends
// before it reads them, as it resolves them: each must stay inside the
// project (strict), be a regular file and be small. compose-go would
// otherwise have read, parsed and quoted in its errors a file anywhere.
type follower struct {
	c     *confiner
	top   map[string][]byte // the Compose files given, by name as given
	seen  map[string]bool   // real paths followed
	depth int
}

// file walks one Compose file. workDir is what its relative include and
// extends paths are taken from; env interpolates them.
func (f *follower) file(name string, content []byte, workDir string, env map[string]string) {
	if f.depth > maxDepth {
		f.c.problem(f.at(name, ""), true, "include and extends lead more than %d files deep", maxDepth)
		return
	}
	dec := yaml.NewDecoder(bytes.NewReader(content))
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			return // EOF, or an error compose-go reports with its line
		}
		f.includes(name, doc["include"], workDir, env)
		services, _ := doc["services"].(map[string]any)
		for svc, v := range services {
			s, _ := v.(map[string]any)
			ext, _ := s["extends"].(map[string]any)
			if p, ok := ext["file"].(string); ok {
				f.extends(name, "services."+svc+".extends.file", p, workDir, env)
			}
		}
	}
}

// includes follows the entries of an include list: a path, or {path,
// project_directory, env_file}.
func (f *follower) includes(name string, v any, workDir string, env map[string]string) {
	list, _ := v.([]any)
	for i, item := range list {
		at := fmt.Sprintf("include.%d", i)
		var paths, envFiles []string
		projectDir := ""
		switch e := item.(type) {
		case string:
			paths = []string{e}
		case map[string]any:
			paths = stringList(e["path"])
			envFiles = stringList(e["env_file"])
			projectDir, _ = e["project_directory"].(string)
		}
		for k, p := range paths {
			if paths[k] = f.interpolate(name, at, p, env); paths[k] == "" {
				return
			}
			paths[k] = joinPath(workDir, paths[k])
		}
		if len(paths) == 0 {
			continue
		}
		if projectDir == "" {
			projectDir = filepath.Dir(paths[0])
		} else if projectDir = f.interpolate(name, at, projectDir, env); projectDir == "" {
			return
		} else {
			projectDir = joinPath(workDir, projectDir)
		}
		if len(envFiles) == 0 {
			if fi, err := os.Stat(filepath.Join(projectDir, ".env")); err == nil && !fi.IsDir() {
				envFiles = []string{filepath.Join(projectDir, ".env")}
			}
		}
		incEnv := env
		for k, e := range envFiles {
			if envFiles[k] = f.interpolate(name, at, e, env); envFiles[k] == "" {
				return
			}
			envFiles[k] = joinPath(workDir, envFiles[k])
			f.c.smallFile(f.at(name, at), "env_file of an include", envFiles[k])
		}
		if len(envFiles) > 0 && len(f.c.d.errs) == 0 {
			// The included files are interpolated with these too.
			if read, err := dotenv.GetEnvFromFile(env, envFiles); err == nil {
				incEnv = merged(env, read)
			}
		}
		for _, p := range paths {
			f.follow(name, at, "included file", p, projectDir, incEnv)
		}
	}
}

// extends follows the file of an extends.
func (f *follower) extends(name, at, p, workDir string, env map[string]string) {
	if p = f.interpolate(name, at, p, env); p == "" {
		return
	}
	p = joinPath(workDir, p)
	// Relative paths in an extended file are its own directory's.
	f.follow(name, at, "extended file", p, filepath.Dir(p), env)
}

// follow checks a file named at place at of name, then walks it.
func (f *follower) follow(name, at, what, path, workDir string, env map[string]string) {
	pos := f.at(name, at)
	if !f.c.check(pos, what, path, false) && f.c.strict {
		return
	}
	real, _, err := f.c.resolve(path)
	if err != nil || f.seen[real] {
		return // compose-go reports a cycle
	}
	f.seen[real] = true
	content, err := f.c.readFile(path, "it", MaxFileSize, f.c.strict)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			f.c.problem(pos, true, "%s %q: %v", what, f.c.shown(path), err)
		}
		return // a missing file is compose-go's to report
	}
	f.depth++
	f.file(path, content, workDir, env)
	f.depth--
}

// interpolate substitutes variables in a path as compose-go will. Where
// that cannot be known, strict, the path is refused.
func (f *follower) interpolate(name, at, p string, env map[string]string) string {
	if !strings.Contains(p, "$") {
		return p
	}
	s, err := template.Substitute(p, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		if f.c.strict {
			f.c.problem(f.at(name, at), true, "path %q: %v", p, err)
		}
		return "" // compose-go reports it
	}
	return s
}

// at is where a dotted path was written in a file: a line of a given
// Compose file, or the file that include or extends led to.
func (f *follower) at(name, path string) tandem.Pos {
	if _, ok := f.top[name]; ok {
		if pos, ok := f.c.d.ps.in(name, path); ok {
			return pos
		}
		return tandem.Pos{File: name}
	}
	return tandem.Pos{File: f.c.shown(name)}
}

func joinPath(dir, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

func stringList(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// merged is env with what read adds, as compose-go merges an include's
// env_file: a variable already set keeps its value.
func merged(env, read map[string]string) map[string]string {
	out := make(map[string]string, len(env)+len(read))
	for k, v := range read {
		out[k] = v
	}
	for k, v := range env {
		out[k] = v
	}
	return out
}

// dotEnvFile checks the .env beside the first Compose file, which compose-go
// reads for interpolation before anything else.
func (c *confiner) dotEnvFile(first string) {
	if v := os.Getenv("COMPOSE_DISABLE_ENV_FILE"); v == "1" || strings.EqualFold(v, "true") {
		return
	}
	dir, err := filepath.Abs(filepath.Dir(first))
	if err != nil {
		return
	}
	path := filepath.Join(dir, ".env")
	if _, err := os.Lstat(path); err != nil {
		return
	}
	c.smallFile(tandem.Pos{File: filepath.Join(filepath.Dir(first), ".env")}, ".env", path)
}

package compose

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/tandem-dev/tandem"
)

func invalid(pos tandem.Pos, format string, args ...any) *tandem.Error {
	msg := fmt.Sprintf(format, args...)
	if pos.File != "" {
		msg = pos.String() + ": " + msg
	}
	return &tandem.Error{Code: tandem.EINVALID, Message: msg}
}

var (
	// yaml.v4 marks a syntax error "line N, column M: " (libyaml's Mark);
	// the last one is where the parser stopped.
	yamlMark      = regexp.MustCompile(`line (\d+)(?:, column \d+)?: `)
	yamlLine      = regexp.MustCompile(`line (\d+)`)
	constructLine = regexp.MustCompile(`^line (\d+): `)
	// "failed to parse /abs/compose.yml: yaml: ..."
	failedToParse = regexp.MustCompile(`(?s)^failed to parse (.+?): (yaml: .*)$`)
)

// yamlError turns a YAML syntax error into "file:line: message".
func yamlError(file string, err error) *tandem.Error {
	pos, msg := yamlMessage(err.Error())
	pos.File = file
	return invalid(pos, "%s", msg)
}

// yamlMessage finds the line of a yaml.v4 error message and drops the
// marks that only repeat it.
func yamlMessage(msg string) (tandem.Pos, string) {
	var pos tandem.Pos
	msg = strings.TrimPrefix(msg, "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "construct errors:\n  "); ok {
		// "line 1: line 4: mapping key "image" already defined at line 3"
		msg, _, _ = strings.Cut(rest, "\n")
		for {
			m := constructLine.FindStringSubmatch(msg)
			if m == nil {
				break
			}
			pos.Line, _ = strconv.Atoi(m[1])
			msg = msg[len(m[0]):]
		}
		return pos, msg
	}
	if m := yamlMark.FindAllStringSubmatchIndex(msg, -1); len(m) > 0 {
		last := m[len(m)-1]
		pos.Line, _ = strconv.Atoi(msg[last[2]:last[3]])
		// A mark after "at" belongs to the context message: keep it.
		if !strings.HasSuffix(msg[:last[0]], "at ") {
			msg = msg[:last[0]] + msg[last[1]:]
		}
	} else if m := yamlLine.FindStringSubmatch(msg); m != nil {
		pos.Line, _ = strconv.Atoi(m[1])
	}
	return pos, strings.TrimSuffix(strings.TrimSpace(msg), ":")
}

var (
	// "validating /abs/compose.yml: services.api.ports must be a array"
	validating = regexp.MustCompile(`^validating (.+?): (.*)$`)
	// "additional properties 'foo', 'bar' not allowed"
	additional = regexp.MustCompile(`additional properties '([^']*)'`)
	// mapstructure: "'services[api].healthcheck.interval' time: invalid duration"
	quotedPath = regexp.MustCompile(`'([a-z_]+(?:\[[^\]]*\]|\.[A-Za-z0-9_-]+)*)'`)
	// "error while interpolating services.api.image: required variable ..."
	interpolating = regexp.MustCompile(`interpolating (\S+): `)
	nonStringKey  = regexp.MustCompile(`non-string key in (\S+):`)
	serviceName   = regexp.MustCompile(`service "([^"]+)"`)
	cycle         = regexp.MustCompile(`dependency cycle detected: ([^ ]+) ->`)
)

// dotenvError: "failed to read /abs/.env: line 3: unterminated quoted value"
var dotenvError = regexp.MustCompile(`^failed to read (.+?): line (\d+): (.*)$`)

// optionsError reports a bad project name or a bad .env file.
func optionsError(err error) error {
	m := dotenvError.FindStringSubmatch(err.Error())
	if m == nil {
		return &tandem.Error{Code: tandem.EINVALID, Message: err.Error()}
	}
	line, _ := strconv.Atoi(m[2])
	return invalid(tandem.Pos{File: relative(m[1]), Line: line}, "%s", m[3])
}

// relative names an absolute path as the user would, from the working
// directory, when it lies below it.
func relative(abs string) string {
	wd, err := os.Getwd()
	if err != nil {
		return abs
	}
	rel, err := filepath.Rel(wd, abs)
	if err != nil || strings.HasPrefix(rel, "..") {
		return abs
	}
	return rel
}

// loadError turns an error of compose-go into a *tandem.Error whose message
// starts with "file:line:" wherever the error names something the positions
// know. abs maps compose-go's absolute file names to the names as given.
func loadError(err error, files []string, abs map[string]string, ps *positions) error {
	// Name the compose files as given, and other files (env_file, extends)
	// from the working directory, as the user would.
	var names []string
	for a, given := range abs {
		names = append(names, a, given)
	}
	if wd, err := os.Getwd(); err == nil && wd != "/" {
		names = append(names, wd+string(filepath.Separator), "")
	}
	msg := strings.NewReplacer(names...).Replace(err.Error())
	file, path := "", ""
	switch {
	case failedToParse.MatchString(msg):
		m := failedToParse.FindStringSubmatch(msg)
		pos, rest := yamlMessage(m[2])
		pos.File = m[1]
		return invalid(pos, "%s", rest)
	case validating.MatchString(msg):
		m := validating.FindStringSubmatch(msg)
		file, msg = m[1], m[2]
		msg, path = schemaMessage(msg)
	case interpolating.MatchString(msg):
		path = interpolating.FindStringSubmatch(msg)[1]
		// Each file is interpolated on its own, first file first: the first
		// one that writes path is the one that failed.
		for _, f := range files {
			if _, ok := ps.byFile[f][path]; ok {
				file = f
				break
			}
		}
	case nonStringKey.MatchString(msg):
		path = nonStringKey.FindStringSubmatch(msg)[1]
	case strings.HasPrefix(msg, "decoding failed") && quotedPath.MatchString(msg):
		loc := quotedPath.FindStringSubmatchIndex(msg)
		path = strings.NewReplacer("[", ".", "]", "").Replace(msg[loc[2]:loc[3]])
		rest := strings.TrimSpace(msg[loc[1]:])
		rest = strings.TrimPrefix(rest, "time: ") // time.ParseDuration's prefix
		msg = path + ": " + rest
	case cycle.MatchString(msg):
		path = "services." + cycle.FindStringSubmatch(msg)[1] + ".depends_on"
	case serviceName.MatchString(msg):
		path = "services." + serviceName.FindStringSubmatch(msg)[1]
		switch {
		case strings.Contains(msg, "depends on"):
			path += ".depends_on"
		case strings.Contains(msg, "extend"):
			path += ".extends"
		}
	}
	msg = strings.TrimSuffix(msg, ": invalid compose project")
	pos, ok := tandem.Pos{}, false
	if path != "" {
		pos, ok = ps.in(file, path)
	}
	if !ok {
		pos = tandem.Pos{File: file}
		if file == "" && len(files) > 0 {
			pos.File = files[0]
		}
	}
	// The message is the whole story: a cause would only repeat it.
	return &tandem.Error{Code: tandem.EINVALID, Message: pos.String() + ": " + msg}
}

// schemaMessage rewrites a JSON schema message of compose-go into one that
// names the offending key, and returns the path it is about.
func schemaMessage(msg string) (string, string) {
	path, rest, _ := strings.Cut(msg, " ")
	if m := additional.FindStringSubmatch(rest); m != nil {
		key := join(path, m[1])
		return unknownKey(m[1], path), key
	}
	if rest == "false schema" {
		// The schema forbids the key itself: "services.api.foo false schema".
		parent, key := path, path
		if i := strings.LastIndexByte(path, '.'); i >= 0 {
			parent, key = path[:i], path[i+1:]
		}
		return unknownKey(key, parent), path
	}
	return msg, path
}

func unknownKey(key, parent string) string {
	where := "at the top level"
	if parent != "" {
		where = "in " + parent
	}
	msg := fmt.Sprintf("unknown key %q %s", key, where)
	if s := closest(key, schemaKeys(parent)); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	return msg
}

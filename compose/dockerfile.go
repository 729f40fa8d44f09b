package compose

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/dockerfile"
)

// fromDockerfile gives a service with a build context and no command what
// the image built from its Dockerfile would run, as docker compose runs
// it: the ENTRYPOINT and CMD, the HEALTHCHECK where Compose has none, the
// ENV under Compose's environment, the EXPOSEd ports and the STOPSIGNAL.
// Only such services read their Dockerfile: one whose command Compose
// gives runs that command, with nothing from the image.
func (d *decoder) fromDockerfile(s types.ServiceConfig, svc *tandem.Service) {
	if s.Build == nil || !filepath.IsAbs(svc.Context) || s.Entrypoint != nil || s.Command != nil ||
		svc.TandemCommand != nil || isPostgres(s.Image) {
		return
	}
	img, at, ok := d.readDockerfile(s, svc)
	if !ok {
		return
	}
	svc.Entrypoint, svc.Command = img.Entrypoint, img.Cmd
	svc.Healthcheck = healthcheck(withImageHealth(s.HealthCheck, img.Healthcheck))
	if s.StopSignal == "" && img.StopSignal != "" {
		svc.StopSignal = img.StopSignal
	}
	for _, p := range img.Ports {
		if !slices.Contains(svc.Ports, p) {
			svc.Ports = append(svc.Ports, p)
		}
	}
	slices.Sort(svc.Ports)
	for _, v := range img.Env {
		if _, set := svc.Environment[v.Key]; set {
			continue // Compose wins
		}
		if why := imageOnly(v.Key, v.Value); why != "" {
			svc.Unhonoured = append(svc.Unhonoured, tandem.Problem{Pos: at(v.Line), Severity: tandem.SeverityWarning,
				Message: "ENV " + why})
			continue
		}
		svc.Environment[v.Key] = v.Value
	}
	for _, n := range img.Notes {
		svc.Unhonoured = append(svc.Unhonoured, tandem.Problem{Pos: at(n.Line), Severity: tandem.SeverityWarning, Message: n.String()})
	}
	slices.SortStableFunc(svc.Unhonoured, func(a, b tandem.Problem) int { return a.Pos.Line - b.Pos.Line })
}

// imageOnly says which ENV variable is left out of the environment, and
// why, or "" to keep it. The image's PATH and values that are absolute
// paths name places in the image, which mean nothing here, or worse,
// something else (ENV STATIC_ROOT=/app/static would have collectstatic
// write to /app on this machine).
func imageOnly(key, value string) string {
	if key == "PATH" {
		return "PATH is the image's: the service runs with this machine's PATH"
	}
	abs := strings.HasPrefix(value, "/")
	if strings.HasSuffix(key, "PATH") {
		for _, e := range strings.Split(value, ":") {
			abs = abs || strings.HasPrefix(e, "/")
		}
	}
	if abs {
		return fmt.Sprintf("%s=%s names a path in the image: tandem leaves it out of the service's environment (set it under environment: if this machine needs it)", key, shorten(value))
	}
	return ""
}

// readDockerfile reads and parses the service's Dockerfile: build.dockerfile
// relative to the context (default Dockerfile), or build.dockerfile_inline.
// at maps the Dockerfile's lines to places to report. A problem is
// recorded, and ok is false.
func (d *decoder) readDockerfile(s types.ServiceConfig, svc *tandem.Service) (img *dockerfile.Image, at func(int) tandem.Pos, ok bool) {
	build := "services." + s.Name + ".build"
	var src []byte
	if s.Build.DockerfileInline != "" {
		key, _ := d.ps.in("", build+".dockerfile_inline")
		src, at, svc.Dockerfile = []byte(s.Build.DockerfileInline), inlineLines(key), "dockerfile_inline"
	} else {
		name := s.Build.Dockerfile
		if name == "" {
			name = "Dockerfile"
		}
		path := name
		if !filepath.IsAbs(path) {
			path = filepath.Join(svc.Context, name)
		}
		shown := d.shown(path)
		var err error
		if src, err = d.readFile(path, svc.Context); err != nil {
			// Without a Dockerfile of the default name, the service has
			// no command, which the runtime's check reports.
			if _, named := d.ps.merged[build+".dockerfile"]; !named && errors.Is(err, fs.ErrNotExist) {
				return nil, nil, false
			}
			d.fail(build+".dockerfile", "service %q has no command, and its Dockerfile %s cannot be read: %v", s.Name, shown, err)
			return nil, nil, false
		}
		at, svc.Dockerfile = func(n int) tandem.Pos { return tandem.Pos{File: shown, Line: n} }, shown
	}
	// The context is looked at through an os.Root: a symlink in it cannot
	// make tandem look outside (os.DirFS would follow it).
	opts := dockerfile.Options{Target: s.Build.Target, Args: buildArgs(s.Build.Args)}
	if root, err := os.OpenRoot(svc.Context); err == nil {
		defer root.Close()
		opts.Context = root.FS()
	}
	img, err := dockerfile.Parse(bytes.NewReader(src), opts)
	var e *dockerfile.Error
	switch {
	case errors.As(err, &e) && e.Target:
		d.fail(build+".target", "service %q: %s in %s", s.Name, e.Msg, svc.Dockerfile)
		return nil, nil, false
	case errors.As(err, &e):
		d.errs = append(d.errs, tandem.Problem{Pos: at(e.Line), Message: fmt.Sprintf("service %q: %s", s.Name, e.Msg)})
		return nil, nil, false
	case err != nil:
		d.fail(build, "service %q: %s: %v", s.Name, svc.Dockerfile, err)
		return nil, nil, false
	}
	return img, at, true
}

// readFile reads a Dockerfile that lies in the build context or the
// project directory, as a stack file from a pull request could otherwise
// have tandem read, and quote in its errors, any file on the machine.
func (d *decoder) readFile(path, context string) ([]byte, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, pathless(err)
	}
	roots := []string{context}
	if len(d.files) > 0 {
		if dir, err := filepath.Abs(filepath.Dir(d.files[0])); err == nil {
			roots = append(roots, dir)
		}
	}
	inside := false
	for _, root := range roots {
		if r, err := filepath.EvalSymlinks(root); err == nil {
			rel, err := filepath.Rel(r, real)
			inside = inside || err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
		}
	}
	if !inside {
		return nil, fmt.Errorf("it is outside the build context and the project directory")
	}
	// A FIFO or a device would block or never end.
	if fi, err := os.Stat(real); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file")
	}
	f, err := os.Open(real)
	if err != nil {
		return nil, pathless(err)
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, dockerfile.MaxSize+1))
}

// shown names a file as messages do: by the way the first Compose file
// was named ("app/Dockerfile" next to "compose.yml"), else absolutely.
func (d *decoder) shown(path string) string {
	if len(d.files) == 0 {
		return path
	}
	dir, err := filepath.Abs(filepath.Dir(d.files[0]))
	if err != nil {
		return path
	}
	rel, err := filepath.Rel(dir, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return path
	}
	return filepath.Join(filepath.Dir(d.files[0]), rel)
}

// inlineLines maps the lines of a dockerfile_inline to the Compose file:
// a block scalar (dockerfile_inline: |) starts on the line after the key;
// any other form is reported at the key.
func inlineLines(key tandem.Pos) func(int) tandem.Pos {
	block := false
	if data, err := os.ReadFile(key.File); err == nil && key.Line > 0 {
		if lines := bytes.Split(data, []byte("\n")); key.Line <= len(lines) {
			_, after, ok := bytes.Cut(lines[key.Line-1], []byte(":"))
			after = bytes.TrimSpace(after)
			block = ok && len(after) > 0 && (after[0] == '|' || after[0] == '>')
		}
	}
	return func(n int) tandem.Pos {
		if block && n > 0 {
			return tandem.Pos{File: key.File, Line: key.Line + n}
		}
		return key
	}
}

// buildArgs are Compose build.args; one without a value that nothing
// sets is not passed, as docker compose leaves it out.
func buildArgs(m types.MappingWithEquals) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

// withImageHealth merges the image's HEALTHCHECK under Compose's, field
// by field, as the Docker daemon merges a container's config over its
// image's: a Compose healthcheck that sets only interval keeps the
// image's test.
func withImageHealth(c *types.HealthCheckConfig, img *dockerfile.Healthcheck) *types.HealthCheckConfig {
	if img == nil {
		return c
	}
	var m types.HealthCheckConfig
	if c != nil {
		m = *c
	}
	if len(m.Test) == 0 {
		m.Test = types.HealthCheckTest(slices.Clone(img.Test))
	}
	m.Interval = orImage(m.Interval, img.Interval)
	m.Timeout = orImage(m.Timeout, img.Timeout)
	m.StartPeriod = orImage(m.StartPeriod, img.StartPeriod)
	m.StartInterval = orImage(m.StartInterval, img.StartInterval)
	if (m.Retries == nil || *m.Retries == 0) && img.Retries > 0 {
		r := uint64(img.Retries)
		m.Retries = &r
	}
	return &m
}

func orImage(d *types.Duration, img time.Duration) *types.Duration {
	if (d == nil || *d == 0) && img != 0 {
		v := types.Duration(img)
		return &v
	}
	return d
}

func shorten(s string) string {
	if r := []rune(s); len(r) > 60 {
		return string(r[:57]) + "..."
	}
	return s
}

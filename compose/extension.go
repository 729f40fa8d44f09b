package compose

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/tandem-dev/tandem"
)

// Extension is the name of tandem's Compose extension, top-level and per service.
const Extension = "x-tandem"

var (
	stackKeys   = []string{"preview", "review", "routes"}
	routeKeys   = []string{"error_page", "errors", "path", "strip_prefix", "to"}
	previewKeys = []string{"access", "domain", "secrets", "ttl"}
	serviceKeys = []string{"build", "command", "seed"}

	varName     = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)
	serviceLike = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)
)

// stack decodes the top-level x-tandem block into st.
func (d *decoder) stack(v any, st *tandem.Stack) {
	m, ok := d.mapping(v, Extension, Extension, stackKeys)
	if !ok {
		return
	}
	if r, ok := m["routes"]; ok && r != nil {
		list, ok := r.([]any)
		if !ok {
			d.fail(Extension+".routes", "%s.routes must be a list, not %s", Extension, typeName(r))
		}
		for i, item := range list {
			if route, ok := d.route(item, fmt.Sprintf("%s.routes.%d", Extension, i), st.Dir); ok {
				st.Routes = append(st.Routes, route)
			}
		}
	}
	if p, ok := m["preview"]; ok {
		st.Preview = d.preview(p, Extension+".preview")
	}
	if r, ok := m["review"]; ok {
		st.Review = d.review(r, Extension+".review", Extension+".review")
		st.Review.Source = Extension + ".review"
	}
}

func (d *decoder) route(v any, path, dir string) (tandem.Route, bool) {
	r := tandem.Route{Errors: tandem.ErrorsHTML}
	r.Pos, _ = d.ps.in("", path)
	n := len(d.errs)
	m, ok := d.mapping(v, path, "route", routeKeys)
	if !ok {
		return r, false
	}
	switch p, ok := m["path"]; {
	case !ok:
		d.fail(path, "route has no path")
	default:
		if s, ok := d.str(p, path+".path", "route path"); ok {
			if !strings.HasPrefix(s, "/") {
				d.fail(path+".path", "route path %q must start with \"/\"", s)
			}
			r.Path = s
		}
	}
	switch to, ok := m["to"]; {
	case !ok:
		d.fail(path, "route has no \"to\" (service:port)")
	default:
		if s, ok := d.str(to, path+".to", "route to"); ok {
			r.Service, r.Port = d.target(s, path+".to")
		}
	}
	if v, ok := m["strip_prefix"]; ok {
		r.StripPrefix = d.boolean(v, path+".strip_prefix", "route strip_prefix")
	}
	if v, ok := m["errors"]; ok {
		if s, ok := d.str(v, path+".errors", "route errors"); ok {
			switch f := tandem.ErrorFormat(s); f {
			case tandem.ErrorsHTML, tandem.ErrorsJSON:
				r.Errors = f
			default:
				d.fail(path+".errors", "route errors must be %q or %q, not %q", tandem.ErrorsHTML, tandem.ErrorsJSON, s)
			}
		}
	}
	if v, ok := m["error_page"]; ok {
		if s, ok := d.str(v, path+".error_page", "route error_page"); ok {
			switch {
			case s == "":
				d.fail(path+".error_page", "route error_page is empty")
			case filepath.IsAbs(s):
				r.ErrorPage = s
			default:
				r.ErrorPage = filepath.Join(dir, s)
			}
		}
	}
	return r, len(d.errs) == n
}

// target splits "service:port".
func (d *decoder) target(s, path string) (string, int) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		d.fail(path, "route to %q needs a port: \"%s:PORT\"", s, s)
		return "", 0
	}
	svc, port := s[:i], s[i+1:]
	if !serviceLike.MatchString(svc) {
		d.fail(path, "route to %q must be \"service:port\"", s)
		return "", 0
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		d.fail(path, "route to %q: port %q must be a number from 1 to 65535", s, port)
		return "", 0
	}
	return svc, n
}

func (d *decoder) preview(v any, path string) tandem.PreviewSettings {
	var p tandem.PreviewSettings
	m, ok := d.mapping(v, path, path, previewKeys)
	if !ok {
		return p
	}
	if v, ok := m["domain"]; ok {
		if s, ok := d.str(v, path+".domain", "preview domain"); ok {
			if strings.Contains(s, "/") || strings.TrimSpace(s) != s {
				d.fail(path+".domain", "preview domain %q must be a host name, like previews.example.com", s)
			}
			p.Domain = strings.TrimPrefix(s, ".")
		}
	}
	if v, ok := m["ttl"]; ok {
		if s, ok := d.str(v, path+".ttl", "preview ttl"); ok {
			var dur types.Duration
			if err := dur.DecodeMapstructure(s); err != nil || dur < 0 {
				d.fail(path+".ttl", "preview ttl %q is not a duration, like \"72h\"", s)
			}
			p.TTL = time.Duration(dur)
		}
	}
	if v, ok := m["access"]; ok {
		if s, ok := d.str(v, path+".access", "preview access"); ok {
			a, err := tandem.ParsePreviewAccess(s)
			if err != nil || a == "" {
				d.fail(path+".access", "preview access must be private or public, not %q", s)
			}
			p.Access = a
		}
	}
	if v, ok := m["secrets"]; ok && v != nil {
		list, ok := v.([]any)
		if !ok {
			d.fail(path+".secrets", "preview secrets must be a list of variable names, not %s", typeName(v))
		}
		reserved := tandem.Vars{}.Env()
		for i, e := range list {
			at := fmt.Sprintf("%s.secrets.%d", path, i)
			s, ok := d.str(e, at, "preview secret")
			switch {
			case !ok:
			case !varName.MatchString(s):
				d.fail(at, "preview secret %q is not a variable name ([A-Z_][A-Z0-9_]*)", s)
			case hasKey(reserved, s):
				d.fail(at, "preview secret %q is a variable tandem sets itself", s)
			case !slices.Contains(p.Secrets, s):
				p.Secrets = append(p.Secrets, s)
			}
		}
	}
	return p
}

// service decodes a service's x-tandem block into svc.
func (d *decoder) service(v any, svc *tandem.Service) {
	path := "services." + svc.Name + "." + Extension
	what := fmt.Sprintf("%s of service %q", Extension, svc.Name)
	m, ok := d.mapping(v, path, what, serviceKeys)
	if !ok {
		return
	}
	if v, ok := m["build"]; ok {
		d.build(v, path+".build", what+": build", svc)
	}
	if v, ok := m["seed"]; ok {
		one := func(s string) ([]string, error) { return []string{s}, nil }
		if list, ok := d.strings(v, path+".seed", what+": seed", one); ok {
			svc.Seed = list
		}
	}
	if v, ok := m["command"]; ok {
		if argv, ok := d.strings(v, path+".command", what+": command", splitCommand); ok {
			if len(argv) == 0 {
				d.fail(path+".command", "%s: command is empty", what)
			}
			svc.TandemCommand = argv
		}
	}
}

// buildKeys are the keys of the long form of x-tandem.build.
var buildKeys = []string{"run", "env"}

// build decodes x-tandem.build: a shell command, or {run: command, env:
// [names of the variables the build reads beyond those it inlines]}.
func (d *decoder) build(v any, path, what string, svc *tandem.Service) {
	if _, ok := v.(string); ok {
		svc.Build, _ = d.str(v, path, what)
		return
	}
	m, ok := d.mapping(v, path, what, buildKeys)
	if !ok {
		return
	}
	run, ok := m["run"]
	if !ok {
		d.fail(path, "%s: run is missing: the command that builds the service", what)
		return
	}
	svc.Build, _ = d.str(run, path+".run", what+" run")
	if env, ok := m["env"]; ok {
		one := func(s string) ([]string, error) { return []string{s}, nil }
		names, _ := d.strings(env, path+".env", what+" env", one)
		for i, n := range names {
			if !varName.MatchString(n) {
				d.fail(fmt.Sprintf("%s.env.%d", path, i), "%s env: %q is not a variable name ([A-Z_][A-Z0-9_]*)", what, n)
			}
		}
		svc.BuildEnv = names
	}
}

// splitCommand splits a command string as Compose splits `command:`.
func splitCommand(s string) ([]string, error) {
	var c types.ShellCommand
	if err := c.DecodeMapstructure(s); err != nil {
		return nil, err
	}
	return c, nil
}

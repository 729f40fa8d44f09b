package compose

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandem-dev/tandem"
	"go.yaml.in/yaml/v4"
)

func FuzzLoad(f *testing.F) {
	for _, seed := range []string{
		productStack,
		baseFile,
		withXTandem("  routes:", "    - {path: /api/, to: api:8000, strip_prefix: true}"),
		lines("x-a: &a", "  image: x", "services:", "  api:", "    <<: *a", "    depends_on: [db]", "  db:", "    image: postgres"),
		lines("services:", "  api:", "    image: ${IMAGE:?no image}"),
		lines("services:", "  api:", "    image: x", "    healthcheck:", "      test: [NONE]", "    expose: [\"1-3\"]"),
		"services: [",
		"",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, content string) {
		dir := t.TempDir()
		file := filepath.Join(dir, "compose.yml")
		if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		st, err := Load(context.Background(), Options{Files: []string{file}, ProjectName: "fuzz"})
		if err != nil {
			var te *tandem.Error
			if !errors.As(err, &te) || te.Code != tandem.EINVALID {
				t.Fatalf("error %v is not EINVALID", err)
			}
			return
		}
		for _, r := range st.Routes {
			checkRoute(t, r)
		}
	})
}

func FuzzRoute(f *testing.F) {
	for _, seed := range []string{
		"{path: /api/, to: api:8000, strip_prefix: true, errors: json}",
		"{path: /, to: web:3000, error_page: errors/502.html}",
		"{path: /auth/callback/, to: api:8000}",
		"path: /x/\nto: a.b-c_d:1\nstrip_prefix: \"false\"",
		"{path: api, to: api}",
		"{path: /, to: ':80'}",
		"{path: /, to: api:99999}",
		"{path: /, to: api:-1}",
		"{path: /, to: 'http://api:80'}",
		"{stripprefix: true}",
		"{path: [/], to: {a: b}, errors: 1}",
		"- /api/",
		"~",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, item string) {
		var v any
		if err := yaml.Unmarshal([]byte(item), &v); err != nil {
			return
		}
		d := &decoder{ps: newPositions(), files: []string{"compose.yml"}}
		r, ok := d.route(v, "x-tandem.routes.0", "/stack")
		if ok != (len(d.errs) == 0) {
			t.Fatalf("ok = %v with problems %v", ok, d.errs)
		}
		for _, p := range d.errs {
			if p.Message == "" || strings.Contains(p.Message, "\n") {
				t.Fatalf("bad problem message %q", p.Message)
			}
		}
		if ok {
			checkRoute(t, r)
		}
	})
}

// checkRoute checks what every loaded route promises.
func checkRoute(t *testing.T, r tandem.Route) {
	t.Helper()
	if !strings.HasPrefix(r.Path, "/") || r.Service == "" || r.Port < 1 || r.Port > 65535 ||
		(r.Errors != tandem.ErrorsHTML && r.Errors != tandem.ErrorsJSON) ||
		(r.ErrorPage != "" && !filepath.IsAbs(r.ErrorPage)) {
		t.Fatalf("bad route %+v", r)
	}
}

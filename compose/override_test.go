package compose

import (
	"reflect"
	"testing"

	"github.com/tandem-dev/tandem"
)

const baseFile = `x-tandem:
  routes:
    - {path: /api/, to: api:8000}
    - {path: /, to: web:3000}
  preview: {domain: previews.example.com, ttl: 24h}
services:
  api:
    image: api:dev
    environment: {MODE: dev, DEBUG: "1"}
  web:
    image: web:dev
`

func TestLoadOverride(t *testing.T) {
	stackDir(t, map[string]string{
		"compose.yml": baseFile,
		"prod.yml": lines(
			"services:",
			"  api:",
			"    image: api:prod",
			"    environment: {MODE: prod}",
			"x-tandem:",
			"  routes:",
			"    - {path: /api/, to: api:8000}",
			"    - {path: /admin/, to: api:8000}",
			"  preview: {ttl: 72h}",
		),
	})
	st := mustLoad(t, Options{Files: []string{"compose.yml", "prod.yml"}})

	api := st.Service("api")
	if api.Image != "api:prod" || !reflect.DeepEqual(api.Environment, map[string]string{"MODE": "prod", "DEBUG": "1"}) {
		t.Errorf("api: image %q, environment %v", api.Image, api.Environment)
	}
	// Compose appends lists across files, leaving out repeated items.
	var got []string
	for _, r := range st.Routes {
		got = append(got, r.Path+" "+r.Pos.String())
	}
	want := []string{"/api/ compose.yml:3", "/ compose.yml:4", "/admin/ prod.yml:8"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("routes = %q, want %q", got, want)
	}
	if st.Preview.Domain != "previews.example.com" || st.Preview.TTL.Hours() != 72 {
		t.Errorf("Preview = %+v", st.Preview)
	}
	for path, pos := range map[string]tandem.Pos{
		"services.api.image":   {File: "prod.yml", Line: 3},
		"services.web.image":   {File: "compose.yml", Line: 11},
		"x-tandem.preview.ttl": {File: "prod.yml", Line: 9},
		"x-tandem.routes.2.to": {File: "prod.yml", Line: 8},
	} {
		if st.Pos[path] != pos {
			t.Errorf("Pos[%q] = %v, want %v", path, st.Pos[path], pos)
		}
	}
}

// !override replaces a list instead of appending to it.
func TestLoadOverrideTag(t *testing.T) {
	stackDir(t, map[string]string{
		"compose.yml": baseFile,
		"local.yml": lines(
			"x-tandem:",
			"  routes: !override",
			"    - {path: /, to: web:3000}",
		),
	})
	st := mustLoad(t, Options{Files: []string{"compose.yml", "local.yml"}})
	want := []tandem.Route{{Path: "/", Service: "web", Port: 3000, Errors: tandem.ErrorsHTML, Pos: tandem.Pos{File: "local.yml", Line: 3}}}
	if !reflect.DeepEqual(st.Routes, want) {
		t.Errorf("Routes = %+v, want %+v", st.Routes, want)
	}
}

// A schema error in the second file names that file's line.
func TestLoadOverrideSchemaError(t *testing.T) {
	stackDir(t, map[string]string{
		"compose.yml": baseFile,
		"bad.yml":     lines("services:", "  web:", "    ports: {http: 80}"),
	})
	_, err := load(t, Options{Files: []string{"compose.yml", "bad.yml"}})
	wantError(t, err, "bad.yml:3: services.web.ports must be a array")
}

// Keys brought in by a YAML merge key are positioned where they are written.
func TestLoadMergeKeyPositions(t *testing.T) {
	stackDir(t, map[string]string{"compose.yml": lines(
		"x-common: &common",
		"  image: base",
		"  restart: always",
		"services:",
		"  api:",
		"    <<: *common",
		"    image: api",
	)})
	st := mustLoad(t, Options{})
	if api := st.Service("api"); api.Image != "api" || api.Restart != tandem.RestartAlways {
		t.Errorf("api = %+v", api)
	}
	for path, line := range map[string]int{"services.api.image": 7, "services.api.restart": 3} {
		if got := st.Pos[path].Line; got != line {
			t.Errorf("Pos[%q] line %d, want %d", path, got, line)
		}
	}
}

package compose

import "testing"

// Errors of YAML, the Compose schema and compose-go's checks name the file
// and, where the positions know it, the line.
func TestLoadComposeErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		want string
	}{
		{
			name: "yaml syntax",
			file: lines("services:", "  api:", "    image: x", "  foo: bar: baz"),
			want: "compose.yml:4: mapping values are not allowed in this context",
		},
		{
			name: "yaml syntax with context",
			file: lines("services:", "  api:", "    image: x", "   bad: [", ""),
			want: "compose.yml:3: while parsing a block mapping at line 1, column 3: did not find expected key",
		},
		{
			name: "yaml context mark",
			file: lines("services:", "\tapi:"),
			want: "compose.yml:2: while scanning for the next token at line 2: found character that cannot start any token",
		},
		{
			name: "yaml unterminated quote",
			file: lines("services:", "  api:", "    image: \"x"),
			want: "compose.yml:4: while scanning a quoted scalar at line 3, column 12: found unexpected end of stream",
		},
		{
			name: "duplicate key",
			file: lines("services:", "  api:", "    image: x", "    image: y"),
			want: `compose.yml:4: mapping key "image" already defined at line 3`,
		},
		{
			name: "unknown anchor",
			file: lines("services:", "  api:", "    <<: *common"),
			want: "compose.yml:3: unknown anchor 'common' referenced",
		},
		{
			name: "second document not a mapping",
			file: lines("services:", "  api:", "    image: x", "---", "hello"),
			want: "compose.yml:5: top-level object must be a mapping",
		},
		{
			name: "not a mapping",
			file: lines("hello"),
			want: "compose.yml:1: top-level object must be a mapping",
		},
		{
			name: "empty",
			file: "",
			want: "compose.yml: empty compose file",
		},
		{
			name: "unknown service key",
			file: lines("services:", "  api:", "    image: x", "    prots: [80]"),
			want: `compose.yml:4: unknown key "prots" in services.api; did you mean "ports"?`,
		},
		{
			name: "unknown top-level key",
			file: lines("name: shop", "servics:", "  api:", "    image: x"),
			want: `compose.yml:2: unknown key "servics" at the top level; did you mean "services"?`,
		},
		{
			name: "unknown healthcheck key",
			file: lines("services:", "  api:", "    image: x", "    healthcheck:", "      test: [CMD, ok]", "      intervall: 5s"),
			want: `compose.yml:6: unknown key "intervall" in services.api.healthcheck; did you mean "interval"?`,
		},
		{
			name: "wrong type",
			file: lines("services:", "  api:", "    image: x", "    ports: 80"),
			want: "compose.yml:4: services.api.ports must be a array",
		},
		{
			name: "bad enum",
			file: lines("services:", "  api:", "    image: x", "    depends_on:", "      db:", "        condition: healthy", "  db:", "    image: y"),
			want: "compose.yml:6: services.api.depends_on.db.condition value must be one of 'service_started', 'service_healthy', 'service_completed_successfully'",
		},
		{
			name: "bad duration",
			file: lines("services:", "  api:", "    image: x", "    healthcheck:", "      test: [CMD, ok]", "      interval: often"),
			want: `compose.yml:6: services.api.healthcheck.interval: invalid duration "often"`,
		},
		{
			name: "undefined dependency",
			file: lines("services:", "  api:", "    image: x", "    depends_on: [db]"),
			want: `compose.yml:4: service "api" depends on undefined service "db"`,
		},
		{
			name: "no image nor build",
			file: lines("services:", "  db:", "    image: x", "  api:", "    command: serve"),
			want: `compose.yml:4: service "api" has neither an image nor a build context specified`,
		},
		{
			name: "dependency cycle",
			file: lines("services:", "  a:", "    image: x", "    depends_on: [b]", "  b:", "    image: x", "    depends_on: [a]"),
			want: "compose.yml:4: dependency cycle detected: a -> b -> a",
		},
		{
			name: "extends an unknown service",
			file: lines("services:", "  api:", "    image: x", "    extends: base"),
			want: `compose.yml:4: cannot extend service "api" in compose.yml: service "base" not found`,
		},
		{
			name: "non-string key",
			file: lines("services:", "  api:", "    image: x", "    environment:", "      1: one"),
			want: "compose.yml:4: non-string key in services.api.environment: 1",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stackDir(t, map[string]string{"compose.yml": tc.file})
			_, err := load(t, Options{})
			wantError(t, err, tc.want)
		})
	}
}

func TestLoadBadProjectName(t *testing.T) {
	stackDir(t, map[string]string{"compose.yml": lines("services:", "  api:", "    image: x")})
	_, err := load(t, Options{ProjectName: "My Shop"})
	wantError(t, err, `invalid project name "My Shop": must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number`)
}

func TestLoadBadDotEnv(t *testing.T) {
	stackDir(t, map[string]string{
		"compose.yml": lines("services:", "  api:", "    image: x"),
		".env":        "A=1\nB=\"unterminated\n",
	})
	_, err := load(t, Options{})
	wantError(t, err, `.env:3: unterminated quoted value "unterminated`)
}

// A file given by its absolute path is named so, even in the working
// directory.
func TestLoadErrorAbsoluteName(t *testing.T) {
	dir := stackDir(t, map[string]string{"compose.yml": lines("services:", "  api:", "    image: x", "    ports: 80")})
	file := dir + "/compose.yml"
	_, err := load(t, Options{Files: []string{file}})
	wantError(t, err, file+":4: services.api.ports must be a array")
}

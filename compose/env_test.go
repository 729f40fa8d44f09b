package compose

import (
	"os"
	"reflect"
	"testing"

	"github.com/tandem-dev/tandem"
)

// Which value a variable takes: tandem's Vars, then the shell, then .env,
// then the file's own default, as docker compose orders the last three.
func TestLoadVarsPrecedence(t *testing.T) {
	for _, tc := range []struct {
		name  string
		vars  tandem.Vars
		shell map[string]string
		env   string // .env
		want  string
	}{
		{name: "default", want: "fallback"},
		{name: "dotenv", env: "PREVIEW_HOST=from-dotenv\n", want: "from-dotenv"},
		{name: "shell over dotenv", shell: map[string]string{"PREVIEW_HOST": "from-shell"}, env: "PREVIEW_HOST=from-dotenv\n", want: "from-shell"},
		{
			name: "vars over shell and dotenv", vars: tandem.Vars{Host: "from-vars"},
			shell: map[string]string{"PREVIEW_HOST": "from-shell"}, env: "PREVIEW_HOST=from-dotenv\n", want: "from-vars",
		},
		{name: "vars over dotenv", vars: tandem.Vars{Host: "from-vars"}, env: "PREVIEW_HOST=from-dotenv\n", want: "from-vars"},
		{name: "empty var leaves dotenv", vars: tandem.Vars{Name: "local"}, env: "PREVIEW_HOST=from-dotenv\n", want: "from-dotenv"},
		{name: "secret", vars: tandem.Vars{Secrets: map[string]string{"PREVIEW_HOST": "from-secret"}}, want: "from-secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{"compose.yml": lines(
				"services:",
				"  api:",
				"    image: x",
				"    environment:",
				"      HOST: ${PREVIEW_HOST:-fallback}",
			)}
			if tc.env != "" {
				files[".env"] = tc.env
			}
			stackDir(t, files)
			unsetenv(t, "PREVIEW_HOST")
			for k, v := range tc.shell {
				t.Setenv(k, v)
			}
			st := mustLoad(t, Options{Vars: tc.vars})
			if got := st.Service("api").Environment["HOST"]; got != tc.want {
				t.Errorf("HOST = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLoadEnvironment(t *testing.T) {
	stackDir(t, map[string]string{
		"compose.yml": lines(
			"services:",
			"  api:",
			"    image: x",
			"    env_file: [common.env, {path: optional.env, required: false}]",
			"    environment:",
			"      - FROM_SHELL",
			"      - NOT_SET_ANYWHERE",
			"      - OVERRIDDEN=by environment",
			"      - EMPTY=",
			"      - SHA=${GIT_SHA}",
			"      - BRANCH=${GIT_BRANCH:-main}",
			"  web:",
			"    image: x",
			"    environment:",
			"      FROM_SHELL:",
			"      DOTENV: ${DOTENV_ONLY}",
		),
		"common.env": "OVERRIDDEN=by env_file\nFILE_ONLY=yes\nREF=${DOTENV_ONLY}\n",
		".env":       "DOTENV_ONLY=dot\n",
	})
	t.Setenv("FROM_SHELL", "shell")
	unsetenv(t, "NOT_SET_ANYWHERE")
	unsetenv(t, "GIT_SHA")
	unsetenv(t, "GIT_BRANCH")
	st := mustLoad(t, Options{Vars: tandem.Vars{GitSHA: "abc123"}})

	want := map[string]string{
		"FROM_SHELL": "shell",
		"OVERRIDDEN": "by environment",
		"EMPTY":      "",
		"SHA":        "abc123",
		"BRANCH":     "main",
		"FILE_ONLY":  "yes",
		"REF":        "dot",
	}
	if got := st.Service("api").Environment; !reflect.DeepEqual(got, want) {
		t.Errorf("api environment:\n got %v\nwant %v", got, want)
	}
	want = map[string]string{"FROM_SHELL": "shell", "DOTENV": "dot"}
	if got := st.Service("web").Environment; !reflect.DeepEqual(got, want) {
		t.Errorf("web environment:\n got %v\nwant %v", got, want)
	}
}

func TestLoadInterpolationErrors(t *testing.T) {
	stackDir(t, map[string]string{
		"compose.yml": lines(
			"services:",
			"  api:",
			"    image: x",
			"    environment:",
			"      KEY: ${SECRET_KEY:?set SECRET_KEY in .env}",
		),
	})
	unsetenv(t, "SECRET_KEY")
	_, err := load(t, Options{})
	wantError(t, err, "compose.yml:5: error while interpolating services.api.environment.KEY: required variable SECRET_KEY is missing a value: set SECRET_KEY in .env")

	// A tandem variable satisfies it.
	st := mustLoad(t, Options{Vars: tandem.Vars{Secrets: map[string]string{"SECRET_KEY": "s3cret"}}})
	if got := st.Service("api").Environment["KEY"]; got != "s3cret" {
		t.Errorf("KEY = %q", got)
	}
}

func TestLoadMissingEnvFile(t *testing.T) {
	stackDir(t, map[string]string{"compose.yml": lines(
		"services:",
		"  api:",
		"    image: x",
		"    env_file: missing.env",
	)})
	_, err := load(t, Options{})
	wantError(t, err, "compose.yml: env file missing.env not found: stat missing.env: no such file or directory")
}

// unsetenv removes k from the environment for the test.
func unsetenv(t *testing.T, k string) {
	t.Setenv(k, "") // restores the old value after the test
	if err := os.Unsetenv(k); err != nil {
		t.Fatal(err)
	}
}

package compose

import (
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
)

var appDockerfile = lines(
	"FROM python:3.12-slim",                 // 1
	"ARG VERSION=1",                         // 2
	"ENV PORT=8000 APP_VERSION=$VERSION \\", // 3
	"    PATH=/app/.venv/bin:$PATH",         // 4
	"WORKDIR /app",                          // 5
	"COPY . .",                              // 6
	"RUN pip install -r requirements.txt",   // 7
	"EXPOSE 8000",                           // 8
	`HEALTHCHECK --interval=5s --retries=7 CMD ["./health"]`, // 9
	"STOPSIGNAL SIGQUIT",     // 10
	`ENTRYPOINT ["python3"]`, // 11
	`CMD ["server.py"]`,      // 12
)

// A service with a build context and no command runs what its image
// would: the Dockerfile's ENTRYPOINT and CMD, its HEALTHCHECK merged under
// Compose's, its ENV under Compose's environment, its EXPOSE and
// STOPSIGNAL.
func TestDockerfileFillsTheService(t *testing.T) {
	stackDir(t, map[string]string{
		"compose.yml": lines(
			"services:",
			"  api:",
			"    build:",
			"      context: ./app",
			"      args: { VERSION: \"2\" }",
			"    expose: [\"9000\"]",
			"    environment:",
			"      PORT: \"9000\"",
			"    healthcheck:",
			"      interval: 2s", // the image's test, Compose's interval
		),
		"app/Dockerfile": appDockerfile,
	})
	api := mustLoad(t, Options{}).Service("api")
	if want := []string{"python3", "server.py"}; !reflect.DeepEqual(api.Argv(), want) {
		t.Errorf("argv %q, want %q", api.Argv(), want)
	}
	if want := map[string]string{"PORT": "9000", "APP_VERSION": "2"}; !reflect.DeepEqual(api.Environment, want) {
		t.Errorf("environment %v, want %v", api.Environment, want)
	}
	if want := []int{8000, 9000}; !reflect.DeepEqual(api.Ports, want) {
		t.Errorf("ports %v, want %v", api.Ports, want)
	}
	want := &tandem.Healthcheck{Test: []string{"CMD", "./health"}, Interval: 2 * time.Second, Timeout: tandem.DefaultHealthTimeout,
		StartInterval: tandem.DefaultHealthStartInterval, Retries: 7}
	if !reflect.DeepEqual(api.Healthcheck, want) {
		t.Errorf("healthcheck %+v, want %+v", api.Healthcheck, want)
	}
	if api.StopSignal != "SIGQUIT" || api.Dockerfile != filepath.Join("app", "Dockerfile") {
		t.Errorf("stop signal %q, Dockerfile %q", api.StopSignal, api.Dockerfile)
	}
	var got []string
	for _, p := range api.Unhonoured {
		got = append(got, p.String())
	}
	wantNotes := []string{
		"app/Dockerfile:3: warning: ENV PATH is the image's: the service runs with this machine's PATH",
		"app/Dockerfile:7: warning: RUN pip install -r requirements.txt is not run by the process runtime (it installs Python packages): install what it installs on this machine, or run it in x-tandem.build",
	}
	if !reflect.DeepEqual(got, wantNotes) {
		t.Errorf("unhonoured:\n got %q\nwant %q", got, wantNotes)
	}
}

// Compose's command, entrypoint or x-tandem.command wins, and the
// Dockerfile is not even read; a disabled healthcheck stays disabled.
func TestDockerfileNotRead(t *testing.T) {
	stackDir(t, map[string]string{
		"compose.yml": lines(
			"services:",
			"  command:",
			"    build: ./app",
			"    command: gunicorn app.wsgi",
			"  entrypoint:",
			"    build: ./app",
			"    entrypoint: [./run.sh]",
			"  tandem:",
			"    build: ./app",
			"    x-tandem: { command: ./serve }",
			"  disabled:",
			"    build: ./good",
			"    healthcheck: { disable: true }",
			"  nothing:",
			"    build: ./empty", // no Dockerfile: no command, which the runtime reports
		),
		"app/Dockerfile":  "FRM broken\n",
		"good/Dockerfile": appDockerfile,
		"empty/README":    "",
	})
	st := mustLoad(t, Options{})
	for name, argv := range map[string][]string{
		"command": {"gunicorn", "app.wsgi"}, "entrypoint": {"./run.sh"}, "tandem": {"./serve"},
		"disabled": {"python3", "server.py"}, "nothing": {},
	} {
		svc := st.Service(name)
		if !reflect.DeepEqual(svc.Argv(), argv) {
			t.Errorf("%s: argv %q, want %q", name, svc.Argv(), argv)
		}
		if read := svc.Dockerfile != ""; read != (name == "disabled") {
			t.Errorf("%s: Dockerfile %q", name, svc.Dockerfile)
		}
	}
	if hc := st.Service("disabled").Healthcheck; hc != nil {
		t.Errorf("disabled healthcheck: %+v", hc)
	}
}

func TestDockerfileNameTargetAndInline(t *testing.T) {
	stackDir(t, map[string]string{
		"compose.yml": lines(
			"services:",
			"  web:",
			"    build:",
			"      context: .",
			"      dockerfile: docker/web.Dockerfile",
			"      target: dev",
			"  inline:",
			"    build:",
			"      context: .",
			"      dockerfile_inline: |", // line 10: the Dockerfile's line 1 is 11
			"        FROM node:20",
			"        RUN npm ci",
			"        CMD npm run start",
		),
		"docker/web.Dockerfile": lines("FROM node:20 AS dev", `CMD ["npm", "run", "dev"]`, "FROM dev", `CMD ["npm", "start"]`),
	})
	st := mustLoad(t, Options{})
	if got := st.Service("web").Argv(); !reflect.DeepEqual(got, []string{"npm", "run", "dev"}) {
		t.Errorf("web: argv %q", got)
	}
	in := st.Service("inline")
	if got := in.Argv(); !reflect.DeepEqual(got, []string{"/bin/sh", "-c", "npm run start"}) {
		t.Errorf("inline: argv %q", got)
	}
	if in.Dockerfile != "dockerfile_inline" || len(in.Unhonoured) != 1 || in.Unhonoured[0].Pos != (tandem.Pos{File: "compose.yml", Line: 12}) {
		t.Errorf("inline: %q %+v", in.Dockerfile, in.Unhonoured)
	}
}

func TestDockerfileErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build string // the build block, under "    build:"
		files map[string]string
		want  string
	}{
		{"a parse error at its line", "./app", map[string]string{"app/Dockerfile": "FROM x\nFRM y\n"},
			`app/Dockerfile:2: service "api": unknown instruction: FRM (did you mean FROM?)`},
		{"an expansion error at its line", "./app", map[string]string{"app/Dockerfile": "FROM x\n\nUSER ${U:?set U}\n"},
			`app/Dockerfile:3: service "api": failed to process "${U:?set U}": U: set U`},
		{"an empty Dockerfile", "./app", map[string]string{"app/Dockerfile": "# nothing\n"},
			`app/Dockerfile:1: service "api": file with no instructions`},
		{"a named Dockerfile that is missing", "\n      context: .\n      dockerfile: docker/nope", nil,
			`compose.yml:5: service "api" has no command, and its Dockerfile docker/nope cannot be read: no such file or directory`},
		{"a Dockerfile outside the project", "\n      context: .\n      dockerfile: /etc/passwd", nil,
			`compose.yml:5: service "api" has no command, and its Dockerfile /etc/passwd cannot be read: it is outside the build context and the project directory`},
		{"a directory", "\n      context: .\n      dockerfile: app", map[string]string{"app/x": ""},
			`compose.yml:5: service "api" has no command, and its Dockerfile app cannot be read: not a regular file`},
		{"a missing target", "\n      context: ./app\n      target: prod", map[string]string{"app/Dockerfile": "FROM x AS dev\n"},
			`compose.yml:5: service "api": target stage "prod" could not be found in app/Dockerfile`},
		{"an inline error at its line", "\n      context: .\n      dockerfile_inline: |\n        FROM x\n        CMD [\"a\"]\n        HEALTHCHECK --retries=x CMD true\n", nil,
			`compose.yml:8: service "api": strconv.ParseInt: parsing "x": invalid syntax`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{"compose.yml": "services:\n  api:\n    build: " + strings.TrimPrefix(tc.build, " ") + "\n"}
			for k, v := range tc.files {
				files[k] = v
			}
			stackDir(t, files)
			_, err := load(t, Options{})
			wantError(t, err, tc.want)
		})
	}
}

// A FIFO named as the Dockerfile would block a reader forever.
func TestDockerfileFIFO(t *testing.T) {
	dir := stackDir(t, map[string]string{"compose.yml": lines("services:", "  api:", "    build:", "      context: .", "      dockerfile: pipe")})
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o600); err != nil {
		t.Skip(err)
	}
	_, err := load(t, Options{})
	wantError(t, err, `compose.yml:5: service "api" has no command, and its Dockerfile pipe cannot be read: not a regular file`)
}
